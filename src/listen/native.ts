// Loads the batched UDP I/O addon (src/native/udp_batch.c, built into dist/native/ by
// src/native/build.mjs when `npm install` runs). Resolved from the package root, so the compiled
// agent (dist/server) and the tests running the sources (src/server) load the same file.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WakeTimer } from '../upstream/timer-wheel.js';

export interface NativeUdp {
  readonly BATCH: number;
  /** Batches one readable event may read while each comes back full. */
  readonly READ_ROUNDS: number;
  readonly SLOT: number;
  readonly META_STRIDE: number;
  readonly META_REPLIES: number;
  readonly META_INTS: number;
  /** The native clock now, in ms (uv_hrtime: performance.now() plus a fixed offset). */
  hrtimeMs(): number;
  /** Register the process's clock memory (3 doubles; see nativeClock). */
  setClock(clock: ArrayBuffer): void;
  /** Write the native clock's time into nativeClock()[2]. */
  stamp(): void;
  open(
    self: object,
    host: string,
    port: number,
    family: 4 | 6,
    recvBufferSize: number,
    onBatch: (count: number) => number,
    input: ArrayBuffer,
    output: ArrayBufferLike,
    meta: ArrayBufferLike,
  ): unknown;
  sendTo(handle: unknown, reply: Buffer, address: string | number, port: number): number;
  close(handle: unknown): void;
  /** A one-shot libuv timer, unreferenced, that timerStop truly cancels (see nativeWakeTimer). */
  timerCreate(onWake: () => void): unknown;
  timerStart(timer: unknown, ms: number): void;
  timerStop(timer: unknown): void;
  /** malloc_trim(0): 1 if pages went back to the kernel, 0 if none, -1 without glibc. */
  trim(): number;
  /** Unmap the node executable's clean pages from the resident set; bytes of the mappings, -1 if unreadable. */
  releaseExecutablePages(): number;
}

export const NATIVE_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'native', 'udp_batch.node');

let loaded: { mod: NativeUdp | null; why: string } | null = null;
let clock: Float64Array | null = null;

/**
 * The process's clock memory, shared by every batch listener (their callbacks never overlap):
 * [0] the receive time of the batch being handled, written by the native side; [1] the offset
 * from performance.now()'s scale; [2] the time of the last `stamp()`; all ms. `[i] - [1]` is on
 * performance.now()'s scale without the heap number performance.now() returns each call.
 */
export function nativeClock(mod: NativeUdp): Float64Array {
  if (clock === null) {
    const ab = new ArrayBuffer(24);
    mod.setClock(ab);
    clock = new Float64Array(ab);
    // Both clocks are CLOCK_MONOTONIC (libuv's uv_hrtime backs performance.now()), so they differ
    // by their origins only. One native read bracketed by two performance.now() reads gives that
    // difference within half the bracket; the narrowest of a few brackets is kept, because a
    // single pair read on a loaded box was once preempted between its two calls and put every
    // stamp 0.1 ms late.
    let best = Infinity;
    for (let i = 0; i < 8; i++) {
      const before = performance.now();
      const native = mod.hrtimeMs();
      const after = performance.now();
      if (after - before < best) {
        best = after - before;
        clock[1] = native - (before + after) / 2;
      }
    }
    clock[0] = clock[2] = performance.now() + clock[1];
  }
  return clock;
}

/**
 * A wake timer for the miss path's timer wheel on a libuv timer of the addon's own: stopping it
 * takes it out of the loop's timer heap, where a cleared Node timer still wakes the loop when it
 * was due (upstream/timer-wheel.ts).
 */
export function nativeWakeTimer(mod: NativeUdp, onWake: () => void): WakeTimer {
  const timer = mod.timerCreate(onWake);
  return {
    start: (ms: number): void => mod.timerStart(timer, ms),
    stop: (): void => mod.timerStop(timer),
  };
}

/** The addon, or null and why not (not built, wrong platform, failed to load). Loaded once. */
export function nativeUdp(): { mod: NativeUdp | null; why: string } {
  if (loaded) return loaded;
  try {
    const mod = createRequire(import.meta.url)(NATIVE_PATH) as NativeUdp;
    loaded = { mod, why: '' };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    loaded = { mod: null, why: e.code === 'MODULE_NOT_FOUND' ? `${NATIVE_PATH} not built (npm run build:native)` : e.message };
  }
  return loaded;
}
