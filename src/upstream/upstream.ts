// One upstream address as one forwarder sees it: its health per transport (consecutive failures,
// probes while down), its round-trip estimate and its counters. Its TCP connections live in a
// TcpPool shared with every other forwarder sending to the same address (pool.ts); the pool
// reports connection-level failures here. Health is per transport because a resolver that
// answers UDP and refuses TCP (a home router, systemd-resolved on some setups) is not down: one
// failed TCP query used to mark it down and turn the next half second of UDP queries to SERVFAIL.
import type { ForwardConfig } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import type { PoolListener, TcpPool } from './pool.js';
import type { PoolRegistry } from './pool-registry.js';
import { SILENT_MS } from './pool.js';
import { ProxyDurations } from './proxy-stats.js';
import { RttEstimator } from './rtt.js';
import type { Exchange, TcpConnection } from './tcp-connection.js';
import { joinHostPort } from '../config/flags.js';

export interface UpstreamCounters {
  requests: number;
  failures: number; // failures counted towards max_fails
  mismatches: number; // UDP answers matching no query (TCP ones are counted by the pool)
  healthcheckFailures: number;
  hedges: number; // copies sent here because an earlier try went unanswered past the hedge delay
}

/** Health of one transport (TCP or UDP) toward the address. */
export class TransportHealth {
  fails = 0;
  down = false;
  lastSilenceAt = 0;
}

export class Upstream implements PoolListener {
  readonly name: string;
  readonly tcpHealth = new TransportHealth();
  readonly udpHealth = new TransportHealth();
  /** No longer a ready endpoint: takes no new queries; removed once its connections drain. */
  retiring = false;
  /** Last time any query to this upstream was answered (any connection, or UDP). */
  lastAnswerAt = 0;
  readonly rtt = new RttEstimator();
  readonly durations = new ProxyDurations();
  readonly counters: UpstreamCounters = { requests: 0, failures: 0, mismatches: 0, healthcheckFailures: 0, hedges: 0 };
  /** The shared connections to this address. */
  readonly pool: TcpPool;
  private released = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly cfg: ForwardConfig,
    private readonly onDownChange: (up: Upstream, tcp: boolean) => void,
    private readonly pools: PoolRegistry,
  ) {
    this.name = joinHostPort(host, port);
    this.pool = pools.acquire(host, port, cfg);
    this.pool.subscribe(this);
  }

  /** Send on the shared pool (see TcpPool.sendTcp for the choice of connection). */
  sendTcp(ex: Exchange, avoid: readonly TcpConnection[] | null = null): TcpConnection {
    if (this.released) throw new UpstreamError(`${this.name}: forwarder closed`);
    return this.pool.sendTcp(ex, avoid);
  }

  onMismatch(): void {
    this.counters.mismatches++;
  }

  /**
   * Down over the transport most of this forwarder's queries use (TCP with force_tcp, else UDP):
   * what `nodelocaldns_upstream_down` and /ready report. A resolver refusing only TCP still
   * serves a UDP block, and its TCP mark shows in the log and the failure counter.
   */
  get down(): boolean {
    return this.cfg.forceTcp ? this.tcpHealth.down : this.udpHealth.down;
  }

  health(tcp: boolean): TransportHealth {
    return tcp ? this.tcpHealth : this.udpHealth;
  }

  success(rcode: number, seconds: number, tcp: boolean): void {
    this.lastAnswerAt = Date.now();
    this.durations.observe(rcode, seconds);
    this.rtt.observe(seconds * 1000);
    this.up(tcp);
  }

  /** Any reply (probe or query) over `tcp`/UDP proves that transport alive. */
  up(tcp: boolean): void {
    const h = this.health(tcp);
    h.fails = 0;
    if (h.down) {
      h.down = false;
      this.onDownChange(this, tcp);
    }
  }

  failure(tcp: boolean): void {
    const h = this.health(tcp);
    if (h.down) return; // while down only probes judge it (healthcheckFailures)
    this.counters.failures++;
    h.fails++;
    if (this.cfg.maxFails > 0 && h.fails >= this.cfg.maxFails) {
      h.down = true;
      this.onDownChange(this, tcp);
    }
  }

  /** A pooled connection was reset or closed by the peer under queries. */
  connectionLost(): void {
    this.failure(true);
  }

  /**
   * A query sent at `sentAt` is still unanswered after SILENT_MS. It counts against the upstream
   * only if nothing from the upstream was answered since (a slow answer elsewhere proves life),
   * and at most once per SILENT_MS per transport, so one burst of slow queries is one failure.
   */
  silence(sentAt: number, now: number, tcp = true): void {
    const h = this.health(tcp);
    if (this.lastAnswerAt >= sentAt || now - h.lastSilenceAt < SILENT_MS) return;
    h.lastSilenceAt = now;
    this.failure(tcp);
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
