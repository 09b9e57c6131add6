// One upstream address: its pool of pipelined TCP connections, its health (consecutive
// failures, probes while down) and the sweep that retires silent, idle and old connections.
import type { ForwardConfig } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import { ProxyDurations } from './proxy-stats.js';
import { TcpConnection, type ConnectionEvents, type Exchange } from './tcp-connection.js';

/**
 * A connection whose oldest in-flight query has had no answer for this long, with no answer at
 * all since it was sent, is silent (the IPVS blackhole: a stale conntrack entry to a dead pod).
 * Its queries are asked again elsewhere at once; with the 200 ms sweep that is within 1.2 s.
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
  ) {
    this.name = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  /** Send on the least-loaded open connection, opening another when all are busy. */
  sendTcp(ex: Exchange): TcpConnection {
    if (this.closed) throw new UpstreamError(`${this.name}: forwarder closed`);
    let best: TcpConnection | null = null;
    for (const c of this.conns) if (!best || c.size < best.size) best = c;
    if (!best || (best.size >= this.cfg.maxInflightPerConn && this.conns.length < this.cfg.maxConnsPerUpstream)) {
      best = new TcpConnection(this.host, this.port, this, this.cfg.attemptTimeoutMs);
      this.conns.push(best);
      this.counters.connMisses++;
    } else {
      this.counters.connHits++;
    }
    if (!best.send(ex)) throw new UpstreamError(`${this.name}: no free query ID on connection`);
    return best;
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

  /** Periodic: retire silent connections, close idle ones (`expire`), rotate old ones. */
  sweep(now: number): void {
    for (const c of this.conns) {
      const oldest = c.oldestSentAt();
      if (oldest > 0 && now - oldest > SILENT_MS && c.lastAnswerAt < oldest) {
        c.suspect = true;
        this.counters.blackholes++;
        this.draining.add(c);
        this.silence(oldest, now);
        for (const ex of c.pending()) ex.silent?.();
        continue;
      }
      const idleSince = Math.max(c.lastReadAt, c.lastWriteAt, c.createdAt);
      if (c.drained() && now - idleSince > this.cfg.expireMs) {
        c.close();
        continue;
      }
      // Stop sending new queries here so load rebalances across CoreDNS pods after scale-up.
      if (now - c.createdAt > this.cfg.maxConnAgeMs) this.draining.add(c);
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
