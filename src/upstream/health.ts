// Health probes for upstreams marked down (CoreDNS forward: `. IN NS` every health_check, any
// reply counts as healthy). Probes go over the transport queries would use.
import type { ForwardConfig } from '../config/types.js';
import { TYPE_NS } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { nameToWire } from '../dns/wire.js';
import type { Logger } from '../observe/log.js';
import type { Exchange } from './tcp-connection.js';
import { udpExchange } from './udp-exchange.js';
import type { Upstream } from './upstream.js';

export class HealthProber {
  private readonly timers = new Map<Upstream, NodeJS.Timeout>();
  private readonly qname: Buffer;
  private readonly query: Buffer;

  constructor(
    private readonly cfg: ForwardConfig,
    _upstreams: Upstream[],
    private readonly log: Logger,
  ) {
    this.qname = nameToWire(cfg.healthCheckDomain);
    this.query = buildQuery(this.qname, TYPE_NS, 1, { rd: !cfg.healthCheckNoRec });
  }

  /** Probe `up` every health_check until it answers. */
  watch(up: Upstream): void {
    if (this.timers.has(up) || this.cfg.healthCheckMs <= 0) return;
    const timer = setInterval(() => this.probe(up), this.cfg.healthCheckMs);
    timer.unref();
    this.timers.set(up, timer);
  }

  private probe(up: Upstream): void {
    const timeoutMs = Math.max(100, Math.min(this.cfg.healthCheckMs, 2_000));
    const ok = (): void => {
      this.stop(up);
      up.success();
    };
    const bad = (): void => {
      up.counters.healthcheckFailures++;
    };
    if (this.cfg.forceTcp) {
      let timer: NodeJS.Timeout | undefined;
      const ex: Exchange = {
        id: 0,
        query: this.query,
        qname: this.qname,
        qtype: TYPE_NS,
        qclass: 1,
        sentAt: Date.now(),
        resolve: () => {
          clearTimeout(timer);
          ok();
        },
        reject: () => {
          clearTimeout(timer);
          bad();
        },
      };
      try {
        const conn = up.sendTcp(ex);
        timer = setTimeout(() => {
          conn.abandon(ex);
          bad();
        }, timeoutMs);
      } catch {
        bad();
      }
      return;
    }
    const h = udpExchange(up.host, up.port, this.query, this.qname, TYPE_NS, 1, () => up.onMismatch(), (err) => {
      clearTimeout(t);
      if (err) bad();
      else ok();
    });
    const t = setTimeout(() => {
      h.cancel();
      bad();
    }, timeoutMs);
    this.log.debug('health probe', { upstream: up.name });
  }

  private stop(up: Upstream): void {
    const t = this.timers.get(up);
    if (t) clearInterval(t);
    this.timers.delete(up);
  }

  close(): void {
    for (const t of this.timers.values()) clearInterval(t);
    this.timers.clear();
  }
}
