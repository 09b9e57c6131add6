// coredns_cache_* (CoreDNS plugin/cache metrics.go), `zones` = the cache's zones joined by ",".
// Requests, hits, misses and stale answers are counted per (listener, zone) where the request
// path answers (CacheRequestStats); entries, evictions, drops, prefetches per cache.
import { family, type Family, type LabeledValue, type Labels } from '../observe/exposition.js';
import { C_DROPS, C_EVICT_DENIAL, C_EVICT_SUCCESS, C_PREFETCH, C_STALE, type DnsCache } from './cache.js';
import type { CacheRequestStats } from './stats.js';

export interface CacheMetricsSource {
  /** Each cache with the server labels it serves, its block's zones and its `zones` label. */
  caches(): { cache: DnsCache; servers: string[]; blockZones: string[]; zones: string }[];
  /** The request counters of every (listener, zone) serving. */
  cacheRequestStats(): CacheRequestStats[];
}

export function cacheMetrics(src: CacheMetricsSource): Family[] {
  const perZone = (pick: (s: CacheRequestStats, zones: string) => LabeledValue[]): (() => LabeledValue[]) => () =>
    src.cacheRequestStats().flatMap((s) => pick(s, zonesOf(s)));
  const zonesOf = (s: CacheRequestStats): string => src.caches().find((c) => c.servers.includes(s.server) && c.blockZones.includes(s.zone))?.zones ?? s.zone;
  const perCache = (f: (c: DnsCache) => [Labels, number][]): (() => LabeledValue[]) => () =>
    src.caches().flatMap(({ cache, servers, zones }) =>
      servers.flatMap((server) => f(cache).map(([l, value]) => ({ labels: { server, ...l, zones, view: '' }, value }))),
    );
  return [
    family('coredns_cache_requests_total', 'The count of cache requests.', 'counter', perZone((s, zones) => [
      { labels: { server: s.server, zones, view: '' }, value: s.cacheHitsSuccess + s.cacheHitsDenial + s.cacheMisses },
    ])),
    family('coredns_cache_hits_total', 'The count of cache hits.', 'counter', perZone((s, zones) => [
      { labels: { server: s.server, type: 'success', zones, view: '' }, value: s.cacheHitsSuccess },
      { labels: { server: s.server, type: 'denial', zones, view: '' }, value: s.cacheHitsDenial },
    ])),
    family('coredns_cache_misses_total', 'The count of cache misses. Deprecated, derive misses from cache hits/requests counters.', 'counter', perZone((s, zones) => [
      { labels: { server: s.server, zones, view: '' }, value: s.cacheMisses },
    ])),
    family('coredns_cache_served_stale_total', 'The number of requests served from stale cache entries.', 'counter', perZone((s, zones) => [
      { labels: { server: s.server, zones, view: '' }, value: s.cacheServedStale },
    ])),
    family('coredns_cache_entries', 'The number of elements in the cache.', 'gauge', perCache((c) => [
      [{ type: 'success' }, c.entries('success')],
      [{ type: 'denial' }, c.entries('denial')],
    ])),
    family('coredns_cache_evictions_total', 'The count of cache evictions.', 'counter', perCache((c) => [
      [{ type: 'success' }, c.counters[C_EVICT_SUCCESS]!],
      [{ type: 'denial' }, c.counters[C_EVICT_DENIAL]!],
    ])),
    family('coredns_cache_drops_total', 'The number responses that are not cached, because the reply is malformed.', 'counter', perCache((c) => [[{}, c.counters[C_DROPS]!]])),
    family('coredns_cache_prefetch_total', 'The number of times the cache has prefetched a cached item.', 'counter', perCache((c) => [[{}, c.counters[C_PREFETCH]!]])),
    family('coredns_cache_stale_entries_total', 'The number of answers served stale, per cache (ours).', 'counter', perCache((c) => [[{}, c.counters[C_STALE]!]])),
  ];
}
