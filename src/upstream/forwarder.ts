// `forward`: pick an upstream by policy, send over pipelined TCP (or UDP for "." when the client
// used UDP), and race tries inside the client's deadline (race.ts: hedges, retries with backoff,
// upstreams marked down tried anyway when no other is left). max_concurrent reached: REFUSED at
// once, never queue.
import { randomInt } from 'node:crypto';
import type { ForwardConfig, UpstreamAddress } from '../config/types.js';
import { OverloadError, UpstreamError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { ForwardQuestion } from './attempt.js';
import { Race, RaceList, type ForwardDone, type RaceHost } from './race.js';
import { HealthProber } from './health-check.js';
import { PoolRegistry } from './pool-registry.js';
import { Upstream } from './upstream.js';

export class Forwarder implements RaceHost {
  /** Current upstreams; replaced (not mutated) when discovery changes the set. */
  upstreams: Upstream[];
  inflight = 0;
  maxConcurrentRejects = 0;
  healthcheckBroken = 0; // queries that found every upstream down (and tried one anyway)
  /** Set by `choose`: every upstream was down for the transport asked. */
  allDown = false;
  /** Sees the name of every query asked of this forwarder (loop detection at start; else null); may throw to refuse it. */
  onForward: ((qname: Buffer) => void) | null = null;
  private rr = 0;
  /** The races in flight, so close/abort can end them at once. */
  readonly races = new RaceList();
  private readonly prober: HealthProber;
  private readonly pools: PoolRegistry;
  /** A forwarder built without the agent's registry owns (and closes) its own. */
  private readonly ownPools: boolean;
  private closed = false;

  /** `pools`: the agent's shared TCP pools; without it the forwarder keeps its own. */
  constructor(
    readonly cfg: ForwardConfig,
    private readonly log: Logger,
    pools?: PoolRegistry,
  ) {
    this.ownPools = !pools;
    this.pools = pools ?? new PoolRegistry(log);
    this.upstreams = cfg.to.map((a) => this.newUpstream(a));
    this.prober = new HealthProber(cfg, log);
  }

  private newUpstream(a: UpstreamAddress): Upstream {
    return new Upstream(a.host, a.port, this.cfg, (up, tcp) => this.onDownChange(up, tcp), this.pools);
  }

  /** Resolve `q` upstream; `clientTcp` is the client's transport ("." keeps it, node-cache). */
  forward(q: ForwardQuestion, clientTcp: boolean): Promise<Buffer> {
    // A copy: a TCP answer is a view into a read buffer that the next read overwrites.
    return new Promise<Buffer>((resolve, reject) => this.forwardTo(q, clientTcp, { answer: (res) => resolve(Buffer.from(res)), fail: reject }));
  }

  /** `forward` for the miss path: the outcome goes to `done` (in a later microtask at the earliest), no Promise. */
  forwardTo(q: ForwardQuestion, clientTcp: boolean, done: ForwardDone): void {
    const cfg = this.cfg;
    try {
      if (this.onForward !== null) this.onForward(q.qname);
    } catch (err) {
      queueMicrotask(() => done.fail(err as Error));
      return;
    }
    if (cfg.maxConcurrent > 0 && this.inflight >= cfg.maxConcurrent) {
      this.maxConcurrentRejects++;
      const err = new OverloadError(`max_concurrent ${cfg.maxConcurrent} reached`);
      queueMicrotask(() => done.fail(err));
      return;
    }
    new Race(this, q, cfg.forceTcp || (clientTcp && !cfg.preferUdp), done);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Replace the upstream set (EndpointSlice discovery); null = the configured `to` again.
   * Kept addresses keep their connections and health; dropped ones drain (in-flight queries
   * finish, no new ones) and disappear once their connections are closed.
   */
  setUpstreams(to: UpstreamAddress[] | null): void {
    const want = to && to.length > 0 ? to : this.cfg.to;
    const key = (a: { host: string; port: number }): string => `${a.host}|${a.port}`;
    const wanted = new Set(want.map(key));
    const next: Upstream[] = [];
    for (const a of want) {
      const live = this.upstreams.find((u) => !u.retiring && key(u) === key(a));
      next.push(live ?? this.newUpstream(a));
    }
    for (const u of this.upstreams) {
      if (next.includes(u)) continue;
      if (!wanted.has(key(u))) u.retire(() => (this.upstreams = this.upstreams.filter((x) => x !== u)));
      if (u.connections > 0) next.push(u);
    }
    this.upstreams = next;
  }

  /** The addresses taking new queries. */
  get activeAddresses(): UpstreamAddress[] {
    return this.upstreams.filter((u) => !u.retiring).map((u) => ({ host: u.host, port: u.port }));
  }

  get activeCount(): number {
    let n = 0;
    for (const u of this.upstreams) if (!u.retiring) n++;
    return n;
  }

  /**
   * Policy choice among upstreams healthy over `tcp`; when asking again, prefer one other than
   * `avoid`. Every one down: choose among them anyway (CoreDNS forward: "try anyway"), since a
   * mark from a few failed tries must not turn the seconds it takes a probe to clear it into
   * SERVFAIL for every client. Null only when no upstream takes queries at all.
   */
  choose(avoid: Upstream | null, tcp: boolean): Upstream | null {
    // One usable upstream (the common node-cache setup): no arrays built per query.
    let only: Upstream | null = null;
    let usable = 0;
    let active = 0;
    let anyActive: Upstream | null = null;
    for (const u of this.upstreams) {
      if (u.retiring) continue;
      active++;
      anyActive = u;
      if (u.health(tcp).down) continue;
      only = u;
      if (++usable > 1) break;
    }
    this.allDown = usable === 0 && active > 0;
    if (usable === 1) return only;
    if (active <= 1) return anyActive;
    const pool = this.upstreams.filter((u) => !u.retiring && (this.allDown || !u.health(tcp).down));
    const others = avoid ? pool.filter((u) => u !== avoid) : pool;
    const from = others.length > 0 ? others : pool;
    switch (this.cfg.policy) {
      case 'sequential':
        return from[0]!;
      case 'round_robin':
        return from[this.rr++ % from.length]!;
      default:
        return from[randomInt(0, from.length)]!;
    }
  }

  private onDownChange(up: Upstream, tcp: boolean): void {
    const h = up.health(tcp);
    this.log.warn(h.down ? 'upstream marked down' : 'upstream back up', { upstream: up.name, proto: tcp ? 'tcp' : 'udp', fails: h.fails });
    if (h.down) this.prober.watch(up, tcp);
  }

  get connections(): number {
    return this.upstreams.reduce((n, u) => n + u.connections, 0);
  }

  /** End the `n` newest queries in flight with `err` (memory pressure); returns how many ended. */
  shed(n: number, err: Error): number {
    return this.races.abortNewest(n, err);
  }

  /** End every query in flight with `err` (shutdown, or a loop found at start). */
  abortAll(err: Error): void {
    this.races.abortAll(err);
  }

  close(): void {
    this.closed = true;
    this.abortAll(new UpstreamError('forwarder closed'));
    this.prober.close();
    for (const u of this.upstreams) u.close();
    if (this.ownPools) this.pools.close();
  }
}
