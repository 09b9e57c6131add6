// One upstream address: its pool of pipelined TCP connections, its health (consecutive
// failures, probes while down) and the sweep that drops silent, idle and old connections.
import type { ForwardConfig } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import { TcpConnection, type ConnectionEvents, type Exchange } from './tcp-connection.js';

/** A connection with an unanswered query and no byte read for this long is a blackhole (IPVS). */
export const BLACKHOLE_MS = 1_000;

export interface UpstreamCounters {
  requests: number;
  failures: number; // attempts that timed out or lost their connection
  mismatches: number; // answers matching no query (wrong ID / question)
  connHits: number; // query sent on an existing connection
  connMisses: number; // a connection had to be opened
  healthcheckFailures: number;
  blackholes: number; // connections abandoned as silent
}

export class Upstream implements ConnectionEvents {
  readonly name: string;
  fails = 0;
  down = false;
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
  private readonly draining = new Set<TcpConnection>();

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

  onClose(conn: TcpConnection, pending: Exchange[], err: Error): void {
    this.conns = this.conns.filter((c) => c !== conn);
    this.draining.delete(conn);
    for (const ex of pending) ex.reject(err);
  }

  success(): void {
    this.fails = 0;
    if (this.down) {
      this.down = false;
      this.onDownChange(this);
    }
  }

  failure(): void {
    this.counters.failures++;
    this.fails++;
    if (!this.down && this.cfg.maxFails > 0 && this.fails >= this.cfg.maxFails) {
      this.down = true;
      this.onDownChange(this);
    }
  }

  /** Periodic: abandon silent connections, close idle ones (`expire`), rotate old ones. */
  sweep(now: number): void {
    for (const c of [...this.conns]) {
      const oldest = c.oldestSentAt();
      if (oldest > 0 && now - oldest > BLACKHOLE_MS && c.lastReadAt < oldest) {
        // IPVS/conntrack blackhole: the peer takes queries and never answers. Retry elsewhere now.
        this.counters.blackholes++;
        c.close(new UpstreamError(`${this.name}: no answer for ${now - oldest} ms, connection abandoned`));
        continue;
      }
      const idleSince = Math.max(c.lastReadAt, c.lastWriteAt, c.createdAt);
      if (c.drained() && now - idleSince > this.cfg.expireMs) {
        c.close();
        continue;
      }
      if (now - c.createdAt > this.cfg.maxConnAgeMs && !this.draining.has(c)) {
        // Stop sending new queries here so load rebalances across CoreDNS pods after scale-up.
        this.draining.add(c);
        this.conns = this.conns.filter((x) => x !== c);
      }
    }
    for (const c of this.draining) if (c.drained()) c.close();
  }

  get connections(): number {
    return this.conns.length + this.draining.size;
  }

  close(): void {
    for (const c of [...this.conns, ...this.draining]) c.close();
  }
}
