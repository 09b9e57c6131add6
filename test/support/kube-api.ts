// A Kubernetes API server stand-in for EndpointSlice discovery tests: HTTPS with a CA and server
// certificate made by `openssl` at test time, bearer tokens, list, and watch as chunked
// newline-delimited JSON with bookmarks and 410 Gone once the history is compacted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EndpointSlice } from '../../src/upstream/endpointslice.js';

export function opensslMissing(): string | false {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'openssl not installed (apt-get install openssl)';
  }
}

interface Event {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: EndpointSlice;
  rv: number;
}

export interface FakeKubeApi {
  url: string;
  caFile: string;
  tokenFile: string;
  lists: number;
  watches: number;
  tokensSeen: Set<string>;
  upsert(slice: EndpointSlice): void;
  remove(name: string): void;
  bookmark(): void;
  /** Forget history up to now: a watch from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** End open watch streams, with an ERROR 410 event first if `gone`. */
  endWatches(gone: boolean): void;
  /** A new token: written to the token file; the old one is refused from now on. */
  rotateToken(): string;
  stop(): Promise<void>;
}

export async function startFakeKubeApi(host: string, port: number, namespace: string, service: string): Promise<FakeKubeApi> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-api-'));
  const f = (n: string): string => join(dir, n);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=test-ca');
  ssl('req', ...ec, '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=kube-apiserver');
  writeFileSync(f('ext.cnf'), `subjectAltName=IP:${host}\n`);
  ssl('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('srv.crt'), '-days', '1', '-extfile', f('ext.cnf'));

  let token = `token-${Math.random().toString(36).slice(2)}`;
  writeFileSync(f('token'), token);
  let rv = 100;
  let compactedTo = 0;
  const slices = new Map<string, EndpointSlice>();
  const history: Event[] = [];
  const open = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`;

  const send = (res: ServerResponse, obj: unknown): void => void res.write(JSON.stringify(obj) + '\n');
  const server: Server = createServer({ key: readFileSync(f('srv.key')), cert: readFileSync(f('srv.crt')) }, (req, res) => {
    const u = new URL(req.url ?? '/', 'https://x');
    const auth = req.headers.authorization ?? '';
    api.tokensSeen.add(auth.replace(/^Bearer /, ''));
    if (auth !== `Bearer ${token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 401, message: 'Unauthorized' }));
      return;
    }
    if (u.pathname !== path || u.searchParams.get('labelSelector') !== `kubernetes.io/service-name=${service}`) {
      res.writeHead(404).end();
      return;
    }
    if (u.searchParams.get('watch') !== '1') {
      api.lists++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(rv) }, items: [...slices.values()] }));
      return;
    }
    api.watches++;
    const from = Number(u.searchParams.get('resourceVersion') ?? rv);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < compactedTo) {
      send(res, { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: `too old resource version: ${from} (${compactedTo})` } });
      res.end();
      return;
    }
    for (const e of history) if (e.rv > from) send(res, { type: e.type, object: e.object });
    open.add(res);
    res.on('close', () => open.delete(res));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => resolve());
  });

  const publish = (type: Event['type'], slice: EndpointSlice): void => {
    rv++;
    const object = { ...slice, metadata: { ...slice.metadata, resourceVersion: String(rv) } };
    history.push({ type, object, rv });
    for (const res of open) send(res, { type, object });
  };
  const api: FakeKubeApi = {
    url: `https://${host}:${port}`,
    caFile: f('ca.crt'),
    tokenFile: f('token'),
    lists: 0,
    watches: 0,
    tokensSeen: new Set(),
    upsert(slice) {
      const type = slices.has(slice.metadata.name) ? 'MODIFIED' : 'ADDED';
      slices.set(slice.metadata.name, slice);
      publish(type, slice);
    },
    remove(name) {
      const s = slices.get(name);
      if (!s) return;
      slices.delete(name);
      publish('DELETED', s);
    },
    bookmark() {
      rv++;
      for (const res of open) send(res, { type: 'BOOKMARK', object: { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', metadata: { resourceVersion: String(rv) } } });
    },
    compact() {
      compactedTo = rv;
      history.length = 0;
    },
    endWatches(gone) {
      for (const res of [...open]) {
        if (gone) send(res, { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } });
        open.delete(res);
        res.end();
      }
    },
    rotateToken() {
      token = `token-${Math.random().toString(36).slice(2)}`;
      writeFileSync(f('token'), token);
      return token;
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return api;
}

/** One EndpointSlice for `service` with the given endpoints on the "dns-tcp" port. */
export function slice(name: string, service: string, port: number, endpoints: { ip: string; ready?: boolean; terminating?: boolean }[]): EndpointSlice {
  return {
    metadata: { name, labels: { 'kubernetes.io/service-name': service } } as EndpointSlice['metadata'],
    addressType: 'IPv4',
    ports: [
      { name: 'dns', port, protocol: 'UDP' },
      { name: 'dns-tcp', port, protocol: 'TCP' },
    ],
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready ?? true, serving: e.ready ?? true, terminating: e.terminating ?? false } })),
  };
}
