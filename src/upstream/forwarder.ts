// `forward`: pick an upstream by policy, send over pipelined TCP (or UDP for "." when the client
// used UDP), and race tries inside the client's deadline: a try that fails is replaced at once,
// a try that goes silent gets a second one elsewhere while it keeps listening (first answer
// wins). Every upstream down or max_concurrent reached: fail at once, never queue.
import { performance } from 'node:perf_hooks';
import { randomInt } from 'node:crypto';
import type { ForwardConfig, UpstreamAddress } from '../config/types.js';
import { FLAG_TC } from '../dns/constants.js';
import { OverloadError, UpstreamError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { startAttempt, type AttemptHandle, type ForwardQuestion } from './attempt.js';
import { HealthProber } from './health.js';
import { PoolRegistry } from './pool-registry.js';
import { Upstream } from './upstream.js';

export type { ForwardQuestion } from './attempt.js';

/** Tries per client query (failed + silent ones); bounds work when every try fails fast. */
export const MAX_TRIES = 6;

export class Forwarder {
  /** Current upstreams; replaced (not mutated) when discovery changes the set. */
  upstreams: Upstream[];
  inflight = 0;
  maxConcurrentRejects = 0;
  healthcheckBroken = 0; // queries that found every upstream down
  /** Sees the name of every query asked of this forwarder (loop detection at start; else null); may throw to refuse it. */
  onForward: ((qname: Buffer) => void) | null = null;
  private rr = 0;
  /** Fail functions of the races in flight, so close/abort can end them at once. */
  private readonly races = new Set<(err: Error) => void>();
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
    return new Upstream(a.host, a.port, this.cfg, (up) => this.onDownChange(up), this.pools);
  }

  /** Resolve `q` upstream; `clientTcp` is the client's transport ("." keeps it, node-cache). */
  async forward(q: ForwardQuestion, clientTcp: boolean): Promise<Buffer> {
    const cfg = this.cfg;
    if (this.onForward !== null) this.onForward(q.qname);
    if (cfg.maxConcurrent > 0 && this.inflight >= cfg.maxConcurrent) {
      this.maxConcurrentRejects++;
      throw new OverloadError(`max_concurrent ${cfg.maxConcurrent} reached`);
    }
    this.inflight++;
    try {
      return await this.race(q, cfg.forceTcp || (clientTcp && !cfg.preferUdp));
    } finally {
      this.inflight--;
    }
  }

  private race(q: ForwardQuestion, useTcp: boolean): Promise<Buffer> {
    const cfg = this.cfg;
    const deadline = Date.now() + cfg.deadlineMs;
    return new Promise<Buffer>((resolve, reject) => {
      const live = new Set<AttemptHandle>();
      let finished = false;
      let tries = 0;
      // Built only when a try fails: an Error (with its stack) per forwarded query cost 10 % of the miss path.
      let lastErr: Error | null = null;
      const finish = (err: Error | null, res?: Buffer): void => {
        if (finished) return;
        finished = true;
        this.races.delete(abort);
        clearTimeout(deadlineTimer);
        for (const h of live) h.cancel();
        live.clear();
        if (err) reject(err);
        else resolve(res!);
      };
      const abort = (err: Error): void => finish(err);
      this.races.add(abort);
      const deadlineTimer = setTimeout(
        () => finish(new UpstreamError(`no answer within ${cfg.deadlineMs} ms: ${lastErr?.message ?? 'no upstream answered'}`, { cause: lastErr })),
        cfg.deadlineMs,
      );
      const launch = (avoid: Upstream | null, tcp: boolean): void => {
        if (finished) return;
        const left = deadline - Date.now();
        if (this.closed || left <= 0 || tries >= MAX_TRIES) {
          if (live.size === 0) finish(new UpstreamError(`gave up after ${tries} tries: ${lastErr?.message ?? 'no upstream tried'}`, { cause: lastErr }));
          return;
        }
        const up = this.pick(avoid);
        if (!up) {
          if (live.size === 0) {
            this.healthcheckBroken++;
            finish(new UpstreamError('every upstream is down'));
          }
          return;
        }
        tries++;
        up.counters.requests++;
        const t0 = performance.now();
        const h: AttemptHandle = startAttempt(up, q, tcp, Math.min(cfg.attemptTimeoutMs, left), {
          answer: (res) => {
            live.delete(h);
            up.success(res.length >= 4 ? res[3]! & 0x0f : 0, (performance.now() - t0) / 1000);
            // RFC 7766 §5: a truncated UDP answer is asked again over TCP on the same upstream.
            if (!tcp && res.length >= 4 && res[2]! & (FLAG_TC >> 8)) return launchOn(up);
            finish(null, res);
          },
          fail: (err) => {
            live.delete(h);
            lastErr = err;
            if (live.size === 0) launch(up, tcp);
          },
          silent: () => launch(up, tcp),
        });
        live.add(h);
      };
      const launchOn = (up: Upstream): void => {
        const t0 = performance.now();
        const h: AttemptHandle = startAttempt(up, q, true, Math.max(1, Math.min(cfg.attemptTimeoutMs, deadline - Date.now())), {
          answer: (res) => {
            up.success(res[3]! & 0x0f, (performance.now() - t0) / 1000);
            finish(null, res);
          },
          fail: (err) => {
            live.delete(h);
            lastErr = err;
            if (live.size === 0) launch(up, true);
          },
          silent: () => {},
        });
        live.add(h);
      };
      launch(null, useTcp);
    });
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

  /** Policy choice among healthy upstreams; when asking again, prefer a different one. */
  private pick(avoid: Upstream | null): Upstream | null {
    const healthy = this.upstreams.filter((u) => !u.down && !u.retiring);
    if (healthy.length === 0) return null;
    if (healthy.length === 1) return healthy[0]!;
    const others = avoid ? healthy.filter((u) => u !== avoid) : healthy;
    switch (this.cfg.policy) {
      case 'sequential':
        return others[0]!;
      case 'round_robin':
        return others[this.rr++ % others.length]!;
      default:
        return others[randomInt(0, others.length)]!;
    }
  }

  private onDownChange(up: Upstream): void {
    this.log.warn(up.down ? 'upstream marked down' : 'upstream back up', { zone: this.cfg.from, upstream: up.name, fails: up.fails });
    if (up.down) this.prober.watch(up);
  }

  get connections(): number {
    return this.upstreams.reduce((n, u) => n + u.connections, 0);
  }

  /** End every query in flight with `err` (shutdown, or a loop found at start). */
  abortAll(err: Error): void {
    for (const abort of [...this.races]) abort(err);
  }

  close(): void {
    this.closed = true;
    this.abortAll(new UpstreamError('forwarder closed'));
    this.prober.close();
    for (const u of this.upstreams) u.close();
    if (this.ownPools) this.pools.close();
  }
}
