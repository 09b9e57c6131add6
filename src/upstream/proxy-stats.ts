// coredns_proxy_request_duration_seconds{proxy_name,to,rcode} per upstream: a typed-array
// histogram per rcode, filled on the answer path and published at scrape (upstream/metrics.ts).
import { bucketIndex, DURATION_BUCKETS } from '../observe/buckets.js';

/** rcodes 0..15 from the header (upstream answers carry no extended rcode we act on). */
export const N_PROXY_RCODES = 16;
const WIDTH = DURATION_BUCKETS.length + 1; // last slot: above the largest bound (+Inf only)

export class ProxyDurations {
  /** [rcode][bucket] non-cumulative counts. */
  readonly counts = new Float64Array(N_PROXY_RCODES * WIDTH);
  readonly sums = new Float64Array(N_PROXY_RCODES);

  observe(rcode: number, seconds: number): void {
    const r = rcode & 0x0f;
    this.counts[r * WIDTH + bucketIndex(DURATION_BUCKETS, seconds)]!++;
    this.sums[r]! += seconds;
  }

  /** Buckets of one rcode (a view, no copy). */
  bucketsOf(rcode: number): Float64Array {
    return this.counts.subarray(rcode * WIDTH, (rcode + 1) * WIDTH);
  }

  /** Rcodes seen at least once. */
  seen(): number[] {
    const out: number[] = [];
    for (let r = 0; r < N_PROXY_RCODES; r++) if (this.bucketsOf(r).some((v) => v > 0)) out.push(r);
    return out;
  }
}
