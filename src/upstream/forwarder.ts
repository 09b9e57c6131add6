// `forward`: pick an upstream by policy, send over pipelined TCP (or UDP for "." when the client
// used UDP), retry on another connection/upstream inside the client's deadline, and fail fast
// when every upstream is down or max_concurrent is reached.
import { randomInt } from 'node:crypto';
import type { ForwardConfig } from '../config/types.js';
import { FLAG_TC } from '../dns/constants.js';
import { OverloadError, UpstreamError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { Exchange } from './tcp-connection.js';
import { udpExchange } from './udp-exchange.js';
import { Upstream } from './upstream.js';
import { HealthProber } from './health.js';

export interface ForwardQuestion {
  query: Buffer; // wire with any ID; ours replaces it
  qname: Buffer; // lowercased wire name
  qtype: number;
  qclass: number;
}

export class Forwarder {
  readonly upstreams: Upstream[];
  inflight = 0;
  maxConcurrentRejects = 0;
  healthcheckBroken = 0; // times every upstream was down at once
  private rr = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly prober: HealthProber;
  private closed = false;

  constructor(
    readonly cfg: ForwardConfig,
    private readonly log: Logger,
  ) {
    this.upstreams = cfg.to.map((a) => new Upstream(a.host, a.port, cfg, (up) => this.onDownChange(up)));
    this.prober = new HealthProber(cfg, this.upstreams, log);
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      for (const u of this.upstreams) u.sweep(now);
    }, 250);
    this.sweepTimer.unref();
  }

  /** Resolve `q` upstream; `clientTcp` is the client's transport ("." keeps it, node-cache). */
  async forward(q: ForwardQuestion, clientTcp: boolean): Promise<Buffer> {
    const cfg = this.cfg;
    if (cfg.maxConcurrent > 0 && this.inflight >= cfg.maxConcurrent) {
      this.maxConcurrentRejects++;
      throw new OverloadError(`max_concurrent ${cfg.maxConcurrent} reached`);
    }
    this.inflight++;
    try {
      const deadline = Date.now() + cfg.deadlineMs;
      const useTcp = cfg.forceTcp || (clientTcp && !cfg.preferUdp);
      let lastErr: Error = new UpstreamError('no upstream tried');
      let previous: Upstream | null = null;
      while (!this.closed) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        const up = this.pick(previous);
        if (!up) {
          this.healthcheckBroken++;
          throw new UpstreamError('every upstream is down');
        }
        previous = up;
        up.counters.requests++;
        try {
          let res = await this.attempt(up, q, useTcp, Math.min(cfg.attemptTimeoutMs, left));
          if (!useTcp && res.length >= 4 && res[2]! & (FLAG_TC >> 8)) {
            // RFC 7766 §5: a truncated UDP answer is retried over TCP on the same upstream.
            res = await this.attempt(up, q, true, Math.max(1, Math.min(cfg.attemptTimeoutMs, deadline - Date.now())));
          }
          up.success();
          return res;
        } catch (err) {
          lastErr = err as Error;
          up.failure();
        }
      }
      throw new UpstreamError(`no answer within ${cfg.deadlineMs} ms: ${lastErr.message}`, { cause: lastErr });
    } finally {
      this.inflight--;
    }
  }

  /** Policy choice among healthy upstreams; after a failure prefer a different one. */
  private pick(previous: Upstream | null): Upstream | null {
    const ups = this.upstreams;
    const healthy = ups.filter((u) => !u.down);
    if (healthy.length === 0) return null;
    if (healthy.length === 1) return healthy[0]!;
    const others = previous ? healthy.filter((u) => u !== previous) : healthy;
    switch (this.cfg.policy) {
      case 'sequential':
        return others[0]!;
      case 'round_robin':
        return others[this.rr++ % others.length]!;
      default:
        return others[randomInt(0, others.length)]!;
    }
  }

  private attempt(up: Upstream, q: ForwardQuestion, tcp: boolean, timeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout;
      if (!tcp) {
        const h = udpExchange(up.host, up.port, q.query, q.qname, q.qtype, q.qclass, () => up.onMismatch(), (err, res) => {
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(res!);
        });
        timer = setTimeout(() => {
          h.cancel();
          reject(new UpstreamError(`${up.name}: udp timeout after ${timeoutMs} ms`));
        }, timeoutMs);
        return;
      }
      const ex: Exchange = {
        id: 0,
        query: q.query,
        qname: q.qname,
        qtype: q.qtype,
        qclass: q.qclass,
        sentAt: Date.now(),
        resolve(res) {
          clearTimeout(timer);
          resolve(res);
        },
        reject(err) {
          clearTimeout(timer);
          reject(err);
        },
      };
      let conn;
      try {
        conn = up.sendTcp(ex);
      } catch (err) {
        reject(err as Error);
        return;
      }
      timer = setTimeout(() => {
        conn.abandon(ex);
        reject(new UpstreamError(`${up.name}: tcp timeout after ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  private onDownChange(up: Upstream): void {
    this.log.warn(up.down ? 'upstream marked down' : 'upstream back up', { zone: this.cfg.from, upstream: up.name, fails: up.fails });
    if (up.down) this.prober.watch(up);
  }

  get connections(): number {
    return this.upstreams.reduce((n, u) => n + u.connections, 0);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.prober.close();
    for (const u of this.upstreams) u.close();
  }
}
