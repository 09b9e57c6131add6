// Builds the serving pieces from an AgentConfig and owns their start / reload / stop order.
// Listeners are keyed by address:port and survive reloads that keep them; each block's cache
// survives a reload that keeps its zones and cache settings.
import { DEFAULT_MAX_PENDING, PendingBudget } from './server/pending-budget.js';
import { isDeepStrictEqual } from 'node:util';
import type { AgentRegistry } from './observe/exposition.js';
import type { AgentConfig, ServerBlockConfig, UdpIo } from './config/types.js';
import { HealthStats } from './observe/health-probe.js';
import { HttpEndpoint } from './observe/http.js';
import { createLogger, type Logger } from './observe/log.js';
import { createRegistry, type MetricsSource } from './observe/metrics.js';
import { ListenerStats, ZoneStats } from './observe/stats.js';
import { BlockRuntime } from './server/block.js';
import { QueryHandler } from './server/handler.js';
import { TcpListener } from './server/tcp.js';
import { createUdpListener, type UdpServer } from './server/udp.js';
import { nativeUdp } from './server/native.js';
import { MemoryTrimmer } from './server/memory-trim.js';
import { MemoryGuard } from './server/memory-guard.js';
import type { MemoryBudget } from './config/memory-limit.js';
import { MemoryPressureError } from './errors.js';
import { blockRoutes, ZoneTable, type Route } from './server/zone-table.js';
import type { Clock, DnsCache } from './cache/cache.js';
import type { Forwarder } from './upstream/forwarder.js';
import { detectLoop } from './upstream/loop.js';
import { PoolRegistry } from './upstream/pool-registry.js';
import type { TcpPool } from './upstream/pool.js';

export const SETUP_ERROR_TYPES = ['iptables', 'iptables_lock', 'interface_add', 'interface_check', 'configmap'];

interface Listener {
  server: string; // "dns://127.0.0.1:5353"
  host: string;
  port: number;
  handler: QueryHandler;
  udp: UdpServer;
  tcp: TcpListener;
}

export interface AgentOptions {
  log?: Logger;
  /** Extra HTTP address serving the same registry (node-cache's -metrics-listen-address). */
  metricsListenAddress?: { host: string; port: number } | null;
  /** The caches' clock (ms); tests inject one to move TTLs without sleeping. */
  clock?: Clock;
  /** UDP I/O (config/env.ts reads NODELOCALDNS_UDP_IO): `auto` (default: the batch addon when built, else node:dgram), `batch`, `dgram`. */
  udpIo?: UdpIo;
  /** Bound on queries pending upstream over every block (-max-pending); beyond it SERVFAIL at once. */
  maxPending?: number;
  /** Memory limit and budget (config/memory-limit.ts); none when absent. */
  memory?: MemoryBudget;
}

export class Agent implements MetricsSource {
  readonly log: Logger;
  readonly registry: AgentRegistry;
  readonly setupErrors: Record<string, number> = Object.fromEntries(SETUP_ERROR_TYPES.map((t) => [t, 0]));
  reloadFailed = 0;
  panics = 0;
  readonly healthStats = new HealthStats();
  config: AgentConfig | null = null;
  private blocks: BlockRuntime[] = [];
  private listeners = new Map<string, Listener>();
  private readonly stats = new Map<string, ZoneStats>();
  private readonly lstats = new Map<string, ListenerStats>();
  private http = new Map<string, HttpEndpoint>();
  /** TCP connections per upstream address, shared by every block and kept across reloads. */
  private readonly pools: PoolRegistry;
  /** Queries pending upstream, bounded over every block (server/pending-budget.ts). */
  readonly pending: PendingBudget;
  private state: 'new' | 'serving' | 'lameduck' | 'stopped' = 'new';

  private readonly udpIo: UdpIo;
  private readonly trimmer = new MemoryTrimmer();
  readonly memory: MemoryGuard;

  constructor(private readonly opts: AgentOptions = {}) {
    this.log = opts.log ?? createLogger();
    this.udpIo = opts.udpIo ?? 'auto';
    this.pools = new PoolRegistry(this.log);
    this.pending = new PendingBudget(opts.maxPending ?? DEFAULT_MAX_PENDING);
    const registry = createRegistry(this);
    this.registry = registry;
    this.memory = new MemoryGuard(opts.memory ?? { limit: 0, source: 'none', budget: 0, percent: 0 }, () => this.liveCaches(), this.pending, this.log, (n) => this.endPending(n));
    for (const f of this.memory.families()) registry.add(f);
  }

  /** Memory pressure: end up to `n` queries pending upstream, newest first, over the blocks. */
  private endPending(n: number): number {
    const err = new MemoryPressureError('ended early: the agent is over its memory budget');
    let ended = 0;
    for (const b of this.blocks) if (b.forwarder !== null && ended < n) ended += b.forwarder.shed(n - ended, err);
    return ended;
  }

  private liveCaches(): DnsCache[] {
    return [...new Set(this.blocks.flatMap((b) => (b.cache ? [b.cache] : [])))];
  }

  async start(config: AgentConfig): Promise<void> {
    await this.apply(config);
    // CoreDNS `loop`: a forwarding loop stops the agent before it reports serving.
    await detectLoop(this.blocks.filter((b) => b.config.loop && b.forwarder).map((b) => ({ zone: b.config.zones[0]!, forwarder: b.forwarder! })), this.log);
    this.state = 'serving';
    this.trimmer.start();
    this.memory.start();
    this.log.info('serving', { listeners: [...this.listeners.keys()], zones: config.servers.flatMap((s) => s.zones), udpIo: this.udpIoText() });
  }

  /** Which UDP I/O the listeners use, and why node:dgram when the batch addon was not loaded. */
  udpIoText(): string {
    const l = this.listeners.values().next().value;
    if (l === undefined) return this.udpIo;
    if (l.udp.io === 'batch') return 'batch (recvmmsg/sendmmsg)';
    return this.udpIo === 'dgram' ? 'dgram (NODELOCALDNS_UDP_IO=dgram)' : `dgram (batch addon: ${nativeUdp().why})`;
  }

  /** Swap in a new configuration without dropping in-flight queries. */
  async reload(config: AgentConfig): Promise<void> {
    await this.apply(config);
    this.log.info('configuration reloaded', { listeners: [...this.listeners.keys()] });
  }

  private async apply(config: AgentConfig): Promise<void> {
    const oldBlocks = this.blocks;
    const blocks = config.servers.map((cfg) => new BlockRuntime(cfg, this.log, this.reusableCache(cfg, oldBlocks), this.opts.clock, this.pools, this.pending));
    const wanted = new Map<string, Route[]>();
    for (const b of blocks) {
      for (const host of b.config.bind) {
        const id = listenerId(host, b.config.port);
        const routes = wanted.get(id) ?? [];
        for (const zone of b.config.zones) routes.push(...blockRoutes(b, zone, this.statsFor(`dns://${id}`, zone)));
        wanted.set(id, routes);
      }
    }
    const opened: Listener[] = [];
    try {
      for (const [id, routes] of wanted) {
        const existing = this.listeners.get(id);
        if (existing) continue;
        const [host, port] = splitId(id);
        const server = `dns://${id}`;
        const ls = this.lstats.get(server) ?? new ListenerStats(server);
        this.lstats.set(server, ls);
        const handler = new QueryHandler(new ZoneTable(routes), ls);
        const l: Listener = { server, host, port, handler, udp: createUdpListener(host, port, handler, this.udpIo), tcp: new TcpListener(host, port, handler, ls) };
        await l.udp.listen();
        opened.push(l);
        await l.tcp.listen();
      }
      await this.applyHttp(config);
    } catch (err) {
      for (const l of opened) await Promise.all([l.udp.close(), l.tcp.close()]);
      // Closing a block closes its forwarder (its pool references), never the cache it may share.
      for (const b of blocks) b.close();
      throw err;
    }
    for (const l of opened) this.listeners.set(listenerId(l.host, l.port), l);
    for (const [id, l] of this.listeners) {
      const routes = wanted.get(id);
      if (routes) l.handler.table = new ZoneTable(routes);
      else {
        this.listeners.delete(id);
        void Promise.all([l.udp.close(), l.tcp.close(5_000)]);
      }
    }
    this.blocks = blocks;
    this.config = config;
    // Old forwarders finish what they carry (the client deadline), then close. The new ones
    // already hold the pools they share with them, so those connections stay open.
    if (oldBlocks.length) setTimeout(() => oldBlocks.forEach((b) => b.close()), 6_000).unref();
  }

  /** A block keeps its cache across a reload when its zones and cache settings are unchanged. */
  private reusableCache(cfg: ServerBlockConfig, old: BlockRuntime[]): DnsCache | null | undefined {
    const prev = old.find((b) => isDeepStrictEqual(b.config.zones, cfg.zones) && isDeepStrictEqual(b.config.cache, cfg.cache));
    return prev ? prev.cache : undefined;
  }

  private statsFor(server: string, zone: string): ZoneStats {
    const key = `${server} ${zone}`;
    let s = this.stats.get(key);
    if (!s) this.stats.set(key, (s = new ZoneStats(server, zone)));
    return s;
  }

  private async applyHttp(config: AgentConfig): Promise<void> {
    const want = new Map<string, { host: string; port: number; metrics: boolean; health: boolean; ready: boolean }>();
    const addr = (host: string, port: number, kind: 'metrics' | 'health' | 'ready'): void => {
      const id = listenerId(host, port);
      const e = want.get(id) ?? { host, port, metrics: false, health: false, ready: false };
      e[kind] = true;
      want.set(id, e);
    };
    for (const s of config.servers) {
      if (s.prometheus) addr(s.prometheus.host, s.prometheus.port, 'metrics');
      if (s.health) addr(s.health.host, s.health.port, 'health');
      if (s.ready) addr(s.ready.host, s.ready.port, 'ready');
    }
    const extra = this.opts.metricsListenAddress;
    if (extra) addr(extra.host, extra.port, 'metrics');
    for (const [id, ep] of this.http) {
      if (!want.has(id)) {
        this.http.delete(id);
        await ep.close();
      }
    }
    for (const [id, w] of want) {
      if (this.http.has(id)) continue;
      const ep = new HttpEndpoint(w.host, w.port, {
        registry: w.metrics ? this.registry : undefined,
        health: w.health ? () => this.state === 'serving' || this.state === 'lameduck' : undefined,
        ready: w.ready ? () => this.readiness() : undefined,
        healthStats: this.healthStats,
        log: this.log,
      });
      await ep.listen();
      this.http.set(id, ep);
    }
  }

  /** /ready: listeners bound (state "serving") and, per zone, an upstream not marked down. */
  readiness(): { ok: boolean; reason: string } {
    if (this.state === 'new') return { ok: false, reason: 'starting: listeners not bound yet' };
    if (this.state === 'lameduck') return { ok: false, reason: 'shutting down (lameduck)' };
    if (this.state === 'stopped') return { ok: false, reason: 'stopped' };
    const unreachable = this.blocks.filter((b) => b.forwarder && b.forwarder.upstreams.every((u) => u.down));
    if (unreachable.length) return { ok: false, reason: `no reachable upstream for ${unreachable.flatMap((b) => b.config.zones).join(' ')}` };
    return { ok: true, reason: '' };
  }

  /** Lameduck: keep answering and report healthy, but tell /ready we are going away. */
  enterLameduck(): void {
    if (this.state === 'serving') this.state = 'lameduck';
  }

  get lameduckMs(): number {
    return Math.max(0, ...(this.config?.servers.map((s) => s.health?.lameduckMs ?? 0) ?? [0]));
  }

  /** Stop accepting, answer what is in flight (up to the 5 s client deadline), close everything. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.trimmer.stop();
    this.memory.stop();
    const ls = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(ls.map((l) => l.udp.close()));
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && this.blocks.some((b) => b.pendingKeys > 0)) await new Promise((r) => setTimeout(r, 20));
    await Promise.all(ls.map((l) => l.tcp.close(Math.max(0, deadline - Date.now()))));
    for (const b of this.blocks) b.close();
    this.pools.close();
    await Promise.all([...this.http.values()].map((h) => h.close()));
    this.http.clear();
    this.log.info('stopped');
  }

  // MetricsSource
  zoneStats(): ZoneStats[] {
    return [...this.stats.values()];
  }
  listenerStats(): ListenerStats[] {
    return [...this.lstats.values()];
  }
  caches(): { cache: DnsCache; servers: string[]; blockZones: string[]; zones: string }[] {
    return this.blocks
      .filter((b) => b.cache)
      .map((b) => ({ cache: b.cache!, servers: this.serversOf(b), blockZones: b.config.zones, zones: cacheZonesLabel(b.config) }));
  }
  forwarders(): { forwarder: Forwarder; servers: string[]; zones: string }[] {
    return this.blocks.filter((b) => b.forwarder).map((b) => ({ forwarder: b.forwarder!, servers: this.serversOf(b), zones: b.config.zones.join(',') }));
  }
  private serversOf(b: BlockRuntime): string[] {
    return b.config.bind.map((h) => `dns://${listenerId(h, b.config.port)}`);
  }
  upstreamPools(): TcpPool[] {
    return this.pools.all();
  }
  plugins(): { server: string; zone: string; name: string }[] {
    const out: { server: string; zone: string; name: string }[] = [];
    for (const b of this.blocks) {
      const names = ['errors', 'cache', 'forward', 'log', 'loop', 'reload', 'prometheus', 'health', 'ready'].filter((n) => {
        const c = b.config as unknown as Record<string, unknown>;
        const v = c[n];
        return v !== null && v !== false && !(typeof v === 'object' && v !== null && 'enabled' in v && !(v as { enabled: boolean }).enabled);
      });
      for (const h of b.config.bind) for (const zone of b.config.zones) for (const name of names) out.push({ server: `dns://${listenerId(h, b.config.port)}`, zone, name });
    }
    return out;
  }

  /** Addresses actually listening, for tests and logs. */
  get listening(): string[] {
    return [...this.listeners.keys()];
  }
}

/** CoreDNS's `zones` label of a cache: its ZONES, else the block's, joined by ",". */
function cacheZonesLabel(cfg: ServerBlockConfig): string {
  return (cfg.cache && cfg.cache.zones.length > 0 ? cfg.cache.zones : cfg.zones).join(',');
}

export function listenerId(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function splitId(id: string): [string, number] {
  const i = id.lastIndexOf(':');
  return [id.slice(0, i).replace(/^\[|\]$/g, ''), Number(id.slice(i + 1))];
}
