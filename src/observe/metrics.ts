// The Prometheus surface, with CoreDNS's names and labels so existing dashboards and alerts keep
// working. Nothing here runs per query: each family reads the typed-array counters at scrape time.
import {
  C_DROPS,
  C_EVICT_DENIAL,
  C_EVICT_SUCCESS,
  C_PREFETCH,
  C_STALE,
  type DnsCache,
} from '../cache/cache.js';
import { reloadVersionInfo } from '../config/hash.js';
import type { AgentConfig } from '../config/types.js';
import { rcodeName } from '../dns/constants.js';
import type { Forwarder } from '../upstream/forwarder.js';
import type { TcpPool } from '../upstream/pool.js';
import { AgentRegistry, histogram, join, labels, type MetricType } from './exposition.js';
import { HEALTH_BUCKETS, type HealthStats } from './health-probe.js';
import { queryLogDropped } from './query-log.js';
import {
  DURATION_BUCKETS,
  N_RCODES,
  N_TYPES,
  PLUGIN_LABELS,
  SIZE_BUCKETS,
  TYPE_LABELS,
  type ListenerStats,
  type ZoneStats,
} from './stats.js';

export const VERSION = '0.1.0';

const PROM_CLIENT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export interface MetricsSource {
  /** Every (listener, zone) stats object currently serving. */
  zoneStats(): ZoneStats[];
  listenerStats(): ListenerStats[];
  /** Each cache with the server labels it serves, its block's zones and its `zones` label. */
  caches(): { cache: DnsCache; servers: string[]; blockZones: string[]; zones: string }[];
  /** Each block's forwarder with the server labels it serves and its block's zones, joined by ",". */
  forwarders(): { forwarder: Forwarder; servers: string[]; zones: string }[];
  /** The TCP connection pools, each once however many forwarders share it. */
  upstreamPools(): TcpPool[];
  plugins(): { server: string; zone: string; name: string }[];
  setupErrors: Record<string, number>;
  reloadFailed: number;
  panics: number;
  /** The configuration in force (its Corefile text is hashed for coredns_reload_version_info). */
  readonly config: AgentConfig | null;
  readonly healthStats: HealthStats;
  /** Queries pending upstream now, the bound, and misses shed at the bound. */
  readonly pending: { used: number; limit: number; shed: number };
}

type Labels = Record<string, string | number>;
/** `labels` as an object, or already rendered (hot families cache their label strings). */
interface Value {
  labels: Labels | string;
  value: number;
  name?: string;
}

const PROTOS = ['udp', 'tcp'];
const FAMILIES = ['1', '2'];
const TYPE_NAMES = Array.from({ length: N_TYPES }, (_, t) => TYPE_LABELS[t]?.[1] ?? 'other');
const RCODE_LABELS = Array.from({ length: N_RCODES }, (_, r) => (r === N_RCODES - 1 ? 'other' : rcodeName(r)));

/** Rendered label strings per ZoneStats, built on first scrape: [base, [proto]…, requests[p][f][t]…, responses[r][plugin]…]. */
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

export function createRegistry(src: MetricsSource): AgentRegistry {
  // prom-client's default metrics start with the first scrape (exposition.ts loads it then): the
  // GC histogram and event-loop lag cover the time since; the process_* figures are cumulative.
  const reg = new AgentRegistry((base, pc) => {
    pc.collectDefaultMetrics({ register: base, eventLoopMonitoringPrecision: 20 });
    // Gauges named like counters fail `promtool check metrics`; each is the sum of the per-type
    // gauge without the suffix (sum(nodejs_active_handles) is the same number).
    for (const name of PROM_CLIENT_TOTAL_GAUGES) base.removeSingleMetric(name);
  });
  const add = (name: string, help: string, type: MetricType, collect: () => Value[], merge = true): void =>
    reg.add({
      name,
      help,
      type,
      merge,
      collect: () => collect().map((v) => ({ name: v.name, labels: typeof v.labels === 'string' ? v.labels : labels(v.labels), value: v.value })),
    });
  const zl = (s: ZoneStats): string => zoneLabels(s).base;

  // One (listener, zone) stats object per series set, so these never need merging.
  add('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.', 'counter', () => {
    const out: Value[] = [];
    for (const s of src.zoneStats()) {
      const l = zoneLabels(s).requests;
      for (let i = 0; i < s.requests.length; i++) if (s.requests[i]! > 0) out.push({ labels: l[i]!, value: s.requests[i]! });
    }
    return out;
  }, false);
  add('coredns_dns_responses_total', 'Counter of response status codes.', 'counter', () => {
    const out: Value[] = [];
    for (const s of src.zoneStats()) {
      const l = zoneLabels(s).responses;
      for (let i = 0; i < s.responses.length; i++) if (s.responses[i]! > 0) out.push({ labels: l[i]!, value: s.responses[i]! });
    }
    return out;
  }, false);
  add('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.', 'histogram', () =>
    src.zoneStats().flatMap((s) => histogram('coredns_dns_request_duration_seconds', zl(s), DURATION_BUCKETS, s.duration, s.durationSum)),
  false);
  for (const [name, help, pick] of [
    ['coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.', (s: ZoneStats) => [s.requestSize, s.requestSizeSum] as const],
    ['coredns_dns_response_size_bytes', 'Size of the returned response in bytes.', (s: ZoneStats) => [s.responseSize, s.responseSizeSum] as const],
  ] as const) {
    add(name, help, 'histogram', () =>
      src.zoneStats().flatMap((s) => {
        const [counts, sums] = pick(s);
        const width = SIZE_BUCKETS.length + 1;
        return [0, 1].flatMap((p) =>
          histogram(name, zoneLabels(s).proto[p]!, SIZE_BUCKETS, counts.subarray(p * width, (p + 1) * width), sums[p]!),
        );
      }),
    false);
  }
  add('nodelocaldns_forward_duration_seconds', 'Time from sending a cache miss upstream to its answer or failure (retries included), per zone.', 'histogram', () =>
    src.zoneStats().flatMap((s) => histogram('nodelocaldns_forward_duration_seconds', zl(s), DURATION_BUCKETS, s.forwardDuration, s.forwardDurationSum)),
  false);
  add('nodelocaldns_forward_failures_total', 'Cache misses for which no upstream answered within the deadline, per zone.', 'counter', () =>
    src.zoneStats().map((s) => ({ labels: zl(s), value: s.forwardFailures })),
  false);
  add('coredns_dns_do_requests_total', 'Counter of DNS requests with DO bit set per zone.', 'counter', () =>
    src.zoneStats().map((s) => ({ labels: zl(s), value: s.doRequests })),
  );
  add('coredns_build_info', 'A metric with a constant \'1\' value labeled by version, revision, and goversion from which CoreDNS was built.', 'gauge', () => [
    { labels: { version: VERSION, revision: 'nodelocaldns-ts', goversion: `node${process.versions.node}` }, value: 1 },
  ]);
  add('coredns_panics_total', 'A metrics that counts the number of panics.', 'counter', () => [{ labels: {}, value: src.panics }]);
  add('coredns_plugin_enabled', 'A metric that indicates whether a plugin is enabled on per server and zone basis.', 'gauge', () =>
    src.plugins().map((p) => ({ labels: { server: p.server, zone: p.zone, view: '', name: p.name }, value: 1 })),
  );

  // cache
  const cacheSeries = (pickZone: (s: ZoneStats) => Value[]): (() => Value[]) => () => src.zoneStats().flatMap(pickZone);
  const zonesOf = (s: ZoneStats): string => src.caches().find((c) => c.servers.includes(s.server) && c.blockZones.includes(s.zone))?.zones ?? s.zone;
  add('coredns_cache_requests_total', 'The count of cache requests.', 'counter', cacheSeries((s) => [
    { labels: { server: s.server, zones: zonesOf(s), view: '' }, value: s.cacheHitsSuccess + s.cacheHitsDenial + s.cacheMisses },
  ]));
  add('coredns_cache_hits_total', 'The count of cache hits.', 'counter', cacheSeries((s) => [
    { labels: { server: s.server, type: 'success', zones: zonesOf(s), view: '' }, value: s.cacheHitsSuccess },
    { labels: { server: s.server, type: 'denial', zones: zonesOf(s), view: '' }, value: s.cacheHitsDenial },
  ]));
  add('coredns_cache_misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.', 'counter', cacheSeries((s) => [
    { labels: { server: s.server, zones: zonesOf(s), view: '' }, value: s.cacheMisses },
  ]));
  add('coredns_cache_served_stale_total', 'The number of requests served from stale cache entries.', 'counter', cacheSeries((s) => [
    { labels: { server: s.server, zones: zonesOf(s), view: '' }, value: s.cacheServedStale },
  ]));
  const perCache = (f: (c: DnsCache) => [Labels, number][]): (() => Value[]) => () =>
    src.caches().flatMap(({ cache, servers, zones }) =>
      servers.flatMap((server) => f(cache).map(([l, value]) => ({ labels: { server, ...l, zones, view: '' }, value }))),
    );
  add('coredns_cache_entries', 'The number of elements in the cache.', 'gauge', perCache((c) => [
    [{ type: 'success' }, c.entries('success')],
    [{ type: 'denial' }, c.entries('denial')],
  ]));
  add('coredns_cache_evictions_total', 'The count of cache evictions.', 'counter', perCache((c) => [
    [{ type: 'success' }, c.counters[C_EVICT_SUCCESS]!],
    [{ type: 'denial' }, c.counters[C_EVICT_DENIAL]!],
  ]));
  add('coredns_cache_drops_total', 'The number responses that are not cached, because the reply is malformed.', 'counter', perCache((c) => [[{}, c.counters[C_DROPS]!]]));
  add('coredns_cache_prefetch_total', 'The number of times the cache has prefetched a cached item.', 'counter', perCache((c) => [[{}, c.counters[C_PREFETCH]!]]));
  add('coredns_cache_stale_entries_total', 'The number of answers served stale, per cache (ours).', 'counter', perCache((c) => [[{}, c.counters[C_STALE]!]]));

  // forward
  add('coredns_proxy_request_duration_seconds', 'Histogram of the time each request took.', 'histogram', () =>
    src.forwarders().flatMap(({ forwarder }) =>
      forwarder.upstreams.flatMap((u) =>
        u.durations.seen().flatMap((r) =>
          histogram('coredns_proxy_request_duration_seconds', labels({ proxy_name: 'forward', to: u.name, rcode: rcodeName(r) }), DURATION_BUCKETS, u.durations.bucketsOf(r), u.durations.sums[r]!),
        ),
      ),
    ),
  );
  add('coredns_proxy_conn_cache_hits_total', 'Counter of connection cache hits per upstream and protocol.', 'counter', () =>
    src.upstreamPools().map((p) => ({ labels: { proxy_name: 'forward', to: p.name, proto: 'tcp' }, value: p.counters.connHits })),
  );
  add('coredns_proxy_conn_cache_misses_total', 'Counter of connection cache misses per upstream and protocol.', 'counter', () =>
    src.upstreamPools().map((p) => ({ labels: { proxy_name: 'forward', to: p.name, proto: 'tcp' }, value: p.counters.connMisses })),
  );
  add('coredns_proxy_healthcheck_failures_total', 'Counter of the number of failed healthchecks.', 'counter', () =>
    src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { proxy_name: 'forward', to: u.name }, value: u.counters.healthcheckFailures }))),
  );
  add('coredns_forward_healthcheck_broken_total', 'Counter of the number of complete failures of the healthchecks.', 'counter', () => [
    { labels: {}, value: src.forwarders().reduce((n, f) => n + f.forwarder.healthcheckBroken, 0) },
  ]);
  add('coredns_forward_max_concurrent_rejects_total', 'Counter of the number of queries rejected because the concurrent queries were at maximum.', 'counter', () => [
    { labels: {}, value: src.forwarders().reduce((n, f) => n + f.forwarder.maxConcurrentRejects, 0) },
  ]);

  // node-cache and agent
  add('coredns_nodecache_setup_errors_total', 'The number of errors during periodic network setup for node-cache', 'counter', () =>
    Object.entries(src.setupErrors).map(([errortype, value]) => ({ labels: { errortype }, value })),
  );
  add('coredns_health_request_duration_seconds', 'Histogram of the time (in seconds) each request took.', 'histogram', () =>
    histogram('coredns_health_request_duration_seconds', '', HEALTH_BUCKETS, src.healthStats.duration, src.healthStats.durationSum),
  );
  add('coredns_health_request_failures_total', 'The number of times the health check failed.', 'counter', () => [{ labels: {}, value: src.healthStats.failures }]);
  // Like CoreDNS, only when the reload plugin is in use; hashed once per configuration.
  let hashed: { cfg: AgentConfig; labels: Labels } | null = null;
  add('coredns_reload_version_info', "A metric with a constant '1' value labeled by hash, and value which type of hash generated.", 'gauge', () => {
    const cfg = src.config;
    if (!cfg || !cfg.servers.some((s) => s.reload)) return [];
    if (hashed?.cfg !== cfg) hashed = { cfg, labels: reloadVersionInfo(cfg) };
    return [{ labels: hashed.labels, value: 1 }];
  });
  add('coredns_reload_failed_total', 'Counter of the number of failed reload attempts.', 'counter', () => [{ labels: {}, value: src.reloadFailed }]);
  add('nodelocaldns_dropped_queries_total', 'Queries dropped unanswered (unreadable header, a response sent to us, a TCP frame cut short by the client\'s FIN), per listener.', 'counter', () =>
    src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.dropped })),
  );
  add('nodelocaldns_malformed_queries_total', 'Queries answered FORMERR/NOTIMP/REFUSED before reaching a zone, per listener.', 'counter', () =>
    src.listenerStats().flatMap((l) => [
      { labels: { server: l.server, rcode: 'FORMERR' }, value: l.formerr },
      { labels: { server: l.server, rcode: 'NOTIMP' }, value: l.notimp },
      { labels: { server: l.server, rcode: 'REFUSED' }, value: l.refused },
    ]),
  );
  add('nodelocaldns_tcp_connections', 'Open client TCP connections, per listener.', 'gauge', () =>
    src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.tcpConnections })),
  );
  add('nodelocaldns_tcp_rejected_connections_total', 'Client TCP connections closed at once because the listener had its maximum open, per listener.', 'counter', () =>
    src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.tcpRejected })),
  );
  add('nodelocaldns_pending_queries', 'Queries waiting for an upstream answer now, over every server block.', 'gauge', () => [{ labels: {}, value: src.pending.used }]);
  add('nodelocaldns_pending_queries_limit', 'The bound on queries waiting for an upstream (-max-pending).', 'gauge', () => [{ labels: {}, value: src.pending.limit }]);
  add('nodelocaldns_pending_shed_total', 'Cache misses answered SERVFAIL (or stale) at once because the pending bound was reached.', 'counter', () => [
    { labels: {}, value: src.pending.shed },
  ]);
  add('nodelocaldns_query_log_dropped_total', 'Query log lines (log directive) dropped because stdout was not keeping up.', 'counter', () => [
    { labels: {}, value: queryLogDropped() },
  ]);
  add('nodelocaldns_upstream_mismatched_answers_total', 'Upstream answers discarded because their ID or question matched no query.', 'counter', () =>
    // UDP mismatches per forwarder's upstream, TCP ones per shared pool: samples with one `to` are summed.
    [
      ...src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: u.counters.mismatches }))),
      ...src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.counters.mismatches })),
    ],
  );
  for (const [name, help, pick] of [
    ['nodelocaldns_upstream_requests_total', 'Query attempts sent to each upstream.', (u: Forwarder['upstreams'][number]) => u.counters.requests],
    ['nodelocaldns_upstream_failures_total', 'Upstream failures counted towards max_fails (timeouts, resets, silent connections).', (u: Forwarder['upstreams'][number]) => u.counters.failures],
    ['nodelocaldns_upstream_hedges_total', 'Query copies sent to each upstream because an earlier try went unanswered past the hedge delay (its RTT estimate).', (u: Forwarder['upstreams'][number]) => u.counters.hedges],
  ] as const)
    add(name, help, 'counter', () => src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: pick(u) }))));
  // Each block's forwarder marks its upstreams down on its own: one series per block and upstream,
  // labelled as the per-block cache series are (a block serving two addresses has two).
  add('nodelocaldns_upstream_down', 'Whether the block\'s forward has marked the upstream down by max_fails (1) or not (0).', 'gauge', () =>
    src.forwarders().flatMap(({ forwarder, servers, zones }) => {
      const down = new Map<string, number>(); // an address listed twice, or drained and re-added, is one series
      for (const u of forwarder.upstreams) if (!u.retiring) down.set(u.name, Math.max(down.get(u.name) ?? 0, u.down ? 1 : 0));
      return servers.flatMap((server) => [...down].map(([to, value]) => ({ labels: { server, zones, view: '', to }, value })));
    }),
  false);
  // Per shared pool, so three blocks forwarding to one address count its connections once.
  add('nodelocaldns_upstream_blackholes_total', 'Upstream connections abandoned because they took queries and never answered.', 'counter', () =>
    src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.counters.blackholes })),
  );
  add('nodelocaldns_upstream_connections', 'Open TCP connections per upstream.', 'gauge', () =>
    src.upstreamPools().map((p) => ({ labels: { to: p.name }, value: p.connections })),
  );
  return reg;
}
