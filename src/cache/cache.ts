// The wire-level cache: two true-LRU partitions (success, denial) with an entry cap and a byte
// budget each (store.ts). Entries hold the prepared answer; a hit is a probe of the partition's
// hash table with the parsed query and a freshness check.
// TTL rules follow CoreDNS plugin/cache, with RFC 2308 §5 for denials (min(SOA TTL, MINIMUM)).
import type { CacheConfig } from '../config/types.js';
import {
  KIND_DENIAL,
  KIND_SERVFAIL,
  KIND_SUCCESS,
  type PreparedAnswer,
} from '../dns/answer.js';
import { OWN_TTLS, PackedAnswer } from '../dns/packed.js';
import { hashKeyString } from '../dns/key-hash.js';
import { keyQname } from '../dns/key.js';
import { wireNameToString, type ParsedQuery } from '../dns/wire.js';
import { LruStore, keyOf } from './store.js';

export const MAX_SERVFAIL_TTL = 300;
/**
 * Per-entry memory beyond the packed data (the answer, then the key), for the byte budget: the
 * string's header, the entry object, its boxed storedAt, and the store's slot arrays, hash table
 * and copy of the key in words (store.ts). bench/cache-bench.mjs measured 411 B per entry at 10k
 * entries for 105 B of packed data (a 69 B A answer and its 36 B key): 341 B before the store
 * kept the key's words (68 B a slot).
 */
const ENTRY_OVERHEAD = 306;

/**
 * Bound of the relative times (12.4 days): a small integer on every V8 build. An entry's ages
 * are clamped to it, so the cache holds no entry longer (`insert` caps TTL + serve_stale window).
 */
export const MAX_AGE_MS = 2 ** 30 - 1;
export const NO_FAILURE = -(2 ** 30);

/**
 * `d` ms as a small integer, clamped to ±MAX_AGE_MS: only an entry held longer than that
 * (TTL + serve_stale window) is affected, and then only its prefetch hit count restarts.
 */
function relativeMs(d: number): number {
  return (d >= MAX_AGE_MS ? MAX_AGE_MS : d <= -MAX_AGE_MS ? -MAX_AGE_MS : Math.floor(d)) | 0;
}

/**
 * One cached answer: the packed wire (one string) plus the cache's bookkeeping. Every field is
 * set in the constructor in one order, so all entries share one V8 shape; the expiry times are
 * derived from storedAt instead of stored, and the others kept relative to it, so storedAt is the
 * only boxed double per entry.
 */
export class CacheEntry extends PackedAnswer {
  /** Seconds the entry is fresh. */
  readonly ttl: number;
  /** ms, from the cache's clock. */
  readonly storedAt: number;
  /** ms an expired entry stays servable (serve_stale DURATION); 0 without serve_stale. */
  readonly staleMs: number;
  hits = 0;
  /** A prefetch or stale refresh is in flight. */
  refreshing = false;
  // The two mutable times are kept as whole ms relative to storedAt: small integers live in the
  // object itself, where an absolute ms value would be a separately allocated double per entry,
  // and the hit path's policy (policy.ts) compares them with the entry's age, an integer too.
  /** ms after storedAt of the last hit (CoreDNS freq). */
  lastHitAge = 0;
  /** ms after storedAt of the last failed refresh; NO_FAILURE if none. */
  failedAge = NO_FAILURE;

  constructor(key: string, a: PreparedAnswer, ttl: number, uniformTtl: number, storedAt: number, staleMs: number) {
    super(a, uniformTtl, key);
    this.ttl = ttl;
    this.storedAt = storedAt;
    this.staleMs = staleMs;
  }

  /** The cache key, kept at the end of `data` (slow paths: a refresh, a store update, tests). */
  get key(): string {
    return keyOf(this);
  }

  /** Bytes charged to the byte budget (the store asks once per set and keeps the figure itself). */
  get size(): number {
    return this.data.length + ENTRY_OVERHEAD;
  }

  /** The entry's age at cache time `now`, in whole ms (slow paths; the hit path computes it inline). */
  ageAt(now: number): number {
    return relativeMs(now - this.storedAt);
  }

  /** ms of age past which the entry can no longer answer (TTL plus the serve_stale window). */
  get lifetimeMs(): number {
    return this.ttl * 1000 + this.staleMs;
  }

  /** ms of the last hit (CoreDNS freq), to the ms below. */
  get lastHitAt(): number {
    return this.storedAt + this.lastHitAge;
  }

  set lastHitAt(ms: number) {
    this.lastHitAge = relativeMs(ms - this.storedAt);
  }

  /** ms of the last failed refresh (RFC 8767 §4: 30 s); -Infinity if none. */
  get refreshFailedAt(): number {
    return this.failedAge === NO_FAILURE ? Number.NEGATIVE_INFINITY : this.storedAt + this.failedAge;
  }

  set refreshFailedAt(ms: number) {
    this.failedAge = ms === Number.NEGATIVE_INFINITY ? NO_FAILURE : relativeMs(ms - this.storedAt);
  }

  /** ms when the entry stops being fresh. */
  get expiresAt(): number {
    return this.storedAt + this.ttl * 1000;
  }

  /** ms until which the entry may be answered stale; equal to expiresAt without serve_stale. */
  get staleUntil(): number {
    return this.storedAt + this.ttl * 1000 + this.staleMs;
  }
}

/**
 * Counter slots in DnsCache.counters (published as coredns_cache_* at scrape time). Requests,
 * hits and misses are counted per (listener, zone) in resolve/stats.ts, where the hit path is.
 */
export const C_DROPS = 0;
export const C_EVICT_SUCCESS = 1;
export const C_EVICT_DENIAL = 2;
export const C_PREFETCH = 3;
export const C_STALE = 4;
const N_COUNTERS = 5;

export type Clock = () => number;

export const CLOCK_ORIGIN = performance.timeOrigin;
/**
 * The default cache clock, in ms: monotonic (an NTP step of the wall clock must not expire or
 * resurrect the whole cache), and derived from performance.now() so the hit path can reuse the
 * one reading it takes for the request duration (CLOCK_ORIGIN + that reading, when `monotonic`).
 */
export const monotonicMs: Clock = () => CLOCK_ORIGIN + performance.now();

export class DnsCache {
  readonly config: CacheConfig;
  readonly counters = new Float64Array(N_COUNTERS);
  readonly now: Clock;
  private readonly success: LruStore<CacheEntry> | null;
  private readonly denial: LruStore<CacheEntry> | null;

  /**
   * False while the agent is over its memory budget (agent/memory-guard.ts): new keys are not
   * stored, an answer for a key already held still replaces it.
   */
  admitting = true;

  /** Whether `now` is the default clock, so the hit path can skip reading it again. */
  readonly monotonic: boolean;

  constructor(config: CacheConfig, now: Clock = monotonicMs) {
    this.config = config;
    this.now = now;
    this.monotonic = now === monotonicMs;
    this.success = disabledEverywhere(config.disableSuccess, config.disableSuccessZones) ? null : this.partition(config.successCapacity, C_EVICT_SUCCESS);
    // SERVFAILs live with the denials, as in CoreDNS (ncache).
    this.denial =
      disabledEverywhere(config.disableDenial, config.disableDenialZones) && config.servfailTtl === 0 ? null : this.partition(config.denialCapacity, C_EVICT_DENIAL);
  }

  private partition(capacity: number, evictSlot: number): LruStore<CacheEntry> {
    return new LruStore<CacheEntry>(Math.max(1, capacity), Math.max(1024, this.config.maxBytes), this.counters, evictSlot);
  }

  /** The hit path: the entry for a parsed query's key (hashed while parsing), fresh or not; undefined if none. */
  lookup(q: ParsedQuery): CacheEntry | undefined {
    const s = this.success;
    if (s !== null) {
      const e = s.lookup(q);
      if (e !== undefined) return e;
    }
    return this.denial !== null ? this.denial.lookup(q) : undefined;
  }

  /** The entry for `key`, fresh or not (the caller decides on stale); undefined if none. */
  get(key: string): CacheEntry | undefined {
    const h = hashKeyString(key);
    return this.success?.get(key, h) ?? this.denial?.get(key, h);
  }

  /** Store an upstream answer under the cache's rules; returns the entry, or null if not cacheable. */
  insert(key: string, a: PreparedAnswer): CacheEntry | null {
    if (a.truncated) return null;
    const cfg = this.config;
    let ttl: number;
    let part: LruStore<CacheEntry> | null;
    if (a.kind === KIND_SUCCESS) {
      if (a.minTtl < 0 || (cfg.disableSuccess && disabledFor(key, cfg.disableSuccessZones))) return null;
      ttl = clamp(a.minTtl, cfg.successMinTtl, cfg.successMaxTtl);
      part = this.success;
    } else if (a.kind === KIND_DENIAL) {
      if (!a.hasSoa || (cfg.disableDenial && disabledFor(key, cfg.disableDenialZones))) return null;
      ttl = clamp(a.minTtl, cfg.denialMinTtl, cfg.denialMaxTtl);
      part = this.denial;
    } else if (a.kind === KIND_SERVFAIL) {
      if (cfg.servfailTtl <= 0) return null;
      ttl = Math.min(cfg.servfailTtl, MAX_SERVFAIL_TTL);
      part = this.denial;
    } else {
      return null;
    }
    if (!part || ttl <= 0) return null;
    const h = hashKeyString(key);
    if (!this.admitting && !this.success?.has(key, h) && !this.denial?.has(key, h)) return null;
    // Ages are small integers up to MAX_AGE_MS: no entry may outlive that (12.4 days).
    ttl = Math.min(ttl, Math.floor(MAX_AGE_MS / 1000) - 1);
    let staleMs = cfg.serveStale && a.kind !== KIND_SERVFAIL ? cfg.serveStale.durationMs : 0;
    staleMs = Math.min(staleMs, MAX_AGE_MS - 1 - ttl * 1000);
    const entry = new CacheEntry(key, a, ttl, cfg.keepTtl ? OWN_TTLS : ttl, this.now(), staleMs);
    // A key lives in one partition: drop a previous answer of the other kind.
    (part === this.success ? this.denial : this.success)?.delete(key, h);
    part.set(h, entry, entry.size);
    return entry;
  }

  /**
   * Evict least recently used entries, from the larger partition first, until `bytes` of the
   * byte budget's measure are freed or the cache is empty; returns the entries evicted (counted
   * as evictions too).
   */
  shrink(bytes: number): number {
    const start = this.bytes();
    let n = 0;
    while (start - this.bytes() < bytes) {
      const s = this.success?.bytes ?? 0;
      const d = this.denial?.bytes ?? 0;
      const part = s >= d ? this.success : this.denial;
      if (part === null || part.count === 0 || part.pop() === undefined) break;
      n++;
    }
    return n;
  }

  delete(key: string): void {
    const h = hashKeyString(key);
    this.success?.delete(key, h);
    this.denial?.delete(key, h);
  }

  entries(kind: 'success' | 'denial'): number {
    return (kind === 'success' ? this.success?.count : this.denial?.count) ?? 0;
  }

  bytes(): number {
    return (this.success?.bytes ?? 0) + (this.denial?.bytes ?? 0);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** `disable success|denial` with no zones (or the root) covers the whole block. */
function disabledEverywhere(disabled: boolean, zones: string[] | undefined): boolean {
  return disabled && (!zones || zones.length === 0 || zones.includes('.'));
}

/** Whether the key's name is at or under one of `zones` (slow path: inserts only). */
function disabledFor(key: string, zones: string[] | undefined): boolean {
  if (!zones || zones.length === 0) return true;
  const name = wireNameToString(keyQname(key));
  return zones.some((z) => z === '.' || name === z || name.endsWith('.' + z));
}
