// One TcpPool per upstream address (and pool settings) for the whole agent, reference counted by
// the Upstreams that use it, swept together. A reload builds its new forwarders before the
// old ones close, so the new ones acquire the pools the old ones still hold: connections survive.
import type { Logger } from '../observe/log.js';
import { Paced } from '../observe/second-tick.js';
import { IDLE_SWEEP_MS, SWEEP_MS, TcpPool, type PoolSettings } from './pool.js';

interface Orphan {
  pool: TcpPool;
  /** Called once the last connection has closed. */
  onGone: (() => void) | null;
}

export class PoolRegistry {
  private readonly pools = new Map<string, TcpPool>();
  private readonly keys = new Map<TcpPool, string>();
  /** Released by every user but still draining in-flight queries. */
  private readonly orphans: Orphan[] = [];
  /** SWEEP_MS while a query is in flight or a connection drains, else IDLE_SWEEP_MS on the agent's shared second tick. */
  private readonly pace = new Paced(() => this.sweep(Date.now()), SWEEP_MS);
  private readonly quicken = (): void => this.arm(SWEEP_MS);

  constructor(private readonly log: Logger) {}

  /** The shared pool for `host:port` with `cfg`'s pool settings; one more reference to it. */
  acquire(host: string, port: number, cfg: PoolSettings): TcpPool {
    const key = `${host}|${port}|${cfg.expireMs}|${cfg.maxConnsPerUpstream}|${cfg.maxInflightPerConn}|${cfg.attemptTimeoutMs}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new TcpPool(host, port, { expireMs: cfg.expireMs, maxConnsPerUpstream: cfg.maxConnsPerUpstream, maxInflightPerConn: cfg.maxInflightPerConn, attemptTimeoutMs: cfg.attemptTimeoutMs }, this.log);
      this.pools.set(key, pool);
      this.keys.set(pool, key);
    }
    pool.refs++;
    this.arm(SWEEP_MS);
    return pool;
  }

  /**
   * Drop one reference. The last one closes the pool now, or with `drain` lets its in-flight
   * queries finish first (a terminating endpoint) and then calls `onGone`.
   */
  release(pool: TcpPool, drain: boolean, onGone: (() => void) | null = null): void {
    if (pool.refs <= 0) return;
    pool.refs--;
    if (pool.refs > 0) return;
    this.pools.delete(this.keys.get(pool)!);
    this.keys.delete(pool);
    if (drain && pool.connections > 0) {
      pool.drain();
      this.orphans.push({ pool, onGone });
      return;
    }
    pool.close();
    this.disarmIfIdle();
  }

  /** Pools in use or draining, each once (metrics). */
  all(): TcpPool[] {
    return [...this.pools.values(), ...this.orphans.map((o) => o.pool)];
  }

  sweep(now: number): void {
    for (const p of this.pools.values()) p.sweep(now);
    for (let i = this.orphans.length - 1; i >= 0; i--) {
      const o = this.orphans[i]!;
      o.pool.sweep(now);
      if (o.pool.connections > 0) continue;
      this.orphans.splice(i, 1);
      o.onGone?.();
    }
    this.disarmIfIdle();
    if (this.pace.ms !== 0) this.arm(this.all().some((p) => p.busy) ? SWEEP_MS : IDLE_SWEEP_MS);
  }

  /** The sweep's period now, 0 when it is not running (tests). */
  get sweepMs(): number {
    return this.pace.ms;
  }

  close(): void {
    for (const p of this.all()) p.close();
    this.pools.clear();
    this.keys.clear();
    this.orphans.length = 0;
    this.disarmIfIdle();
  }

  private arm(ms: number): void {
    if (this.pace.ms === ms) return;
    if (ms === SWEEP_MS) this.pace.quick();
    else this.pace.slow();
    // At the idle pace a query that opens a connection anywhere brings the quick one back.
    const onBusy = ms === SWEEP_MS ? null : this.quicken;
    for (const p of this.all()) p.onBusy = onBusy;
  }

  private disarmIfIdle(): void {
    if (this.pace.ms === 0 || this.pools.size > 0 || this.orphans.length > 0) return;
    this.pace.stop();
  }
}
