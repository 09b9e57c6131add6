// Keeps the agent's RSS under its memory budget (config/memory-limit.ts) so the kernel's OOM
// killer never has to: past the budget the process dies and, without the supervisor, every pod on
// the node loses DNS. RSS is sampled every 250 ms (one read of /proc/self/stat by libuv, ~2 µs)
// while the event loop has work, once a second on the agent's shared tick while it is quiet, at
// every metrics scrape and every 128 queries added upstream. Three levels:
//   ok        RSS under 85 % of the budget: nothing to do.
//   pressure  RSS at 85 % or more: the caches stop taking new keys and the bound on queries
//             pending upstream drops to an eighth (misses past it are answered SERVFAIL at once,
//             or stale, and counted), so a flood of misses stops adding to what is held; the
//             queries already pending past that bound are ended (SERVFAIL, counted as shed), and
//             when that was many, or RSS is at 95 %, a full GC gives their memory back (once a
//             second at most); else one every 2 s while RSS stays above 80 %, since after a burst
//             V8 and malloc keep what they grew and RSS would never come down to let pressure end.
//   over      RSS at the budget or more: a full GC, malloc_trim and the executable's clean pages
//             released (at most once a second; a flood's garbage, not the cache, is usually what
//             grew), and if RSS is still over, least recently used cache entries are evicted, as
//             many bytes as RSS is above 80 %, down to a reserve of the most recently used 4 MiB.
// Back to ok once RSS has stayed under 80 % for 2 s: the gap and the wait keep it from flapping
// at the threshold (each swing would drop and refill the pending bound).
// V8's own heap limit (sized from the same budget by src/supervise.sh) is a second wall: past it
// V8 aborts the process, whatever RSS is. A 200k-name flood against a blackholed upstream under a
// 27 MiB old space did that within 3 s at 87 MiB RSS. So the heap counts too: 85 % of the heap
// limit in use is "the budget" for it, with the same 85 % / 80 % lines below that.
// Why 85 %: at 90 % a 10k/s flood took RSS from 86 to 97-98 MiB (budget 96) before the first
// reaction took effect; the 128Mi test needs the 10 MiB.
import { getHeapStatistics } from 'node:v8';
import { formatBytes, type MemoryBudget } from '../config/memory-limit.js';
import type { DnsCache } from '../cache/cache.js';
import type { Family } from '../observe/exposition.js';
import type { Logger } from '../observe/log.js';
import { Paced } from '../observe/second-tick.js';
import { loopShare } from '../observe/loop-lag.js';
import { processHooks } from './memory-trim.js';
import type { PendingBudget } from '../resolve/pending-budget.js';

export const SAMPLE_INTERVAL_MS = 250;
/**
 * Below this share of the event loop busy since the last sample, at the ok level, samples come
 * once a second on the agent's shared tick (observe/second-tick.ts) instead: an agent that idle
 * grows by nothing in a second, and four wake-ups a second of its own cost an idle agent under a
 * memory limit (the manifests set one) ~0.3 ms of CPU a second on a VM. A flood makes the loop
 * busy and brings the 250 ms pace back at the next second; a flood of misses is sampled at once
 * anyway, every 128 queries added upstream.
 */
export const QUIET_SHARE = 0.01;
/** The shared tick's period. */
export const QUIET_SAMPLE_INTERVAL_MS = 1_000;
export const PRESSURE_SHARE = 0.85;
export const RELIEF_SHARE = 0.8;
export const RELIEF_HOLD_MS = 2_000;
/** A full GC of a 50-100 MiB heap stops the event loop for 20-60 ms: no more than once a second. */
export const GC_MIN_INTERVAL_MS = 1_000;
/** Under pressure with RSS above the relief line, the give-back GC's period. */
export const PRESSURE_GC_INTERVAL_MS = 2_000;
/** Under pressure the pending bound is this share of -max-pending, but not below MIN_SQUEEZED. */
export const SQUEEZE_DIVISOR = 8;
export const MIN_SQUEEZED = 32;
/** Pending queries ended at once that make a full GC worth its pause under mere pressure. */
export const MANY_ENDED = 256;
/**
 * Under pressure and this near the budget, a full GC (once a second at most) without waiting to
 * be over: during a 10k/s flood of misses RSS otherwise sat at 92-98 % of the budget for 5 s.
 */
export const NEAR_SHARE = 0.95;
/**
 * What eviction leaves in the caches, bytes of their own measure (~9,000 entries): the most
 * recently used names are what pods keep asking, and what is still answered while an upstream is
 * down. A flood of misses grows RSS through its garbage and pending queries, not through the
 * cache; emptying a small cache would not bring RSS back and would only fail those names.
 */
export const CACHE_RESERVE = 4 << 20;
/** Share of V8's heap limit in use that counts as the whole budget. */
export const HEAP_SHARE = 0.85;

export const LEVEL_OK = 0;
export const LEVEL_PRESSURE = 1;
export const LEVEL_OVER = 2;
const LEVEL_NAMES = ['ok', 'pressure', 'over'];

export interface GuardHooks {
  rss(): number;
  /** V8 heap in use and its limit, bytes. */
  heap(): { used: number; limit: number };
  now(): number;
  /** Share of the time since the previous call the event loop was busy (0..1). */
  loopShare(): number;
  /** A full collection, or null when the runtime has none exposed (node without --expose-gc). */
  gc: (() => void) | null;
  /** malloc_trim(0), or null without the batch addon. */
  trim: (() => number) | null;
  /** The node executable's clean pages out of RSS (memory-trim.ts), or null without the addon. */
  release: (() => number) | null;
}

export function processGuardHooks(): GuardHooks {
  const h = processHooks();
  return {
    rss: () => process.memoryUsage.rss(),
    heap: () => {
      const s = getHeapStatistics();
      return { used: s.used_heap_size, limit: s.heap_size_limit };
    },
    now: () => performance.now(),
    loopShare: loopShare(),
    gc: h.gc,
    trim: h.trim,
    release: h.release,
  };
}

export class MemoryGuard {
  level = LEVEL_OK;
  /** The last RSS sampled, bytes. */
  rss = 0;
  peakRss = 0;
  /** Cache entries evicted because RSS was over the budget. */
  evictions = 0;
  /** Full collections asked for under pressure. */
  collections = 0;
  /** Times the agent went from ok to pressure or over. */
  episodes = 0;
  /** SAMPLE_INTERVAL_MS, or QUIET_SAMPLE_INTERVAL_MS on the agent's shared second tick; 0 while stopped. */
  private readonly pace = new Paced(() => this.tick(), SAMPLE_INTERVAL_MS);
  private lastGc = Number.NEGATIVE_INFINITY;
  /** Since when RSS has been under the relief line (NaN while it is not). */
  private reliefSince = Number.NaN;

  constructor(
    readonly budget: MemoryBudget,
    private readonly caches: () => DnsCache[],
    private readonly pending: PendingBudget,
    private readonly log: Logger,
    /** Ends up to `n` queries pending upstream at once (SERVFAIL to their clients); returns how many. */
    private readonly endPending: (n: number) => number,
    private readonly hooks: GuardHooks = processGuardHooks(),
  ) {}

  get enabled(): boolean {
    return this.budget.budget > 0;
  }

  start(): void {
    if (!this.enabled || this.pace.ms !== 0) return;
    this.hooks.loopShare();
    this.pace.quick();
    this.pending.onGrowth = () => this.sample();
    this.sample();
  }

  stop(): void {
    this.pace.stop();
    this.pending.onGrowth = null;
  }

  /** The sampling period now, 0 when stopped (tests). */
  get sampleMs(): number {
    return this.pace.ms;
  }

  /** The timer's sample, which also sets the pace of the next one. */
  tick(): void {
    this.sample();
    const quiet = this.hooks.loopShare() < QUIET_SHARE;
    if (quiet && this.level === LEVEL_OK) this.pace.slow();
    else this.pace.quick();
  }

  /** One sample and whatever it calls for; the timer's and a scrape's. */
  sample(): void {
    if (!this.enabled) return;
    const budget = this.budget.budget;
    let rss = this.read();
    let use = this.use(rss);
    const now = this.hooks.now();
    if (use >= PRESSURE_SHARE) {
      this.reliefSince = Number.NaN;
      if (this.level === LEVEL_OK) this.enter(rss);
      this.level = use >= 1 ? LEVEL_OVER : LEVEL_PRESSURE;
    } else if (this.level !== LEVEL_OK) {
      if (use >= RELIEF_SHARE) this.reliefSince = Number.NaN;
      else if (Number.isNaN(this.reliefSince)) this.reliefSince = now;
      else if (now - this.reliefSince >= RELIEF_HOLD_MS) return this.leave(rss);
      if (this.level === LEVEL_OVER) this.level = LEVEL_PRESSURE;
    }
    if (this.level === LEVEL_OK) return;
    // A cache made by a reload during the pressure starts out admitting.
    for (const c of this.caches()) c.admitting = false;
    // The queries pending past the squeezed bound were admitted before the pressure (a flood fills
    // 4,096 slots in 0.4 s) and would hold their memory up to the 5 s deadline.
    const p = this.pending;
    const ended = p.used > p.squeezed ? this.endPending(p.used - p.squeezed) : 0;
    p.shedByMemory += ended;
    const urgent = this.level === LEVEL_OVER || ended >= MANY_ENDED || use >= NEAR_SHARE;
    const since = now - this.lastGc;
    if (this.hooks.gc !== null && (urgent ? since >= GC_MIN_INTERVAL_MS : use >= RELIEF_SHARE && since >= PRESSURE_GC_INTERVAL_MS)) {
      this.lastGc = now;
      this.collections++;
      this.hooks.gc();
      this.hooks.trim?.();
      this.hooks.release?.();
      rss = this.read();
      use = this.use(rss);
    }
    if (this.level !== LEVEL_OVER || use < 1) return;
    // Bring the fuller of the two back to the relief line.
    const heap = this.hooks.heap();
    this.evict(Math.max(rss - budget * RELIEF_SHARE, heap.used - heap.limit * HEAP_SHARE * RELIEF_SHARE));
  }

  /** The fuller of RSS against the budget and the V8 heap against HEAP_SHARE of its limit (1 = full). */
  private use(rss: number): number {
    const heap = this.hooks.heap();
    return Math.max(rss / this.budget.budget, heap.used / (heap.limit * HEAP_SHARE));
  }

  private read(): number {
    const rss = this.hooks.rss();
    this.rss = rss;
    if (rss > this.peakRss) this.peakRss = rss;
    return rss;
  }

  private enter(rss: number): void {
    this.episodes++;
    for (const c of this.caches()) c.admitting = false;
    const p = this.pending;
    p.squeezed = Math.min(p.limit, Math.max(MIN_SQUEEZED, Math.floor(p.limit / SQUEEZE_DIVISOR)));
    this.log.warn('memory pressure: caches take no new names, fewer misses wait upstream', {
      rss: formatBytes(rss),
      budget: formatBytes(this.budget.budget),
      maxPending: p.squeezed,
    });
  }

  private leave(rss: number): void {
    this.level = LEVEL_OK;
    this.reliefSince = Number.NaN;
    for (const c of this.caches()) c.admitting = true;
    this.pending.squeezed = this.pending.limit;
    this.log.info('memory pressure over', { rss: formatBytes(rss), budget: formatBytes(this.budget.budget), evictions: this.evictions, shed: this.pending.shedByMemory });
  }

  /** Evict `bytes` (the caches' own measure) over the caches, in proportion to what each holds. */
  private evict(bytes: number): void {
    const caches = this.caches();
    const total = caches.reduce((n, c) => n + c.bytes(), 0);
    const take = Math.min(bytes, total - CACHE_RESERVE);
    if (take <= 0) return;
    for (const c of caches) this.evictions += c.shrink(Math.ceil((take * c.bytes()) / total));
  }

  /** The guard's metric families, for the agent's registry. */
  families(): Family[] {
    const one = (value: number) => [{ labels: '', value }];
    return [
      { name: 'nodelocaldns_memory_limit_bytes', help: 'The memory limit in force (-memory-limit, else the cgroup\'s); 0 when there is none.', type: 'gauge', collect: () => one(this.budget.limit) },
      { name: 'nodelocaldns_memory_budget_bytes', help: 'RSS the agent keeps under (-memory-budget-percent of the limit); 0 when there is no limit.', type: 'gauge', collect: () => one(this.budget.budget) },
      {
        name: 'nodelocaldns_memory_rss_bytes',
        help: 'Resident set size of the serving process, read at the scrape.',
        type: 'gauge',
        collect: () => {
          if (this.enabled) this.sample();
          else this.read();
          return one(this.rss);
        },
      },
      { name: 'nodelocaldns_memory_pressure', help: 'Memory pressure: 0 ok, 1 over 85 % of the budget (no new cache entries, smaller pending bound), 2 over the budget (cache evicted).', type: 'gauge', collect: () => one(this.level) },
      { name: 'nodelocaldns_memory_pressure_evictions_total', help: 'Cache entries evicted because RSS was over the memory budget.', type: 'counter', collect: () => one(this.evictions) },
      { name: 'nodelocaldns_memory_shed_queries_total', help: 'Cache misses answered SERVFAIL (or stale) at once, or ended while pending upstream, because memory pressure had lowered the pending bound.', type: 'counter', collect: () => one(this.pending.shedByMemory) },
    ];
  }

  get levelName(): string {
    return LEVEL_NAMES[this.level]!;
  }
}
