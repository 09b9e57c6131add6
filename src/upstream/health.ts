// Health probes for upstreams marked down (CoreDNS forward: `. IN NS`, or `health_check ...
// domain`, every health_check; any reply counts as healthy). Probes go over the transport
// queries would use, one at a time per upstream, each allowed the per-try timeout.
import type { ForwardConfig } from '../config/types.js';
import { TYPE_NS } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { nameToWire } from '../dns/wire.js';
import type { Logger } from '../observe/log.js';
import { startAttempt, type ForwardQuestion } from './attempt.js';
import type { Upstream } from './upstream.js';

export class HealthProber {
  private readonly timers = new Map<Upstream, NodeJS.Timeout>();
  private readonly probing = new Set<Upstream>();
  private readonly question: ForwardQuestion;

  constructor(
    private readonly cfg: ForwardConfig,
    private readonly log: Logger,
  ) {
    const qname = nameToWire(cfg.healthCheckDomain);
    this.question = { qname, qtype: TYPE_NS, qclass: 1, query: buildQuery(qname, TYPE_NS, 1, { rd: !cfg.healthCheckNoRec }) };
  }

  /** Probe `up` every health_check until it answers. */
  watch(up: Upstream): void {
    if (this.timers.has(up) || this.cfg.healthCheckMs <= 0) return;
    const timer = setInterval(() => this.probe(up), this.cfg.healthCheckMs);
    timer.unref();
    this.timers.set(up, timer);
  }

  private probe(up: Upstream): void {
    if (up.retiring) return this.stop(up);
    if (this.probing.has(up)) return;
    this.probing.add(up);
    this.log.debug('health probe', { upstream: up.name });
    startAttempt(up, this.question, this.cfg.forceTcp, this.cfg.attemptTimeoutMs, {
      answer: () => {
        this.probing.delete(up);
        this.stop(up);
        up.up();
      },
      fail: () => {
        this.probing.delete(up);
        up.counters.healthcheckFailures++;
      },
      silent: () => {},
    });
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
