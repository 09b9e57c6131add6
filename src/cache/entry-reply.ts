// The reply built from a cache entry, for every path that answers from the cache: a hit, a stale
// answer given at once, and the fallback a waiting client gets when upstream fails or is slow.
// Fresh: every TTL aged by the whole seconds since the entry was stored (CoreDNS item.toMsg).
// Expired but within serve_stale: every TTL is STALE_TTL (RFC 8767 §4), and the answer is counted
// as served stale. AA is set, as CoreDNS sets it on cached answers.
import { replyLength, writeReplyFromAnswer, type QueryView } from '../dns/reply.js';
import { C_STALE, type CacheEntry, type DnsCache } from './cache.js';
import { STALE_TTL } from './policy.js';
import type { CacheRequestStats } from './stats.js';

/**
 * `query` holds the client's header and question (`view` its parse); `limit` the transport's size
 * limit; `age` the entry's age in whole ms (CacheEntry.ageAt).
 */
export function replyFromEntry(
  cache: DnsCache,
  e: CacheEntry,
  age: number,
  query: Buffer,
  view: QueryView,
  limit: number,
  stats: CacheRequestStats,
): Buffer {
  const out = Buffer.allocUnsafe(replyLength(e, view, limit));
  writeReplyFromEntry(out, 0, cache, e, age, query, view, limit, stats);
  return out;
}

/** `replyFromEntry` written into `out` at `base` (a listener's send slab); returns its length. */
export function writeReplyFromEntry(
  out: Buffer,
  base: number,
  cache: DnsCache,
  e: CacheEntry,
  age: number,
  query: Buffer,
  view: QueryView,
  limit: number,
  stats: CacheRequestStats,
): number {
  if (age < e.ttl * 1000) return writeReplyFromAnswer(out, base, e, query, view, (age / 1000) | 0, limit, true);
  stats.cacheServedStale++;
  cache.counters[C_STALE]!++;
  return writeReplyFromAnswer(out, base, e, query, view, 0, limit, true, STALE_TTL);
}
