// One upstream address as one forwarder sees it: its health (consecutive failures, probes while
// down) and its counters. Its TCP connections live in a TcpPool shared with every other forwarder
// sending to the same address (pool.ts); the pool reports connection-level failures here.
import type { ForwardConfig } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import type { PoolListener, TcpPool } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';
import { SILENT_MS } from './pool.js';
import { ProxyDurations } from './proxy-stats.js';
import type { Exchange, TcpConnection } from './tcp-connection.js';

export interface UpstreamCounters {
  requests: number;
  failures: number; // failures counted towards max_fails
  mismatches: number; // UDP answers matching no query (TCP ones are counted by the pool)
  healthcheckFailures: number;
}

export class Upstream implements PoolListener {
  readonly name: string;
  fails = 0;
  down = false;
  /** No longer a ready endpoint: takes no new queries; removed once its connections drain. */
  retiring = false;
  /** Last time any query to this upstream was answered (any connection, or UDP). */
  lastAnswerAt = 0;
  private lastSilenceAt = 0;
  readonly durations = new ProxyDurations();
  readonly counters: UpstreamCounters = { requests: 0, failures: 0, mismatches: 0, healthcheckFailures: 0 };
  /** The shared connections to this address. */
  readonly pool: TcpPool;
  private released = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly cfg: ForwardConfig,
    private readonly onDownChange: (up: Upstream) => void,
    private readonly pools: PoolRegistry,
  ) {
    this.name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.pool = pools.acquire(host, port, cfg);
    this.pool.subscribe(this);
  }

  /** Send on the shared pool (see TcpPool.sendTcp for the choice of connection). */
  sendTcp(ex: Exchange): TcpConnection {
    if (this.released) throw new UpstreamError(`${this.name}: forwarder closed`);
    return this.pool.sendTcp(ex);
  }

  onMismatch(): void {
    this.counters.mismatches++;
  }

  success(rcode: number, seconds: number): void {
    this.lastAnswerAt = Date.now();
    this.durations.observe(rcode, seconds);
    this.up();
  }

  /** Any reply (probe or query) proves the upstream is alive. */
  up(): void {
    this.fails = 0;
    if (this.down) {
      this.down = false;
      this.onDownChange(this);
    }
  }

  failure(): void {
    if (this.down) return; // while down only probes judge it (healthcheckFailures)
    this.counters.failures++;
    this.fails++;
    if (!this.down && this.cfg.maxFails > 0 && this.fails >= this.cfg.maxFails) {
      this.down = true;
      this.onDownChange(this);
    }
  }

  /** A pooled connection was reset or closed by the peer under queries. */
  connectionLost(): void {
    this.failure();
  }

  /**
   * A query sent at `sentAt` is still unanswered after SILENT_MS. It counts against the upstream
   * only if nothing from the upstream was answered since (a slow answer elsewhere proves life),
   * and at most once per SILENT_MS, so one burst of slow queries is one failure, not many.
   */
  silence(sentAt: number, now: number): void {
    if (this.lastAnswerAt >= sentAt || now - this.lastSilenceAt < SILENT_MS) return;
    this.lastSilenceAt = now;
    this.failure();
  }

  /**
   * Stop taking queries. The pool is released: if no other forwarder uses it, its in-flight
   * queries finish on their connections, which then close, and `onGone` is called.
   */
  retire(onGone: () => void): void {
    if (this.released) return;
    this.retiring = true;
    this.release(true, onGone);
  }

  /**
   * Connections this upstream still waits on: the pool's, unless it has released a pool that
   * other forwarders keep (those connections are theirs now).
   */
  get connections(): number {
    return this.released && this.pool.refs > 0 ? 0 : this.pool.connections;
  }

  close(): void {
    this.release(false, null);
  }

  private release(drain: boolean, onGone: (() => void) | null): void {
    if (this.released) return;
    this.released = true;
    this.pool.unsubscribe(this);
    this.pools.release(this.pool, drain, onGone);
  }
}
