// Histogram bucket layouts shared by the subsystems that count in typed arrays: each keeps one
// slot per bound plus a last slot for +Inf only, and exposition.ts makes them cumulative at scrape.

/** coredns_dns_request_duration_seconds and the proxy durations: 0.25 ms × 2^n, 16 buckets (CoreDNS plugin/metrics). */
export const DURATION_BUCKETS = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);
/**
 * The same bounds in whole microseconds (250 .. 8192000, exact), for a request duration counted as
 * an integer: a duration in seconds is a double, and a double passed to a call V8 did not inline
 * is boxed on the heap, 16 B an answer. Which calls V8 inlines into the hit path varies from one
 * process to the next (its inlining budget): in about one start in ten it left bucketIndex out
 * while inlining the duration count, and every hit allocated (bench/hot-path.md).
 */
export const DURATION_BUCKETS_MICROS = DURATION_BUCKETS.map((b) => Math.round(b * 1e6));
/** coredns_dns_request/response_size_bytes buckets. */
export const SIZE_BUCKETS = [0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000, 48000, 64000];
/** plugin.SlimTimeBuckets: 0.25 ms × 10^n, 5 buckets (0.25 ms .. 2.5 s), for the health self-probe. */
export const HEALTH_BUCKETS = Array.from({ length: 5 }, (_, i) => Number((0.00025 * 10 ** i).toPrecision(2)));

/** The slot of `v`: the first bound it does not exceed, or bounds.length (+Inf). */
export function bucketIndex(bounds: readonly number[], v: number): number {
  let i = 0;
  while (i < bounds.length && v > bounds[i]!) i++;
  return i;
}
