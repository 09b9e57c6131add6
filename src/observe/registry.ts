// The Prometheus surface: prom-client's process and Node.js metrics plus the families each
// subsystem declares next to its code (resolve/, cache/, upstream/, agent/ metrics.ts), with
// CoreDNS's names and labels so existing dashboards and alerts keep working. Nothing here runs per
// query: each family reads its subsystem's typed-array counters at scrape time.
import { HEALTH_BUCKETS } from './buckets.js';
import { AgentRegistry, family, histogram, type Family } from './exposition.js';
import { loopLag, LOOP_LAG_FAMILIES } from './loop-lag.js';
import { queryLogDropped } from './query-log.js';
import type { HealthStats } from './self-probe.js';

export const VERSION = '0.1.0';

const PROM_CLIENT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
/**
 * prom-client's event-loop lag sampler cannot be turned off on its own: it gets a period it never
 * reaches (24.8 days, libuv's largest), and its families are replaced by loop-lag.ts's, which
 * sample only while the loop has work.
 */
const NEVER_MS = 2 ** 31 - 1;

/** A registry exposing prom-client's defaults and `families`, in that order. */
export function createRegistry(families: Family[]): AgentRegistry {
  // prom-client's default metrics start with the first scrape (exposition.ts loads it then): the
  // GC histogram and event-loop lag cover the time since; the process_* figures are cumulative.
  const lag = loopLag();
  const reg = new AgentRegistry((base, pc) => {
    pc.collectDefaultMetrics({ register: base, eventLoopMonitoringPrecision: NEVER_MS });
    // Gauges named like counters fail `promtool check metrics`; each is the sum of the per-type
    // gauge without the suffix (sum(nodejs_active_handles) is the same number).
    for (const name of [...PROM_CLIENT_TOTAL_GAUGES, ...LOOP_LAG_FAMILIES]) base.removeSingleMetric(name);
    lag.start();
  });
  for (const f of [...families, ...lag.families()]) reg.add(f);
  return reg;
}

/** What observe/ itself counts: the build, the /health self-probe, the query log's drops. */
export function observeMetrics(health: HealthStats): Family[] {
  return [
    family('coredns_build_info', 'A metric with a constant \'1\' value labeled by version, revision, and goversion from which CoreDNS was built.', 'gauge', () => [
      { labels: { version: VERSION, revision: 'nodelocaldns-ts', goversion: `node${process.versions.node}` }, value: 1 },
    ]),
    family('coredns_health_request_duration_seconds', 'Histogram of the time (in seconds) each request took.', 'histogram', () =>
      histogram('coredns_health_request_duration_seconds', '', HEALTH_BUCKETS, health.duration, health.durationSum),
    ),
    family('coredns_health_request_failures_total', 'The number of times the health check failed.', 'counter', () => [{ labels: {}, value: health.failures }]),
    family('nodelocaldns_query_log_dropped_total', 'Query log lines (log directive) dropped because stdout was not keeping up.', 'counter', () => [
      { labels: {}, value: queryLogDropped() },
    ]),
  ];
}
