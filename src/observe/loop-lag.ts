// The event-loop lag families prom-client's default metrics would export (nodejs_eventloop_lag_*,
// same names, same meaning: delays of a 20 ms sampling timer since the previous scrape, and the
// wait of a setImmediate at the previous scrape), but sampled only while the loop has work.
// prom-client's sampler is a timer that fires every 20 ms for the life of the process: 50
// wake-ups a second of an idle agent, 5.0 ms of CPU a second on this VM (each wake-up of a
// sleeping vCPU costs ~0.1 ms), four times all of CoreDNS's idle CPU on node-cache's Corefile
// (bench/RESULTS.md, "CPU when quiet"). Here a watch on the agent's once-a-second tick
// (second-tick.ts) reads the loop's utilisation and runs the 20 ms sampler only while the loop
// was more than 1 % busy: a loop that idle has no lag to report, and an interval with no sample
// reads as on time (every figure the sampling interval, the standard deviation 0). A stalled loop
// is busy, so the sampler is on from the watch's next tick and records the stalls after the first.
// perf_hooks' histogram, enabled again after a pause, measures its first delay from its last
// sample before the pause, so every idle stretch between two busy ones read as a stall of its
// length (2-9 s of nodejs_eventloop_lag_max_seconds in the incident rig, whose lookups never took
// 10 ms). It is reset before it starts again, which also clears its samples: what it held is kept
// as a summary and merged into the next scrape's figures. The sampler stays perf_hooks' native
// timer: one in JS kept a loaded test machine's loop over the 1 % on its own and never stopped.
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';
import { family, type Family } from './exposition.js';
import { secondTick } from './second-tick.js';

export const LAG_RESOLUTION_MS = 20;
/** Share of a second the loop must be busy for the sampler to run. */
export const SAMPLE_WHEN_BUSY = 0.01;
const RESOLUTION_S = LAG_RESOLUTION_MS / 1000;

/** The names of prom-client's families this replaces. */
export const LOOP_LAG_FAMILIES = [
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
];

interface Snapshot {
  count: number;
  min: number;
  max: number;
  mean: number;
  stddev: number;
  p50: number;
  p90: number;
  p99: number;
}

/** A reader of the event loop's utilization since its previous call (0..1), from perf_hooks. */
export function loopShare(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const share = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return share;
  };
}

export class LoopLag {
  private readonly histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  private sampling = false;
  private watching = false;
  private readonly onTick = (): void => this.check();
  private share = loopShare();
  /** The setImmediate wait measured at the previous scrape, seconds. */
  private immediate = 0;
  /** The histogram read (and reset) at the current scrape. */
  private snap: Snapshot = onTime();
  /** What the histogram held when it was restarted since the previous scrape, seconds. */
  private carry: Snapshot | null = null;

  /** Begin watching (at the first scrape, as prom-client's collectors begin then). */
  start(): void {
    if (this.watching) return;
    this.watching = true;
    this.share = loopShare();
    secondTick.join(this.onTick);
  }

  /** Whether the 20 ms sampler is running (tests). */
  get active(): boolean {
    return this.sampling;
  }

  /** The watch: sample while the last second was busy, not while it was idle. */
  check(): void {
    this.setSampling(this.share() > SAMPLE_WHEN_BUSY);
  }

  private setSampling(on: boolean): void {
    if (on === this.sampling) return;
    const h = this.histogram;
    if (on) {
      // Its next delay must count from now, not from its last sample before the pause.
      if (h.count > 0) this.carry = merge(this.carry, read(h));
      h.reset();
      h.enable();
    } else h.disable();
    this.sampling = on;
  }

  /** Read the samples since the previous scrape and start the next setImmediate measurement. */
  private scrape(): void {
    const h = this.histogram;
    const held = h.count === 0 ? this.carry : merge(this.carry, read(h));
    this.snap = held ?? onTime();
    this.carry = null;
    h.reset();
    const start = process.hrtime.bigint();
    setImmediate(() => {
      this.immediate = Number(process.hrtime.bigint() - start) / 1e9;
    });
  }

  families(): Family[] {
    const gauge = (name: string, help: string, value: () => number): Family => family(name, help, 'gauge', () => [{ labels: {}, value: value() }]);
    return [
      // Rendered first, so it reads the histogram for the whole scrape.
      gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', () => {
        this.scrape();
        return this.immediate;
      }),
      gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.', () => this.snap.min),
      gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.', () => this.snap.max),
      gauge('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.', () => this.snap.mean),
      gauge('nodejs_eventloop_lag_stddev_seconds', 'The standard deviation of the recorded event loop delays.', () => this.snap.stddev),
      gauge('nodejs_eventloop_lag_p50_seconds', 'The 50th percentile of the recorded event loop delays.', () => this.snap.p50),
      gauge('nodejs_eventloop_lag_p90_seconds', 'The 90th percentile of the recorded event loop delays.', () => this.snap.p90),
      gauge('nodejs_eventloop_lag_p99_seconds', 'The 99th percentile of the recorded event loop delays.', () => this.snap.p99),
    ];
  }
}

/** The histogram's figures in seconds. */
function read(h: IntervalHistogram): Snapshot {
  return { count: h.count, min: h.min / 1e9, max: h.max / 1e9, mean: h.mean / 1e9, stddev: h.stddev / 1e9, p50: h.percentile(50) / 1e9, p90: h.percentile(90) / 1e9, p99: h.percentile(99) / 1e9 };
}

/**
 * Two sets of samples as one: count, min, max, mean and standard deviation exactly; a percentile
 * as the higher of the two (a bound from above: the samples themselves are gone).
 */
function merge(a: Snapshot | null, b: Snapshot): Snapshot {
  if (a === null) return b;
  const count = a.count + b.count;
  const mean = (a.mean * a.count + b.mean * b.count) / count;
  const square = (a.count * (a.stddev ** 2 + a.mean ** 2) + b.count * (b.stddev ** 2 + b.mean ** 2)) / count;
  return {
    count,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    mean,
    stddev: Math.sqrt(Math.max(0, square - mean ** 2)),
    p50: Math.max(a.p50, b.p50),
    p90: Math.max(a.p90, b.p90),
    p99: Math.max(a.p99, b.p99),
  };
}

function onTime(): Snapshot {
  return { count: 0, min: RESOLUTION_S, max: RESOLUTION_S, mean: RESOLUTION_S, stddev: 0, p50: RESOLUTION_S, p90: RESOLUTION_S, p99: RESOLUTION_S };
}

/** One per process: there is one event loop. */
let shared: LoopLag | null = null;
export function loopLag(): LoopLag {
  shared ??= new LoopLag();
  return shared;
}
