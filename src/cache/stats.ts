// What the request path counts about the cache for one (listener, zone): CoreDNS's
// coredns_cache_{requests,hits,misses,served_stale}_total carry the server label, so they are
// counted where a query is answered (resolve/), on the per-zone stats object, which extends this.
import { KIND_SUCCESS } from '../dns/answer.js';
import type { CacheEntry } from './cache.js';

export class CacheRequestStats {
  cacheHitsSuccess = 0;
  cacheHitsDenial = 0;
  cacheMisses = 0;
  cacheServedStale = 0;

  constructor(
    readonly server: string, // "dns://127.0.0.1:5353"
    readonly zone: string, // "cluster.local."
  ) {}

  /** A fresh or servable-stale entry was found: a hit, as CoreDNS counts stale answers too. */
  hit(e: CacheEntry): void {
    if (e.kind === KIND_SUCCESS) this.cacheHitsSuccess++;
    else this.cacheHitsDenial++;
  }
}
