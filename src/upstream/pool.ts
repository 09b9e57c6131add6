// The pipelined TCP connections to one upstream address, shared by every forwarder that sends
// there (node-cache's three cluster blocks all forward to the same CoreDNS Service). It chooses
// the connection for each query, and its sweep retires silent, idle and old connections. Health
// is not here: each Upstream (one per forwarder) listens for connection-level failures.
import { UpstreamError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { TcpConnection, type ConnectionEvents, type Exchange } from './tcp-connection.js';
import { joinHostPort } from '../config/flags.js';

/**
 * A connection with queries in flight that has received no answer for this long (counted from
 * its last answer, or from its oldest in-flight query if that is later) is silent: the IPVS
 * blackhole, a stale conntrack entry to a dead pod. A loaded connection that keeps answering is
 * never silent however long its queue. Its queries are asked again elsewhere at once; with the
 * 200 ms sweep that is within 1.2 s of the first unanswered query.
 */
export const SILENT_MS = 1_000;
/**
 * A connection still in its handshake with queries waiting this long is silent too. To a pod
 * the handshake takes well under a millisecond, and a lost SYN is sent again only after 1 s
 * (RFC 6298 §2.1's initial RTO): at 300 ms the endpoint behind the Service IP is quiet. Each new
 * connection is a fresh pick of kube-proxy's random DNAT, so against a Service with a quiet
 * replica of two, three picks that land on it cost 0.9-1.5 s of waiting instead of 3-3.6 s (the
 * replica e2e test lost lookups to 2 s client timeouts that way on a loaded box).
 */
export const HANDSHAKE_SILENT_MS = 300;
export const SWEEP_MS = 200;
/**
 * The sweep's pace while no pool has a query in flight or a connection draining: what is left to
 * do (close an idle connection, rotate an old one, both after `expire`) can be a second late, and
 * five wake-ups a second of an idle agent cost ~0.5 ms of CPU a second on a VM. An idle sweep
 * that finds a query in flight brings the 200 ms pace back, within a second of its sending and so
 * before it could be judged silent (SILENT_MS); a query that opens a connection brings it back at
 * once (TcpPool.onBusy). Silence is found as soon as before.
 */
export const IDLE_SWEEP_MS = 1_000;
/**
 * Queries on one connection that a copy sent on another connection beat, with no answer on
 * this one since they were sent: that many and the connection is judged silent at once instead
 * of at SILENT_MS. Three keeps one slow answer (or two) from retiring a healthy connection.
 */
export const HEDGE_LOSSES_SILENT = 3;

/** The ForwardConfig settings that shape a pool; forwarders that differ in them get their own. */
export interface PoolSettings {
  expireMs: number;
  maxConnsPerUpstream: number;
  maxInflightPerConn: number;
  attemptTimeoutMs: number;
}

/** Told of connection-level failures: every Upstream using the pool, for its health. */
export interface PoolListener {
  /** A connection was reset or closed by the peer with queries in flight (once per connection). */
  connectionLost(): void;
  /** A connection went silent; its oldest unanswered query was sent at `sentAt`. */
  silence(sentAt: number, now: number): void;
}

export interface PoolCounters {
  connHits: number; // query sent on an existing connection
  connMisses: number; // a connection had to be opened
  blackholes: number; // connections retired as silent
  mismatches: number; // answers matching no query (wrong ID / question, or too late)
}

export class TcpPool implements ConnectionEvents {
  readonly name: string;
  readonly counters: PoolCounters = { connHits: 0, connMisses: 0, blackholes: 0, mismatches: 0 };
  /** Forwarders' Upstreams holding the pool (PoolRegistry counts them). */
  refs = 0;
  private conns: TcpConnection[] = [];
  /** Connections taking no new queries: too old (rebalance) or silent (suspect). */
  private readonly draining = new Set<TcpConnection>();
  private readonly listeners = new Set<PoolListener>();
  private closed = false;
  /**
   * Set by the registry while it sweeps at the idle pace: called when a query opens a connection,
   * whose handshake is judged silent after HANDSHAKE_SILENT_MS, sooner than the idle pace looks.
   * A query on an open connection cannot be judged before SILENT_MS, and the idle sweep, once a
   * second, finds it in flight and brings the quick pace back in time for that. Quickening on
   * every query set an unreferenced 200 ms timer per miss that its answer, a millisecond later,
   * could not undo: Node drops the empty list of a cleared timer only for referenced timers, so an
   * unreferenced one still wakes the loop when it was due, one wake-up per miss under a few misses
   * a second.
   */
  onBusy: (() => void) | null = null;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly cfg: PoolSettings,
    private readonly log: Logger,
  ) {
    this.name = joinHostPort(host, port);
  }

  subscribe(l: PoolListener): void {
    this.listeners.add(l);
  }

  unsubscribe(l: PoolListener): void {
    this.listeners.delete(l);
  }

  /**
   * Send on the first connection (oldest first) with fewer than `maxInflightPerConn` in flight;
   * when all are that busy, open another if the pool (taking queries, or draining after
   * `expire`) is below `maxConnsPerUpstream`, else use the least-loaded. Filling one connection
   * before the next keeps each one's queue deep: an upstream without TCP_NODELAY (knot) sends
   * a short answer burst only after our ACK, so load spread thin over many connections ran at
   * half the rate of the same load on one. Silent connections do not count towards the cap:
   * they are presumed dead, and their queries need somewhere to go.
   * `avoid`: for a hedge, the connections where the query waits unanswered; another connection
   * (opened if need be, up to the cap) may reach another endpoint behind a Service IP.
   */
  sendTcp(ex: Exchange, avoid: readonly TcpConnection[] | null = null): TcpConnection {
    if (this.closed) throw new UpstreamError(`${this.name}: connection pool closed`);
    let best: TcpConnection | null = null;
    let least: TcpConnection | null = null;
    for (const c of this.conns) {
      if (avoid !== null && avoid.includes(c)) continue;
      if (c.size < this.cfg.maxInflightPerConn) {
        best = c;
        break;
      }
      if (!least || c.size < least.size) least = c;
    }
    if (!best && this.poolSize() >= this.cfg.maxConnsPerUpstream) best = least ?? this.conns[0] ?? null;
    let opened = false;
    if (!best) {
      best = new TcpConnection(this.host, this.port, this, this.cfg.attemptTimeoutMs);
      this.conns.push(best);
      this.counters.connMisses++;
      opened = true;
    } else {
      this.counters.connHits++;
    }
    if (!best.send(ex)) throw new UpstreamError(`${this.name}: no free query ID on connection`);
    if (opened && this.onBusy !== null) this.onBusy();
    return best;
  }

  /** Whether a sweep has work that cannot wait a second: a query in flight or a connection draining. */
  get busy(): boolean {
    if (this.draining.size > 0) return true;
    for (const c of this.conns) if (c.size > 0) return true;
    return false;
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
    if (byPeer && pending.length > 0 && !conn.suspect) for (const l of this.listeners) l.connectionLost();
    for (const ex of pending) ex.reject(err);
  }

  /** Last answer on any open connection: a slow answer elsewhere proves the upstream alive. */
  private lastAnswerAt(): number {
    let t = 0;
    for (const c of this.conns) if (c.lastAnswerAt > t) t = c.lastAnswerAt;
    for (const c of this.draining) if (c.lastAnswerAt > t) t = c.lastAnswerAt;
    return t;
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
      if (oldest > 0 && now - Math.max(oldest, c.lastAnswerAt) > (c.isConnected ? SILENT_MS : HANDSHAKE_SILENT_MS)) {
        this.judgeSilent(c, now);
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

  /**
   * A query sent on `conn` at `sentAt` was answered first by a copy on another connection.
   * Evidence against `conn` only if it has answered nothing since: then it may be a stale
   * conntrack entry or a quiet endpoint, and enough of these retire it before SILENT_MS.
   */
  hedgeLost(conn: TcpConnection, sentAt: number, now: number): void {
    if (conn.suspect || !conn.isOpen || conn.lastAnswerAt >= sentAt) return;
    if (++conn.hedgeLosses >= HEDGE_LOSSES_SILENT) {
      this.judgeSilent(conn, now, sentAt);
      this.conns = this.conns.filter((c) => c !== conn);
    }
  }

  /**
   * Retire `c` as silent: no new queries; its in-flight ones are asked again elsewhere at once.
   * `lostSentAt`: the send time of a query answered elsewhere first, already gone from `c`.
   */
  private judgeSilent(c: TcpConnection, now: number, lostSentAt = 0): void {
    const pending = c.oldestSentAt();
    const oldest = pending > 0 && (lostSentAt === 0 || pending < lostSentAt) ? pending : lostSentAt;
    c.suspect = true;
    this.counters.blackholes++;
    this.draining.add(c);
    this.log.warn('upstream connection silent, its queries asked again elsewhere', { upstream: this.name, inflight: c.size, answered: c.answered });
    if (oldest > 0 && this.lastAnswerAt() < oldest) for (const l of this.listeners) l.silence(oldest, now);
    for (const ex of c.pending()) ex.silent?.();
  }

  /** Take no new queries; in-flight ones finish on their connections, which then close (sweep). */
  drain(): void {
    this.closed = true;
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
