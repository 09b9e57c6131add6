// The agent's lifecycle: start, reload, lameduck, stop. It builds one BlockRuntime per server
// block, hands them to the listeners (listeners.ts) and the HTTP endpoints (http-endpoints.ts),
// and owns what outlives a reload: the TCP pools to each upstream, the pending bound, the
// counters. Each block's cache survives a reload that keeps its zones and cache settings.
import { isDeepStrictEqual } from 'node:util';
import type { Clock, DnsCache } from '../cache/cache.js';
import { cacheMetrics } from '../cache/metrics.js';
import type { MemoryBudget } from '../config/memory-limit.js';
import { MemoryPressureError } from '../errors.js';
import { joinHostPort } from '../config/flags.js';
import type { AgentConfig, ServerBlockConfig, UdpIo } from '../config/types.js';
import type { AgentRegistry } from '../observe/exposition.js';
import { createLogger, type Logger } from '../observe/log.js';
import { createRegistry, observeMetrics } from '../observe/registry.js';
import { HealthStats } from '../observe/self-probe.js';
import { BlockRuntime } from '../resolve/block.js';
import { listenerMetrics, zoneMetrics } from '../resolve/metrics.js';
import { DEFAULT_MAX_PENDING, PendingBudget } from '../resolve/pending-budget.js';
import type { ListenerStats, ZoneStats } from '../resolve/stats.js';
import type { Forwarder } from '../upstream/forwarder.js';
import { detectLoop } from '../upstream/loop.js';
import { upstreamMetrics } from '../upstream/metrics.js';
import { PoolRegistry } from '../upstream/pool-registry.js';
import { queryTimers } from '../upstream/timer-wheel.js';
import { nativeUdp, nativeWakeTimer } from '../listen/native.js';
import type { TcpPool } from '../upstream/pool.js';
import { HttpEndpoints } from './http-endpoints.js';
import { ListenerSet } from './listeners.js';
import { MemoryGuard } from './memory-guard.js';
import { MemoryTrimmer } from './memory-trim.js';
import { agentMetrics, enabledPlugins, SETUP_ERROR_TYPES } from './metrics.js';

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

/** Client deadline: what a stop or a replaced block waits for the queries it carries. */
const DRAIN_MS = 5_000;

export class Agent {
  readonly log: Logger;
  readonly registry: AgentRegistry;
  readonly setupErrors: Record<string, number> = Object.fromEntries(SETUP_ERROR_TYPES.map((t) => [t, 0]));
  reloadFailed = 0;
  panics = 0;
  readonly healthStats = new HealthStats();
  config: AgentConfig | null = null;
  /** Queries pending upstream, bounded over every block (resolve/pending-budget.ts). */
  readonly pending: PendingBudget;
  private blocks: BlockRuntime[] = [];
  private readonly listeners: ListenerSet;
  private readonly http: HttpEndpoints;
  /** TCP connections per upstream address, shared by every block and kept across reloads. */
  private readonly pools: PoolRegistry;
  private state: 'new' | 'serving' | 'lameduck' | 'stopped' = 'new';
  private readonly trimmer = new MemoryTrimmer();
  readonly memory: MemoryGuard;

  constructor(private readonly opts: AgentOptions = {}) {
    wakeWheelNatively();
    this.log = opts.log ?? createLogger();
    this.listeners = new ListenerSet(opts.udpIo ?? 'auto');
    this.pools = new PoolRegistry(this.log);
    this.pending = new PendingBudget(opts.maxPending ?? DEFAULT_MAX_PENDING);
    this.memory = new MemoryGuard(opts.memory ?? { limit: 0, source: 'none', budget: 0, percent: 0 }, () => this.liveCaches(), this.pending, this.log, (n) => this.endPending(n));
    this.registry = createRegistry([
      ...zoneMetrics(this),
      ...observeMetrics(this.healthStats),
      ...agentMetrics(this),
      ...cacheMetrics({ caches: () => this.caches(), cacheRequestStats: () => this.zoneStats() }),
      ...upstreamMetrics(this),
      ...listenerMetrics(this),
      ...this.memory.families(),
    ]);
    this.http = new HttpEndpoints(
      {
        registry: this.registry,
        healthy: () => this.state === 'serving' || this.state === 'lameduck',
        readiness: () => this.readiness(),
        healthStats: this.healthStats,
        log: this.log,
      },
      opts.metricsListenAddress ?? null,
    );
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
    this.log.info('serving', { listeners: this.listening, zones: config.servers.flatMap((s) => s.zones), udpIo: this.udpIoText() });
  }

  /** Which UDP I/O the listeners use, and why node:dgram when the batch addon was not loaded. */
  udpIoText(): string {
    return this.listeners.udpIoText();
  }

  /** Swap in a new configuration without dropping in-flight queries. */
  async reload(config: AgentConfig): Promise<void> {
    await this.apply(config);
    this.log.info('configuration reloaded', { listeners: this.listening });
  }

  private async apply(config: AgentConfig): Promise<void> {
    const oldBlocks = this.blocks;
    const blocks = config.servers.map((cfg) => new BlockRuntime(cfg, this.log, this.reusableCache(cfg, oldBlocks), this.opts.clock, this.pools, this.pending));
    let change;
    try {
      change = await this.listeners.open(blocks);
      try {
        await this.http.apply(config);
      } catch (err) {
        await this.listeners.rollback(change);
        throw err;
      }
    } catch (err) {
      // Closing a block closes its forwarder (its pool references), never the cache it may share.
      for (const b of blocks) b.close();
      throw err;
    }
    this.listeners.commit(change);
    this.blocks = blocks;
    this.config = config;
    // Old forwarders finish what they carry (the client deadline), then close. The new ones
    // already hold the pools they share with them, so those connections stay open.
    if (oldBlocks.length) setTimeout(() => oldBlocks.forEach((b) => b.close()), DRAIN_MS + 1_000).unref();
  }

  /** A block keeps its cache across a reload when its zones and cache settings are unchanged. */
  private reusableCache(cfg: ServerBlockConfig, old: BlockRuntime[]): DnsCache | null | undefined {
    const prev = old.find((b) => isDeepStrictEqual(b.config.zones, cfg.zones) && isDeepStrictEqual(b.config.cache, cfg.cache));
    return prev ? prev.cache : undefined;
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
    const deadline = Date.now() + DRAIN_MS;
    await this.listeners.close(async () => {
      while (Date.now() < deadline && this.blocks.some((b) => b.pendingKeys > 0)) await new Promise((r) => setTimeout(r, 20));
    }, deadline);
    for (const b of this.blocks) b.close();
    this.pools.close();
    await this.http.close();
    this.log.info('stopped');
  }

  /** Every (listener, zone) counter set, kept across reloads. */
  zoneStats(): ZoneStats[] {
    return this.listeners.zoneStats();
  }
  listenerStats(): ListenerStats[] {
    return this.listeners.listenerStats();
  }
  /** Each cache with the server labels it serves, its block's zones and its `zones` label. */
  caches(): { cache: DnsCache; servers: string[]; blockZones: string[]; zones: string }[] {
    return this.blocks
      .filter((b) => b.cache)
      .map((b) => ({ cache: b.cache!, servers: serversOf(b), blockZones: b.config.zones, zones: cacheZonesLabel(b.config) }));
  }
  forwarders(): { forwarder: Forwarder; servers: string[]; zones: string }[] {
    return this.blocks.filter((b) => b.forwarder).map((b) => ({ forwarder: b.forwarder!, servers: serversOf(b), zones: b.config.zones.join(',') }));
  }
  upstreamPools(): TcpPool[] {
    return this.pools.all();
  }
  plugins(): { server: string; zone: string; name: string }[] {
    return this.blocks.flatMap((b) => enabledPlugins(b.config, serversOf(b)));
  }

  /** Addresses actually listening, for tests and logs. */
  get listening(): string[] {
    return this.listeners.ids;
  }
}

function serversOf(b: BlockRuntime): string[] {
  return b.config.bind.map((h) => `dns://${joinHostPort(h, b.config.port)}`);
}

/** CoreDNS's `zones` label of a cache: its ZONES, else the block's, joined by ",". */
function cacheZonesLabel(cfg: ServerBlockConfig): string {
  return (cfg.cache && cfg.cache.zones.length > 0 ? cfg.cache.zones : cfg.zones).join(',');
}

let wheelWaker = false;
/**
 * The miss path's timer wheel wakes through the batch addon's timer where it is built: a cleared
 * unreferenced Node timer still wakes the loop when it was due, once per miss answered before its
 * hedge delay.
 */
function wakeWheelNatively(): void {
  const { mod } = nativeUdp();
  if (wheelWaker || mod === null) return;
  wheelWaker = true;
  queryTimers.useWaker((onWake) => nativeWakeTimer(mod, onWake));
}
