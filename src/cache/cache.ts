// The wire-level cache: two true-LRU partitions (success, denial) with an entry cap and a byte
// budget each. Entries hold the prepared answer; a hit is a Map lookup and a freshness check.
// TTL rules follow CoreDNS plugin/cache, with RFC 2308 §5 for denials (min(SOA TTL, MINIMUM)).
import { LRUCache } from 'lru-cache';
import type { CacheConfig } from '../config/types.js';
import {
  KIND_DENIAL,
  KIND_SERVFAIL,
  KIND_SUCCESS,
  type AnswerKind,
  type PreparedAnswer,
} from '../dns/answer.js';
import type { AnswerWire } from '../dns/reply.js';
import { keyQname, wireNameToString } from '../dns/wire.js';

export const MAX_SERVFAIL_TTL = 300;
/** Fixed per-entry overhead beyond the wire bytes, for the byte budget (measured in bench/). */
const ENTRY_OVERHEAD = 200;

export interface CacheEntry extends AnswerWire {
  key: string;
  kind: AnswerKind;
  rcode: number;
  storedAt: number; // ms, from the cache's clock
  ttl: number; // seconds the entry is fresh
  expiresAt: number; // ms
  staleUntil: number; // ms; equal to expiresAt without serve_stale
  origTtls: Uint32Array;
  size: number;
  hits: number;
  lastHitAt: number;
  refreshing: boolean; // a prefetch or stale refresh is in flight
  refreshFailedAt: number; // ms of the last failed refresh (RFC 8767 §4: 30 s); -Infinity if none
}

/** Counter slots in DnsCache.counters (published as coredns_cache_* at scrape time). */
export const C_HITS_SUCCESS = 0;
export const C_HITS_DENIAL = 1;
export const C_MISSES = 2;
export const C_DROPS = 3;
export const C_EVICT_SUCCESS = 4;
export const C_EVICT_DENIAL = 5;
export const C_PREFETCH = 6;
export const C_STALE = 7;
export const C_REQUESTS = 8;
const N_COUNTERS = 9;

export type Clock = () => number;

const ORIGIN = performance.timeOrigin;
/**
 * The default cache clock, in ms: monotonic (an NTP step of the wall clock must not expire or
 * resurrect the whole cache), and derived from performance.now() so the hit path can reuse the
 * one reading it takes for the request duration (`nowAt`).
 */
export const monotonicMs: Clock = () => ORIGIN + performance.now();

export class DnsCache {
  readonly config: CacheConfig;
  readonly counters = new Float64Array(N_COUNTERS);
  readonly now: Clock;
  private readonly success: LRUCache<string, CacheEntry> | null;
  private readonly denial: LRUCache<string, CacheEntry> | null;

  /** Whether `now` is the default clock, so `nowAt` can skip reading it again. */
  private readonly monotonic: boolean;

  constructor(config: CacheConfig, now: Clock = monotonicMs) {
    this.config = config;
    this.now = now;
    this.monotonic = now === monotonicMs;
    this.success = disabledEverywhere(config.disableSuccess, config.disableSuccessZones) ? null : this.partition(config.successCapacity, C_EVICT_SUCCESS);
    // SERVFAILs live with the denials, as in CoreDNS (ncache).
    this.denial =
      disabledEverywhere(config.disableDenial, config.disableDenialZones) && config.servfailTtl === 0 ? null : this.partition(config.denialCapacity, C_EVICT_DENIAL);
  }

  /** The cache time at `perfNow` (a performance.now() reading just taken); an injected clock is asked. */
  nowAt(perfNow: number): number {
    return this.monotonic ? ORIGIN + perfNow : this.now();
  }

  private partition(capacity: number, evictSlot: number): LRUCache<string, CacheEntry> {
    const counters = this.counters;
    return new LRUCache<string, CacheEntry>({
      max: Math.max(1, capacity),
      maxSize: Math.max(1024, this.config.maxBytes),
      sizeCalculation: (e) => e.size,
      dispose: (_v, _k, reason) => {
        if (reason === 'evict') counters[evictSlot]!++;
      },
    });
  }

  /** The entry for `key`, fresh or not (the caller decides on stale); undefined if none. */
  get(key: string): CacheEntry | undefined {
    return this.success?.get(key) ?? this.denial?.get(key);
  }

  /** Store an upstream answer under the cache's rules; returns the entry, or null if not cacheable. */
  insert(key: string, a: PreparedAnswer): CacheEntry | null {
    if (a.truncated) return null;
    const cfg = this.config;
    let ttl: number;
    let part: LRUCache<string, CacheEntry> | null;
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
    const now = this.now();
    // Served TTLs are capped at the entry's TTL; when none is above it (the usual case) the
    // upstream's array serves as is (neither is ever written after this), one allocation less per miss.
    let servedTtls = a.ttls;
    if (!cfg.keepTtl) {
      for (let i = 0; i < a.ttls.length; i++) {
        if (a.ttls[i]! <= ttl) continue;
        servedTtls = new Uint32Array(a.ttls.length);
        for (let j = 0; j < a.ttls.length; j++) servedTtls[j] = Math.min(a.ttls[j]!, ttl);
        break;
      }
    }
    const expiresAt = now + ttl * 1000;
    const entry: CacheEntry = {
      key,
      wire: a.wire,
      ttlOffsets: a.ttlOffsets,
      servedTtls,
      origTtls: a.ttls,
      kind: a.kind,
      rcode: a.rcode,
      storedAt: now,
      ttl,
      expiresAt,
      staleUntil: cfg.serveStale && a.kind !== KIND_SERVFAIL ? expiresAt + cfg.serveStale.durationMs : expiresAt,
      size: a.wire.length + a.ttlOffsets.length * 10 + key.length + ENTRY_OVERHEAD,
      hits: 0,
      lastHitAt: now,
      refreshing: false,
      refreshFailedAt: Number.NEGATIVE_INFINITY,
    };
    // A key lives in one partition: drop a previous answer of the other kind.
    (part === this.success ? this.denial : this.success)?.delete(key);
    part.set(key, entry);
    return entry;
  }

  delete(key: string): void {
    this.success?.delete(key);
    this.denial?.delete(key);
  }

  entries(kind: 'success' | 'denial'): number {
    return (kind === 'success' ? this.success?.size : this.denial?.size) ?? 0;
  }

  bytes(): number {
    return (this.success?.calculatedSize ?? 0) + (this.denial?.calculatedSize ?? 0);
  }

  clear(): void {
    this.success?.clear();
    this.denial?.clear();
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

export { KIND_DENIAL, KIND_SERVFAIL, KIND_SUCCESS };

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
