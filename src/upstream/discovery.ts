// EndpointSlice discovery (opt-in, -endpointslices): list then watch the EndpointSlices of the
// upstream Service (label kubernetes.io/service-name) with in-cluster credentials, and report the
// ready CoreDNS pod addresses, so the agent talks to pods directly and IPVS/conntrack leave the
// agent→CoreDNS path. Terminating endpoints are left out (the forwarder drains them). The API
// unreachable: report null, meaning "use the Service IP" (the configured upstream).
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request } from 'undici';
import type { UpstreamAddress } from '../config/types.js';
import { DiscoveryError, WatchExpiredError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { readySet, type EndpointSlice } from './endpointslice.js';

export interface DiscoveryOptions {
  apiServer: string; // https://host:port
  namespace: string;
  service: string;
  tokenFile: string; // re-read on every request (projected tokens rotate)
  caFile: string;
  dnsPort: number; // used when the slice names no port `portName`
  portName: string; // "dns-tcp": the agent talks TCP to CoreDNS
  log: Logger;
  /** Ready addresses, or null: fall back to the Service IP. Called only on change. */
  onChange(ready: UpstreamAddress[] | null): void;
  retryMs?: number; // first back-off after an API error (doubles to 30 s)
  watchTimeoutSeconds?: number;
}

export class EndpointSliceDiscovery {
  private readonly slices = new Map<string, EndpointSlice>();
  private readonly http: HttpAgent;
  private readonly abort = new AbortController();
  private last = 'unset';
  private stopped = false;
  /** Lists made (tests watch re-lists after 410). */
  lists = 0;

  constructor(private readonly o: DiscoveryOptions) {
    this.http = new HttpAgent({ connect: { ca: readFileSync(o.caFile) }, headersTimeout: 10_000, bodyTimeout: 0 });
  }

  start(): void {
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    await this.http.close().catch(() => {});
  }

  private async run(): Promise<void> {
    let backoff = this.o.retryMs ?? 1_000;
    while (!this.stopped) {
      let rv: string;
      try {
        rv = await this.list();
        backoff = this.o.retryMs ?? 1_000;
      } catch (err) {
        if (this.stopped) return;
        this.o.log.warn('EndpointSlice list failed, using the Service IP', { service: this.o.service, err });
        this.emit(null);
        await sleep(backoff, this.abort.signal);
        backoff = Math.min(backoff * 2, 30_000);
        continue;
      }
      try {
        // Watch until the resourceVersion is too old (410); a stream the server ends is resumed,
        // after a pause if it ended at once (a proxy cutting it must not make us spin).
        for (;;) {
          const t0 = Date.now();
          rv = await this.watch(rv);
          if (Date.now() - t0 < 1_000) await sleep(this.o.retryMs ?? 1_000, this.abort.signal);
          if (this.stopped) return;
        }
      } catch (err) {
        if (this.stopped) return;
        if (!(err instanceof WatchExpiredError)) {
          this.o.log.warn('EndpointSlice watch failed, listing again', { service: this.o.service, err });
          await sleep(backoff, this.abort.signal);
        }
      }
    }
  }

  private url(params: Record<string, string>): string {
    const q = new URLSearchParams({ labelSelector: `kubernetes.io/service-name=${this.o.service}`, ...params });
    return `${this.o.apiServer}/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/endpointslices?${q}`;
  }

  private async get(url: string): Promise<Awaited<ReturnType<typeof request>>> {
    const token = readFileSync(this.o.tokenFile, 'utf8').trim();
    return request(url, { dispatcher: this.http, headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: this.abort.signal });
  }

  private async list(): Promise<string> {
    this.lists++;
    const res = await this.get(this.url({}));
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new DiscoveryError(`list ${this.o.service} EndpointSlices: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    }
    const body = (await res.body.json()) as { metadata?: { resourceVersion?: string }; items?: EndpointSlice[] };
    this.slices.clear();
    for (const s of body.items ?? []) this.slices.set(s.metadata.name, s);
    this.emit(this.ready());
    return body.metadata?.resourceVersion ?? '';
  }

  /** One watch request; returns the resourceVersion to resume from. */
  private async watch(rv: string): Promise<string> {
    const params: Record<string, string> = { watch: '1', allowWatchBookmarks: 'true', timeoutSeconds: String(this.o.watchTimeoutSeconds ?? 300) };
    if (rv) params.resourceVersion = rv;
    const res = await this.get(this.url(params));
    if (res.statusCode === 410) {
      await res.body.dump();
      throw new WatchExpiredError();
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new DiscoveryError(`watch ${this.o.service} EndpointSlices: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    }
    let buf = '';
    for await (const chunk of res.body) {
      buf += (chunk as Buffer).toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) rv = this.onEvent(JSON.parse(line) as WatchEvent, rv);
      }
    }
    return rv;
  }

  private onEvent(ev: WatchEvent, rv: string): string {
    if (ev.type === 'ERROR') {
      const status = ev.object as unknown as { code?: number; message?: string };
      if (status.code === 410) throw new WatchExpiredError();
      throw new DiscoveryError(`watch error: ${status.message ?? JSON.stringify(status)}`);
    }
    const slice = ev.object;
    const next = slice.metadata?.resourceVersion ?? rv;
    if (ev.type === 'BOOKMARK') return next;
    if (ev.type === 'DELETED') this.slices.delete(slice.metadata.name);
    else this.slices.set(slice.metadata.name, slice);
    this.emit(this.ready());
    return next;
  }

  private ready(): UpstreamAddress[] {
    return readySet([...this.slices.values()], this.o.portName, this.o.dnsPort);
  }

  private emit(ready: UpstreamAddress[] | null): void {
    const key = JSON.stringify(ready);
    if (key === this.last) return;
    this.last = key;
    this.o.log.info('upstream set from EndpointSlices', { service: this.o.service, ready: ready?.map((a) => `${a.host}:${a.port}`) ?? 'service IP' });
    this.o.onChange(ready);
  }
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: EndpointSlice;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
