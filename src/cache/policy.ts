// Every cache decision of the request path: whether an entry is answered fresh, stale at once or
// only after asking upstream; when it is refreshed in the background; what an upstream answer
// replaces. Prefetch follows CoreDNS plugin/cache (freq + shouldPrefetch); serve-stale follows
// RFC 8767. What may be stored at all, and for how long, is cache.ts `insert`. Every time here
// comes from the cache's clock, so tests move it instead of sleeping. The hit path's functions take
// the entry's age in whole ms (`age`, a small integer) rather than the clock's absolute ms: a
// double passed to a function V8 does not inline is boxed, 16 B a call (bench/hot-path.md).
import type { CacheConfig } from '../config/types.js';
import type { PreparedAnswer } from '../dns/answer.js';
import { RCODE_REFUSED, RCODE_SERVFAIL } from '../dns/constants.js';
import { C_PREFETCH, type CacheEntry, type DnsCache } from './cache.js';

/** RFC 8767 §4: TTL written into every record of a stale answer. */
export const STALE_TTL = 30;
/** RFC 8767 §4 client-response timer: a client waiting this long gets the stale answer. */
export const STALE_CLIENT_TIMEOUT_MS = 1_800;
/** RFC 8767 §4 failure recheck timer: after a failed refresh, no new one for this long. */
export const REFRESH_RETRY_MS = 30_000;

/** Count a hit: a gap of DURATION or more starts the popularity count again (CoreDNS freq.Update). */
export function recordHit(e: CacheEntry, age: number, cfg: CacheConfig): void {
  const window = cfg.prefetch !== null ? cfg.prefetch.durationMs : 60_000;
  e.hits = age - e.lastHitAge >= window ? 1 : e.hits + 1;
  e.lastHitAge = age;
}

/** CoreDNS shouldPrefetch: AMOUNT hits and remaining TTL ≤ ceil(PERCENT% of the entry's TTL). */
export function shouldPrefetch(e: CacheEntry, age: number, cfg: CacheConfig): boolean {
  const p = cfg.prefetch;
  if (p === null || p.amount <= 0 || e.hits < p.amount || !canRefresh(e, age)) return false;
  const remaining = e.ttl - Math.floor(age / 1000);
  return remaining <= Math.ceil((p.percentage / 100) * e.ttl);
}

/** No refresh already in flight, and none failed in the last REFRESH_RETRY_MS. */
export function canRefresh(e: CacheEntry, age: number): boolean {
  return !e.refreshing && age - e.failedAge >= REFRESH_RETRY_MS;
}

/**
 * An expired entry answered at once without asking upstream first: always in `immediate` mode;
 * in `verify` mode only while the failure recheck timer runs (upstream just failed for this key).
 */
export function answerStaleAtOnce(e: CacheEntry, age: number, cfg: CacheConfig): boolean {
  return cfg.serveStale !== null && (cfg.serveStale.mode === 'immediate' || age - e.failedAge < REFRESH_RETRY_MS);
}

/** What the cache holds for a request's key, decided once on the request path. */
export const ENTRY_FRESH = 0; // answer from it, TTLs aged
export const ENTRY_STALE_NOW = 1; // expired, answered stale at once; refreshed in the background
export const ENTRY_VERIFY = 2; // expired, upstream asked first; the entry is the fallback
export const ENTRY_EXPIRED = 3; // past the serve_stale window: a miss

/** `age`: ms since the entry was stored (CacheEntry.ageAt). */
export function entryState(e: CacheEntry, age: number, cfg: CacheConfig): number {
  if (age < e.ttl * 1000) return ENTRY_FRESH;
  if (age >= e.ttl * 1000 + e.staleMs) return ENTRY_EXPIRED;
  return answerStaleAtOnce(e, age, cfg) ? ENTRY_STALE_NOW : ENTRY_VERIFY;
}

/** The background refresh an answer from `e` in `state` starts: none, a prefetch, or a stale refresh. */
export const REFRESH_NONE = 0;
export const REFRESH_PREFETCH = 1;
export const REFRESH_STALE = 2;

export function refreshAfterAnswer(e: CacheEntry, state: number, age: number, cfg: CacheConfig): number {
  if (state === ENTRY_FRESH) return cfg.prefetch !== null && shouldPrefetch(e, age, cfg) ? REFRESH_PREFETCH : REFRESH_NONE;
  return canRefresh(e, age) ? REFRESH_STALE : REFRESH_NONE;
}

/** A refresh of `e` goes upstream now (prefetches are counted, as coredns_cache_prefetch_total). */
export function startRefresh(cache: DnsCache | null, e: CacheEntry, prefetch: boolean): void {
  e.refreshing = true;
  if (prefetch && cache !== null) cache.counters[C_PREFETCH]!++;
}

/** `e` may still answer a client at cache time `now` (fresh, or expired within serve_stale); slow paths. */
export function servable(e: CacheEntry | null, now: number): e is CacheEntry {
  return e !== null && e.ageAt(now) < e.lifetimeMs;
}

/** RFC 8767 §4: an upstream SERVFAIL or REFUSED must not replace data the cache can still serve. */
export function keepFallbackOver(rcode: number, fallback: CacheEntry | null, now: number): boolean {
  return (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) && servable(fallback, now);
}

/**
 * Store an upstream answer for `key` under the cache's rules (cache.ts insert). When it refreshes
 * `fallback`, the new entry keeps its popularity (CoreDNS keeps a prefetched entry's hit count),
 * and an answer that cannot be cached ends the old data.
 */
export function storeAnswer(cache: DnsCache, key: string, a: PreparedAnswer, fallback: CacheEntry | null): CacheEntry | null {
  const entry = cache.insert(key, a);
  if (fallback !== null) {
    if (entry !== null) {
      entry.hits = fallback.hits;
      entry.lastHitAt = fallback.lastHitAt;
    } else cache.delete(key);
  }
  return entry;
}
