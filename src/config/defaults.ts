// Defaults as CoreDNS documents them, so an empty `cache` or `forward` behaves as there.
import type { CacheConfig, ForwardConfig, UpstreamAddress } from './types.js';

export const DEFAULT_CAPACITY = 9984; // CoreDNS rounds 10000 down to a multiple of its 256 shards
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024; // per partition; keeps RSS bounded (OOM → leftover rules)

export function defaultCacheConfig(): CacheConfig {
  return {
    zones: [],
    successCapacity: DEFAULT_CAPACITY,
    successMaxTtl: 3600,
    successMinTtl: 5,
    denialCapacity: DEFAULT_CAPACITY,
    denialMaxTtl: 1800,
    denialMinTtl: 5,
    servfailTtl: 5,
    disableSuccess: false,
    disableDenial: false,
    keepTtl: false,
    prefetch: null,
    serveStale: null,
    maxBytes: DEFAULT_MAX_BYTES,
  };
}

/** node-cache's template: `cache 30` (both partitions capped at 30 s). */
export function nodeCacheCacheConfig(maxTtl = 30): CacheConfig {
  return { ...defaultCacheConfig(), successMaxTtl: maxTtl, denialMaxTtl: maxTtl };
}

export function defaultForwardConfig(from: string, to: UpstreamAddress[]): ForwardConfig {
  return {
    from,
    to,
    except: [],
    forceTcp: false,
    preferUdp: false,
    expireMs: 10_000,
    maxFails: 2,
    healthCheckMs: 500,
    healthCheckNoRec: false,
    healthCheckDomain: '.',
    policy: 'random',
    maxConcurrent: 0,
    attemptTimeoutMs: 2_000,
    deadlineMs: 5_000,
    maxConnsPerUpstream: 4,
    // An upstream serves one TCP connection on one worker thread (knot, and CoreDNS's reader per
    // connection): one connection with 500 queries queued ran at ~0.5x unbound's miss qps, so a
    // second connection opens only once 256 wait on the first one.
    maxInflightPerConn: 256,
  };
}
