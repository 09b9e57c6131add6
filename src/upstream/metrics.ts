// forward's series (CoreDNS plugin/forward metrics.go) and ours. Connections, conn_cache hits and
// misses and blackholes are counted per pool (once per address however many blocks share it);
// the rest per forwarder's Upstream, summed by `to`.
import { rcodeName } from '../dns/names.js';
import { DURATION_BUCKETS } from '../observe/buckets.js';
import { family, histogram, labels, type Family } from '../observe/exposition.js';
import type { Forwarder } from './forwarder.js';
import type { TcpPool } from './pool.js';
import type { Upstream } from './upstream.js';

export interface UpstreamMetricsSource {
  /** Each block's forwarder with the server labels it serves and its block's zones, joined by ",". */
  forwarders(): { forwarder: Forwarder; servers: string[]; zones: string }[];
  /** The TCP connection pools, each once however many forwarders share it. */
  upstreamPools(): TcpPool[];
}

export function upstreamMetrics(src: UpstreamMetricsSource): Family[] {
  const perUpstream = (name: string, help: string, pick: (u: Upstream) => number): Family =>
    family(name, help, 'counter', () => src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: pick(u) }))));
  return [
    family('coredns_proxy_request_duration_seconds', 'Histogram of the time each request took.', 'histogram', () =>
      src.forwarders().flatMap(({ forwarder }) =>
        forwarder.upstreams.flatMap((u) =>
          u.durations.seen().flatMap((r) =>
            histogram('coredns_proxy_request_duration_seconds', labels({ proxy_name: 'forward', to: u.name, rcode: rcodeName(r) }), DURATION_BUCKETS, u.durations.bucketsOf(r), u.durations.sums[r]!),
          ),
        ),
      ),
    ),
    family('coredns_proxy_conn_cache_hits_total', 'Counter of connection cache hits per upstream and protocol.', 'counter', () =>
      src.upstreamPools().map((p) => ({ labels: { proxy_name: 'forward', to: p.name, proto: 'tcp' }, value: p.counters.connHits })),
    ),
    family('coredns_proxy_conn_cache_misses_total', 'Counter of connection cache misses per upstream and protocol.', 'counter', () =>
      src.upstreamPools().map((p) => ({ labels: { proxy_name: 'forward', to: p.name, proto: 'tcp' }, value: p.counters.connMisses })),
    ),
    family('coredns_proxy_healthcheck_failures_total', 'Counter of the number of failed healthchecks.', 'counter', () =>
      src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { proxy_name: 'forward', to: u.name }, value: u.counters.healthcheckFailures }))),
    ),
    family('coredns_forward_healthcheck_broken_total', 'Counter of the number of complete failures of the healthchecks.', 'counter', () => [
      { labels: {}, value: src.forwarders().reduce((n, f) => n + f.forwarder.healthcheckBroken, 0) },
    ]),
    family('coredns_forward_max_concurrent_rejects_total', 'Counter of the number of queries rejected because the concurrent queries were at maximum.', 'counter', () => [
      { labels: {}, value: src.forwarders().reduce((n, f) => n + f.forwarder.maxConcurrentRejects, 0) },
    ]),
    family('nodelocaldns_upstream_mismatched_answers_total', 'Upstream answers discarded because their ID or question matched no query.', 'counter', () =>
      // UDP mismatches per forwarder's upstream, TCP ones per shared pool: samples with one `to` are summed.
      [
        ...src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: u.counters.mismatches }))),
        ...src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.counters.mismatches })),
      ],
    ),
    perUpstream('nodelocaldns_upstream_requests_total', 'Query attempts sent to each upstream.', (u) => u.counters.requests),
    perUpstream('nodelocaldns_upstream_failures_total', 'Upstream failures counted towards max_fails (timeouts, resets, silent connections).', (u) => u.counters.failures),
    perUpstream('nodelocaldns_upstream_hedges_total', 'Query copies sent to each upstream because an earlier try went unanswered past the hedge delay (its RTT estimate).', (u) => u.counters.hedges),
    // Each block's forwarder marks its upstreams down on its own: one series per block and upstream,
    // labelled as the per-block cache series are (a block serving two addresses has two).
    family('nodelocaldns_upstream_down', 'Whether the block\'s forward has marked the upstream down by max_fails (1) or not (0).', 'gauge', () =>
      src.forwarders().flatMap(({ forwarder, servers, zones }) => {
        const down = new Map<string, number>(); // an address listed twice, or drained and re-added, is one series
        for (const u of forwarder.upstreams) if (!u.retiring) down.set(u.name, Math.max(down.get(u.name) ?? 0, u.down ? 1 : 0));
        return servers.flatMap((server) => [...down].map(([to, value]) => ({ labels: { server, zones, view: '', to }, value })));
      }),
    false),
    // Per shared pool, so three blocks forwarding to one address count its connections once.
    family('nodelocaldns_upstream_blackholes_total', 'Upstream connections abandoned because they took queries and never answered.', 'counter', () =>
      src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.counters.blackholes })),
    ),
    family('nodelocaldns_upstream_connections', 'Open TCP connections per upstream.', 'gauge', () =>
      src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.connections })),
    ),
  ];
}
