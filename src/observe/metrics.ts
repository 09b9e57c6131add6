// The Prometheus surface, with CoreDNS's names and labels so existing dashboards and alerts keep
// working. Nothing here runs per query: each family reads the typed-array counters at scrape time.
import { Registry, collectDefaultMetrics } from 'prom-client';
import {
  C_DROPS,
  C_EVICT_DENIAL,
  C_EVICT_SUCCESS,
  C_PREFETCH,
  C_STALE,
  type DnsCache,
} from '../cache/cache.js';
import { rcodeName } from '../dns/constants.js';
import type { Forwarder } from '../upstream/forwarder.js';
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

export interface MetricsSource {
  /** Every (listener, zone) stats object currently serving. */
  zoneStats(): ZoneStats[];
  listenerStats(): ListenerStats[];
  /** Each cache with the server labels it serves and its zones label. */
  caches(): { cache: DnsCache; servers: string[]; zones: string }[];
  forwarders(): { forwarder: Forwarder; server: string }[];
  plugins(): { server: string; zone: string; name: string }[];
  setupErrors: Record<string, number>;
  reloadFailed: number;
  panics: number;
}

type Labels = Record<string, string | number>;
interface Value {
  labels: Labels;
  value: number;
  metricName?: string;
}

class RawMetric {
  readonly aggregator = 'sum';
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly collect: () => Value[],
  ) {}
  get(): { name: string; help: string; type: string; values: Value[]; aggregator: string } {
    return { name: this.name, help: this.help, type: this.type, values: mergeSame(this.collect()), aggregator: this.aggregator };
  }
}

const PROTOS = ['udp', 'tcp'];
const FAMILIES = ['1', '2'];

export function createRegistry(src: MetricsSource): Registry {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg, eventLoopMonitoringPrecision: 20 });
  const add = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', collect: () => Value[]): void =>
    reg.registerMetric(new RawMetric(name, help, type, collect) as never);
  const zl = (s: ZoneStats): Labels => ({ server: s.server, zone: s.zone, view: '' });

  add('coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.', 'counter', () => {
    const out: Value[] = [];
    for (const s of src.zoneStats())
      for (let p = 0; p < 2; p++)
        for (let f = 0; f < 2; f++)
          for (let t = 0; t < N_TYPES; t++) {
            const v = s.requests[(p * 2 + f) * N_TYPES + t]!;
            if (v > 0) out.push({ labels: { ...zl(s), proto: PROTOS[p]!, family: FAMILIES[f]!, type: TYPE_LABELS[t]?.[1] ?? 'other' }, value: v });
          }
    return out;
  });
  add('coredns_dns_responses_total', 'Counter of response status codes.', 'counter', () => {
    const out: Value[] = [];
    for (const s of src.zoneStats())
      for (let r = 0; r < N_RCODES; r++)
        for (let p = 0; p < PLUGIN_LABELS.length; p++) {
          const v = s.responses[r * PLUGIN_LABELS.length + p]!;
          if (v > 0) out.push({ labels: { ...zl(s), rcode: r === N_RCODES - 1 ? 'other' : rcodeName(r), plugin: PLUGIN_LABELS[p]! }, value: v });
        }
    return out;
  });
  add('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.', 'histogram', () =>
    src.zoneStats().flatMap((s) => histogram('coredns_dns_request_duration_seconds', zl(s), DURATION_BUCKETS, s.duration, s.durationSum)),
  );
  for (const [name, help, pick] of [
    ['coredns_dns_request_size_bytes', 'Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.', (s: ZoneStats) => [s.requestSize, s.requestSizeSum] as const],
    ['coredns_dns_response_size_bytes', 'Size of the returned response in bytes.', (s: ZoneStats) => [s.responseSize, s.responseSizeSum] as const],
  ] as const) {
    add(name, help, 'histogram', () =>
      src.zoneStats().flatMap((s) => {
        const [counts, sums] = pick(s);
        const width = SIZE_BUCKETS.length + 1;
        return [0, 1].flatMap((p) =>
          histogram(name, { ...zl(s), proto: PROTOS[p]! }, SIZE_BUCKETS, counts.subarray(p * width, (p + 1) * width), sums[p]!),
        );
      }),
    );
  }
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
  const zonesOf = (s: ZoneStats): string => src.caches().find((c) => c.servers.includes(s.server) && c.zones.split(' ').includes(s.zone))?.zones ?? s.zone;
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
  add('coredns_proxy_conn_cache_hits_total', 'Counter of connection cache hits per upstream and protocol.', 'counter', () =>
    src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { proxy_name: 'forward', to: u.name, proto: 'tcp' }, value: u.counters.connHits }))),
  );
  add('coredns_proxy_conn_cache_misses_total', 'Counter of connection cache misses per upstream and protocol.', 'counter', () =>
    src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { proxy_name: 'forward', to: u.name, proto: 'tcp' }, value: u.counters.connMisses }))),
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
  add('coredns_reload_failed_total', 'Counter of the number of failed reload attempts.', 'counter', () => [{ labels: {}, value: src.reloadFailed }]);
  add('nodelocaldns_dropped_queries_total', 'Queries dropped unanswered (unreadable header, or a response sent to us), per listener.', 'counter', () =>
    src.listenerStats().map((l) => ({ labels: { server: l.server }, value: l.dropped })),
  );
  add('nodelocaldns_malformed_queries_total', 'Queries answered FORMERR/NOTIMP/REFUSED before reaching a zone, per listener.', 'counter', () =>
    src.listenerStats().flatMap((l) => [
      { labels: { server: l.server, rcode: 'FORMERR' }, value: l.formerr },
      { labels: { server: l.server, rcode: 'NOTIMP' }, value: l.notimp },
      { labels: { server: l.server, rcode: 'REFUSED' }, value: l.refused },
    ]),
  );
  add('nodelocaldns_upstream_mismatched_answers_total', 'Upstream answers discarded because their ID or question matched no query.', 'counter', () =>
    src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: u.counters.mismatches }))),
  );
  add('nodelocaldns_upstream_connections', 'Open TCP connections per upstream.', 'gauge', () =>
    src.forwarders().flatMap(({ forwarder }) => forwarder.upstreams.map((u) => ({ labels: { to: u.name }, value: u.connections }))),
  );
  return reg;
}

/** Series with the same labels from several instances (two forwarders to one upstream) add up. */
function mergeSame(values: Value[]): Value[] {
  const byKey = new Map<string, Value>();
  for (const v of values) {
    const key = `${v.metricName ?? ''}${JSON.stringify(v.labels)}`;
    const prev = byKey.get(key);
    if (prev) prev.value += v.value;
    else byKey.set(key, { ...v });
  }
  return [...byKey.values()];
}

function histogram(name: string, labels: Labels, bounds: number[], counts: ArrayLike<number>, sum: number): Value[] {
  const out: Value[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i]!;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: bounds[i]! }, value: cumulative });
  }
  cumulative += counts[bounds.length]!;
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: cumulative });
  out.push({ metricName: `${name}_sum`, labels, value: sum });
  out.push({ metricName: `${name}_count`, labels, value: cumulative });
  return out;
}
