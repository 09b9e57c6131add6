// Gives memory back after a burst. Under a flood of misses V8 grows its heap and the Buffers'
// malloc'd backing stores pile up; once the load ends V8 often keeps the grown heap (its memory
// reducer did not run in half of the bench's 200k-datagram runs, and the image now turns it off:
// it took a hit load, which allocates almost nothing, for idleness and ran full GCs in the middle
// of it, bench/hot-path.md), and glibc keeps the freed pages of a fragmented arena mapped, so RSS
// stayed 15-30 MiB above a fresh agent holding the same cache (bench/memory.md). Every 10 s: if the V8 heap is well above where the last collection
// left it and has stopped growing, one full GC (only where node runs with --expose-gc, as the
// image does), or if it has stayed a little above that size for a minute (slow growth), either
// only while the event loop is calm; then malloc_trim(0) through the batch addon.
// Once serving, the node executable's clean pages leave the resident set (the addon's
// releaseExecutablePages): at start they were 42 of the agent's 70 MiB of RSS, read while booting
// and mostly never again; the ones the agent uses fault back in from the page cache. Only then,
// and under memory pressure (memory-guard.ts): released every 10 s, the pages in use kept faulting
// back and the bench's hit path lost 15 % of its max qps and doubled its p99 (2026-12-02).
import { nativeUdp } from '../listen/native.js';
import { loopShare } from '../observe/loop-lag.js';

/** Often enough that memory is back within 30 s of a burst's end. */
export const TRIM_INTERVAL_MS = 10_000;
/** Heap growth past the last settled size that is worth a full GC (~10-20 ms on such a heap). */
export const SHRINK_SLACK = 8 << 20;
/**
 * Slow growth: a heap that stays this far above its settled size for CREEP_ROUNDS rounds in a row
 * gets a full GC too. Under a light steady load (the incident soak: ~120 queries/s, a few misses a
 * second, an upstream reconnect a minute) the heap never grows by SHRINK_SLACK at once, V8 left
 * its garbage in place for minutes, and RSS rose ~0.5 MiB a minute for the 10 minutes measured.
 * At most one such GC a minute (a few ms on a ~10 MiB heap); a hit allocates nothing, so a hit
 * load never triggers it.
 */
export const CREEP_SLACK = 2 << 20;
export const CREEP_ROUNDS = 6;

export interface TrimHooks {
  /** V8's committed heap, bytes. */
  heapTotal(): number;
  /** A full collection, or null when the runtime has none exposed. */
  gc: (() => void) | null;
  /** malloc_trim(0), or null without the addon. */
  trim: (() => number) | null;
  /** Unmap the executable's clean pages (bytes of the mappings released), or null without the addon. */
  release: (() => number) | null;
  /** Whether the event loop was busy since the last call (a full GC now would stall answers). */
  busy: () => boolean;
  /**
   * Calls `done` with whether the loop is calm now (see CALM_SHARE), measured over a short window
   * from this call; returns a cancel. Absent: the round's `busy` decides alone.
   */
  whenCalm?: (done: (calm: boolean) => void) => () => void;
}

/**
 * Event-loop utilization over a round above which the full GC waits for a calmer round. A full
 * GC stops the agent for ~5-15 ms on a 10-15 MiB heap (a 13.8 ms pause in the bench's 40k-qps hit
 * phase, against ~0.5 ms for its scavenges); a busy agent answering hits allocates nothing, so waiting
 * costs no memory, and under a miss flood V8 collects on its own while the memory guard handles
 * a limit. At 40k qps of hits the agent's main thread is on a CPU ~40 % of the time here (3.5-4.5 s of
 * CPU in 10 s), under the incident soak's 120 queries/s well under 1 %.
 */
export const BUSY_UTILIZATION = 0.25;

/**
 * A round is ten seconds, and a calm average can end in a busy second: in the bench's alternating
 * rounds an agent idle for most of a round had its full GC land in the first seconds of a 40k-qps
 * phase (a 13.7 ms atomic mark-compact; answers waited behind it). So a due GC also waits for the
 * loop to be calm over CALM_WINDOW_MS from the decision: at most CALM_SHARE of it busy, about a
 * thousand hits a second here, where a ~14 ms stall holds up a dozen queries.
 */
export const CALM_WINDOW_MS = 1_000;
export const CALM_SHARE = 0.02;

export function processHooks(): TrimHooks {
  const mod = nativeUdp().mod;
  const gc = (globalThis as { gc?: () => void }).gc;
  const share = loopShare();
  return {
    heapTotal: () => process.memoryUsage().heapTotal,
    gc: typeof gc === 'function' ? () => gc() : null,
    trim: mod !== null && typeof mod.trim === 'function' ? () => mod.trim() : null,
    release: mod !== null && typeof mod.releaseExecutablePages === 'function' ? () => mod.releaseExecutablePages() : null,
    busy: () => share() > BUSY_UTILIZATION,
    whenCalm: (done) => {
      const window = loopShare();
      const timer = setTimeout(() => done(window() <= CALM_SHARE), CALM_WINDOW_MS);
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}

export class MemoryTrimmer {
  private timer: NodeJS.Timeout | null = null;
  /** Heap size after the last collection we asked for (or the lowest seen since). */
  private settled: number;
  private last: number;
  /** Rounds in a row the heap has stayed CREEP_SLACK above the settled size. */
  private creeping = 0;
  collections = 0;
  releases = 0;
  /** Due GCs put off because the loop was busy when the calm check ended. */
  deferrals = 0;
  /** Cancels the calm check under way, or null when none is. */
  private cancelCalm: (() => void) | null = null;

  constructor(
    private readonly hooks: TrimHooks = processHooks(),
    private readonly intervalMs = TRIM_INTERVAL_MS,
  ) {
    this.settled = this.last = hooks.heapTotal();
  }

  start(): void {
    if (this.timer !== null || (this.hooks.gc === null && this.hooks.trim === null)) return;
    this.release();
    this.timer = setInterval(tick, this.intervalMs, this);
    this.timer.unref(); // never what keeps the process alive
  }

  /** One round: collect if the heap grew and stopped growing (once the loop is calm), then trim the C heap. */
  run(): void {
    const h = this.hooks;
    const total = h.heapTotal();
    // Read every round, so it covers this round alone.
    const busy = h.busy();
    this.creeping = total >= this.settled + CREEP_SLACK ? this.creeping + 1 : 0;
    const grown = total >= this.settled + SHRINK_SLACK && total <= this.last;
    this.last = total;
    if (h.gc === null || !(grown || this.creeping >= CREEP_ROUNDS) || busy || this.cancelCalm !== null) {
      if (total < this.settled) this.settled = total;
      h.trim?.();
      return;
    }
    if (h.whenCalm === undefined) {
      this.collect();
      return;
    }
    this.cancelCalm = h.whenCalm((calm) => {
      this.cancelCalm = null;
      if (calm) this.collect();
      else {
        // Still due at the next round, which asks again.
        this.deferrals++;
        h.trim?.();
      }
    });
  }

  /** The full GC, then malloc_trim: the C heap's freed pages are the GC's to give back too. */
  private collect(): void {
    const h = this.hooks;
    h.gc!();
    this.collections++;
    this.creeping = 0;
    this.settled = h.heapTotal();
    h.trim?.();
  }

  private release(): void {
    if (this.hooks.release === null) return;
    this.hooks.release();
    this.releases++;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.cancelCalm?.();
    this.cancelCalm = null;
  }
}

function tick(t: MemoryTrimmer): void {
  t.run();
}
