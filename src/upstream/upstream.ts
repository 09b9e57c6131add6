// One upstream address: its pool of pipelined TCP connections, its health (consecutive
// failures, probes while down) and the sweep that retires silent, idle and old connections.
import type { ForwardConfig } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { ProxyDurations } from './proxy-stats.js';
import { TcpConnection, type ConnectionEvents, type Exchange } from './tcp-connection.js';

/**
 * A connection with queries in flight that has received no answer for this long (counted from
 * its last answer, or from its oldest in-flight query if that is later) is silent: the IPVS
 * blackhole, a stale conntrack entry to a dead pod. A loaded connection that keeps answering is
 * never silent however long its queue. Its queries are asked again elsewhere at once; with the
 * 200 ms sweep that is within 1.2 s of the first unanswered query.
 */
export const SILENT_MS = 1_000;
export const SWEEP_MS = 200;

export interface UpstreamCounters {
  requests: number;
  failures: number; // failures counted towards max_fails
  mismatches: number; // answers matching no query (wrong ID / question, or too late)
  connHits: number; // query sent on an existing connection
  connMisses: number; // a connection had to be opened
  healthcheckFailures: number;
  blackholes: number; // connections retired as silent
}

export class Upstream implements ConnectionEvents {
  readonly name: string;
  fails = 0;
  down = false;
  /** No longer a ready endpoint: takes no new queries; removed once its connections drain. */
  retiring = false;
  /** Last time any query to this upstream was answered (any connection, or UDP). */
  lastAnswerAt = 0;
  private lastSilenceAt = 0;
  readonly durations = new ProxyDurations();
  readonly counters: UpstreamCounters = {
    requests: 0,
    failures: 0,
    mismatches: 0,
    connHits: 0,
    connMisses: 0,
    healthcheckFailures: 0,
    blackholes: 0,
  };
  private conns: TcpConnection[] = [];
  /** Connections taking no new queries: too old (rebalance) or silent (suspect). */
  private readonly draining = new Set<TcpConnection>();
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly cfg: ForwardConfig,
    private readonly onDownChange: (up: Upstream) => void,
    private readonly log: Logger,
  ) {
    this.name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  /**
   * Send on the first connection (oldest first) with fewer than `maxInflightPerConn` in flight;
   * when all are that busy, open another if the pool (taking queries, or draining after
   * `expire`) is below `maxConnsPerUpstream`, else use the least-loaded. Filling one connection
   * before the next keeps each one's queue deep: an upstream without TCP_NODELAY (knot) sends
   * a short answer burst only after our ACK, so load spread thin over many connections ran at
   * half the rate of the same load on one. Silent connections do not count towards the cap:
   * they are presumed dead, and their queries need somewhere to go.
   */
  sendTcp(ex: Exchange): TcpConnection {
    if (this.closed) throw new UpstreamError(`${this.name}: forwarder closed`);
    let best: TcpConnection | null = null;
    let least: TcpConnection | null = null;
    for (const c of this.conns) {
      if (c.size < this.cfg.maxInflightPerConn) {
        best = c;
        break;
      }
      if (!least || c.size < least.size) least = c;
    }
    if (!best && least && this.poolSize() >= this.cfg.maxConnsPerUpstream) best = least;
    if (!best) {
      best = new TcpConnection(this.host, this.port, this, this.cfg.attemptTimeoutMs);
      this.conns.push(best);
      this.counters.connMisses++;
    } else {
      this.counters.connHits++;
    }
    if (!best.send(ex)) throw new UpstreamError(`${this.name}: no free query ID on connection`);
    return best;
  }

  /** Connections counted against the cap: taking queries, or draining but not silent. */
  private poolSize(): number {
    let n = this.conns.length;
    for (const c of this.draining) if (!c.suspect) n++;
    return n;
  }

  onMismatch(): void {
    this.counters.mismatches++;
  }

  onClose(conn: TcpConnection, pending: Exchange[], err: Error, byPeer: boolean): void {
    this.conns = this.conns.filter((c) => c !== conn);
    this.draining.delete(conn);
    // Reset, refused or closed under our queries: one failure for the connection, not one per query.
    if (byPeer && pending.length > 0 && !conn.suspect) this.failure();
    for (const ex of pending) ex.reject(err);
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
   * Periodic: retire silent connections, close idle ones and rotate old ones (both `expire`).
   * At most one connection per sweep is rotated for age, so a pool opened in one burst is
   * replaced one by one while the others carry the load.
   */
  sweep(now: number): void {
    let rotated = false;
    for (const c of this.conns) {
      const oldest = c.oldestSentAt();
      if (oldest > 0 && now - Math.max(oldest, c.lastAnswerAt) > SILENT_MS) {
        c.suspect = true;
        this.counters.blackholes++;
        this.draining.add(c);
        this.log.warn('upstream connection silent, its queries asked again elsewhere', { upstream: this.name, inflight: c.size, answered: c.answered });
        this.silence(oldest, now);
        for (const ex of c.pending()) ex.silent?.();
        continue;
      }
      const idleSince = Math.max(c.lastReadAt, c.lastWriteAt, c.createdAt);
      if (c.drained() && now - idleSince > this.cfg.expireMs) {
        c.close();
        continue;
      }
      // `expire` is also a maximum age: a busy connection takes no new queries past it and
      // closes once its in-flight ones are answered; its replacement may reach another pod
      // behind the Service IP (IPVS picks a backend per connection), so load spreads after
      // CoreDNS scales up.
      if (!rotated && now - c.createdAt > this.cfg.expireMs) {
        rotated = true;
        this.draining.add(c);
      }
    }
    this.conns = this.conns.filter((c) => !this.draining.has(c) && c.isOpen);
    for (const c of this.draining) {
      // A suspect keeps listening (a slow answer still wins) until its queries time out.
      if (c.drained() || (c.suspect && now - c.oldestSentAt() > this.cfg.attemptTimeoutMs)) c.close();
    }
  }

  /** Stop taking queries; in-flight ones finish on their connections, which then close. */
  retire(): void {
    this.retiring = true;
    for (const c of this.conns) this.draining.add(c);
    this.conns = [];
  }

  get connections(): number {
    return this.conns.length + this.draining.size;
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.conns, ...this.draining]) c.close();
  }
}
