// Health probes for upstreams marked down (CoreDNS forward: `. IN NS`, or `health_check ...
// domain`, every health_check; any reply counts as healthy). Health is per transport, so a
// probe goes over the transport that was marked down, one at a time per upstream and transport,
// each allowed the per-try timeout.
import type { ForwardConfig } from '../config/types.js';
import { TYPE_NS } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { nameToWire } from '../dns/wire.js';
import type { Logger } from '../observe/log.js';
import { startAttempt, type ForwardQuestion } from './attempt.js';
import type { Upstream } from './upstream.js';

/** Probes of one upstream over one transport. */
class Watch {
  timer: NodeJS.Timeout | null = null;
  probing = false;
  constructor(
    readonly up: Upstream,
    readonly tcp: boolean,
  ) {}
}

export class HealthProber {
  private readonly watches = new Map<string, Watch>();
  private readonly question: ForwardQuestion;

  constructor(
    private readonly cfg: ForwardConfig,
    private readonly log: Logger,
  ) {
    const qname = nameToWire(cfg.healthCheckDomain);
    this.question = { qname, qtype: TYPE_NS, qclass: 1, query: buildQuery(qname, TYPE_NS, 1, { rd: !cfg.healthCheckNoRec }) };
  }

  /** Probe `up` over `tcp`/UDP every health_check until it answers. */
  watch(up: Upstream, tcp: boolean): void {
    const key = `${up.name}|${tcp ? 'tcp' : 'udp'}`;
    if (this.watches.has(key) || this.cfg.healthCheckMs <= 0) return;
    const w = new Watch(up, tcp);
    w.timer = setInterval(() => this.probe(key, w), this.cfg.healthCheckMs);
    w.timer.unref();
    this.watches.set(key, w);
  }

  private probe(key: string, w: Watch): void {
    const up = w.up;
    if (up.retiring || !up.health(w.tcp).down) return this.stop(key, w);
    if (w.probing) return;
    w.probing = true;
    this.log.debug('health probe', { upstream: up.name, proto: w.tcp ? 'tcp' : 'udp' });
    startAttempt(up, this.question, w.tcp, this.cfg.attemptTimeoutMs, {
      answer: () => {
        w.probing = false;
        this.stop(key, w);
        up.up(w.tcp);
      },
      fail: () => {
        w.probing = false;
        up.counters.healthcheckFailures++;
      },
      silent: () => {},
    });
  }

  private stop(key: string, w: Watch): void {
    if (w.timer !== null) clearInterval(w.timer);
    w.timer = null;
    if (this.watches.get(key) === w) this.watches.delete(key);
  }

  close(): void {
    for (const [key, w] of this.watches) this.stop(key, w);
  }
}
