// When to refresh an entry in the background, and when an expired one may still be answered.
// Prefetch follows CoreDNS plugin/cache (freq + shouldPrefetch); serve-stale follows RFC 8767.
// Every time here comes from the cache's clock, so tests move it instead of sleeping.
import type { CacheConfig } from '../config/types.js';
import type { CacheEntry } from './cache.js';

/** RFC 8767 §4: TTL written into every record of a stale answer. */
export const STALE_TTL = 30;
/** RFC 8767 §4 client-response timer: a client waiting this long gets the stale answer. */
export const STALE_CLIENT_TIMEOUT_MS = 1_800;
/** RFC 8767 §4 failure recheck timer: after a failed refresh, no new one for this long. */
export const REFRESH_RETRY_MS = 30_000;

/** Count a hit: a gap of DURATION or more starts the popularity count again (CoreDNS freq.Update). */
export function recordHit(e: CacheEntry, now: number, cfg: CacheConfig): void {
  const window = cfg.prefetch !== null ? cfg.prefetch.durationMs : 60_000;
  e.hits = now - e.lastHitAt >= window ? 1 : e.hits + 1;
  e.lastHitAt = now;
}

/** CoreDNS shouldPrefetch: AMOUNT hits and remaining TTL ≤ ceil(PERCENT% of the entry's TTL). */
export function shouldPrefetch(e: CacheEntry, now: number, cfg: CacheConfig): boolean {
  const p = cfg.prefetch;
  if (p === null || p.amount <= 0 || e.hits < p.amount || !canRefresh(e, now)) return false;
  const remaining = e.ttl - Math.floor((now - e.storedAt) / 1000);
  return remaining <= Math.ceil((p.percentage / 100) * e.ttl);
}

/** No refresh already in flight, and none failed in the last REFRESH_RETRY_MS. */
export function canRefresh(e: CacheEntry, now: number): boolean {
  return !e.refreshing && now - e.refreshFailedAt >= REFRESH_RETRY_MS;
}

/**
 * An expired entry answered at once without asking upstream first: always in `immediate` mode;
 * in `verify` mode only while the failure recheck timer runs (upstream just failed for this key).
 */
export function answerStaleAtOnce(e: CacheEntry, now: number, cfg: CacheConfig): boolean {
  return cfg.serveStale !== null && (cfg.serveStale.mode === 'immediate' || now - e.refreshFailedAt < REFRESH_RETRY_MS);
}
