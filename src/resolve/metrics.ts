// The request path's series, CoreDNS's names and labels (plugin/metrics): per (listener, zone)
// from ZoneStats, per listener from ListenerStats, and the agent-wide pending bound. Label strings
// of the per-zone series are rendered once per stats object; a scrape only concatenates.
import { rcodeName } from '../dns/names.js';
import { DURATION_BUCKETS, SIZE_BUCKETS } from '../observe/buckets.js';
import { family, histogram, join, labels, type Family, type LabeledValue } from '../observe/exposition.js';
import type { PendingBudget } from './pending-budget.js';
import { N_RCODES, N_TYPES, PLUGIN_LABELS, TYPE_LABELS, type ListenerStats, type ZoneStats } from './stats.js';

export interface ResolveMetricsSource {
  /** Every (listener, zone) stats object currently serving. */
  zoneStats(): ZoneStats[];
  listenerStats(): ListenerStats[];
  readonly pending: PendingBudget;
}

const PROTOS = ['udp', 'tcp'];
const FAMILIES = ['1', '2'];
const TYPE_NAMES = Array.from({ length: N_TYPES }, (_, t) => TYPE_LABELS[t]?.[1] ?? 'other');
const RCODE_LABELS = Array.from({ length: N_RCODES }, (_, r) => (r === N_RCODES - 1 ? 'other' : rcodeName(r)));

/** Rendered label strings of one ZoneStats: base, per proto, requests[p][f][t], responses[r][plugin]. */
interface ZoneLabels {
  base: string;
  proto: string[];
  requests: string[];
  responses: string[];
}
const zoneLabelCache = new WeakMap<ZoneStats, ZoneLabels>();
function zoneLabels(s: ZoneStats): ZoneLabels {
  let z = zoneLabelCache.get(s);
  if (z) return z;
  const base = labels({ server: s.server, zone: s.zone, view: '' });
  const requests: string[] = [];
  for (let p = 0; p < 2; p++)
    for (let f = 0; f < 2; f++) for (let t = 0; t < N_TYPES; t++) requests.push(join(base, labels({ proto: PROTOS[p]!, family: FAMILIES[f]!, type: TYPE_NAMES[t]! })));
  const responses: string[] = [];
  for (let r = 0; r < N_RCODES; r++) for (const plugin of PLUGIN_LABELS) responses.push(join(base, labels({ rcode: RCODE_LABELS[r]!, plugin })));
  z = { base, proto: PROTOS.map((p) => join(base, `proto="${p}"`)), requests, responses };
  zoneLabelCache.set(s, z);
  return z;
}

/** Non-zero slots of `counts` with the label string of the same index. */
function nonZero(counts: Float64Array, l: string[], out: LabeledValue[]): void {
  for (let i = 0; i < counts.length; i++) if (counts[i]! > 0) out.push({ labels: l[i]!, value: counts[i]! });
}

/** The per-zone families (one stats object per series set, so these never need merging). */
export function zoneMetrics(src: ResolveMetricsSource): Family[] {
  const zl = (s: ZoneStats): string => zoneLabels(s).base;
  const sizes = (name: string, help: string, pick: (s: ZoneStats) => readonly [Float64Array, Float64Array]): Family =>
    family(name, help, 'histogram', () =>
      src.zoneStats().flatMap((s) => {
        const [counts, sums] = pick(s);
        const width = SIZE_BUCKETS.length + 1;
        return [0, 1].flatMap((p) => histogram(name, zoneLabels(s).proto[p]!, SIZE_BUCKETS, counts.subarray(p * width, (p + 1) * width), sums[p]!));
      }),
    false);
  return [
    family('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.', 'counter', () => {
      const out: LabeledValue[] = [];
      for (const s of src.zoneStats()) nonZero(s.requests, zoneLabels(s).requests, out);
      return out;
    }, false),
    family('coredns_dns_responses_total', 'Counter of response status codes.', 'counter', () => {
      const out: LabeledValue[] = [];
      for (const s of src.zoneStats()) nonZero(s.responses, zoneLabels(s).responses, out);
      return out;
    }, false),
    family('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.', 'histogram', () =>
      src.zoneStats().flatMap((s) => histogram('coredns_dns_request_duration_seconds', zl(s), DURATION_BUCKETS, s.duration, s.durationSum)),
    false),
    sizes('coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.', (s) => [s.requestSize, s.requestSizeSum]),
    sizes('coredns_dns_response_size_bytes', 'Size of the returned response in bytes.', (s) => [s.responseSize, s.responseSizeSum]),
    family('nodelocaldns_forward_duration_seconds', 'Time from sending a cache miss upstream to its answer or failure (retries included), per zone.', 'histogram', () =>
      src.zoneStats().flatMap((s) => histogram('nodelocaldns_forward_duration_seconds', zl(s), DURATION_BUCKETS, s.forwardDuration, s.forwardDurationSum)),
    false),
    family('nodelocaldns_forward_failures_total', 'Cache misses for which no upstream answered within the deadline, per zone.', 'counter', () =>
      src.zoneStats().map((s) => ({ labels: zl(s), value: s.forwardFailures })),
    false),
    family('coredns_dns_do_requests_total', 'Counter of DNS requests with DO bit set per zone.', 'counter', () =>
      src.zoneStats().map((s) => ({ labels: zl(s), value: s.doRequests })),
    ),
  ];
}

/** What never reached a zone, per listener, and the pending bound over every block. */
export function listenerMetrics(src: ResolveMetricsSource): Family[] {
  return [
    family('nodelocaldns_dropped_queries_total', 'Queries dropped unanswered (unreadable header, a response sent to us, a TCP frame cut short by the client\'s FIN), per listener.', 'counter', () =>
      src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.dropped })),
    ),
    family('nodelocaldns_malformed_queries_total', 'Queries answered FORMERR/NOTIMP/REFUSED before reaching a zone, per listener.', 'counter', () =>
      src.listenerStats().flatMap((l) => [
        { labels: { server: l.server, rcode: 'FORMERR' }, value: l.formerr },
        { labels: { server: l.server, rcode: 'NOTIMP' }, value: l.notimp },
        { labels: { server: l.server, rcode: 'REFUSED' }, value: l.refused },
      ]),
    ),
    family('nodelocaldns_tcp_connections', 'Open client TCP connections, per listener.', 'gauge', () =>
      src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.tcpConnections })),
    ),
    family('nodelocaldns_tcp_rejected_connections_total', 'Client TCP connections closed at once because the listener had its maximum open, per listener.', 'counter', () =>
      src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.tcpRejected })),
    ),
    family('nodelocaldns_pending_queries', 'Queries waiting for an upstream answer now, over every server block.', 'gauge', () => [{ labels: {}, value: src.pending.used }]),
    family('nodelocaldns_pending_queries_limit', 'The bound on queries waiting for an upstream (-max-pending).', 'gauge', () => [{ labels: {}, value: src.pending.limit }]),
    family('nodelocaldns_pending_shed_total', 'Cache misses answered SERVFAIL (or stale) at once because the pending bound was reached.', 'counter', () => [
      { labels: {}, value: src.pending.shed },
    ]),
  ];
}
