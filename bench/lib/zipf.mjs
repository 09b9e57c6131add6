// A Zipf-like query stream (rank r asked with probability ∝ 1/r^s), reproducible from a seed so
// every cache under comparison sees the same stream. DNS name popularity is roughly Zipf with s
// near 1 (a few names, e.g. kubernetes.default and the app's own services, dominate).

/** mulberry32: a small seeded PRNG; Math.random cannot be seeded. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` ranks in [0, distinct), Zipf(s) distributed. */
export function zipfStream(distinct, length, { s = 1.0, seed = 42 } = {}) {
  const cdf = new Float64Array(distinct);
  let sum = 0;
  for (let r = 0; r < distinct; r++) cdf[r] = sum += 1 / Math.pow(r + 1, s);
  const rand = seededRandom(seed);
  const out = new Uint32Array(length);
  for (let i = 0; i < length; i++) {
    const u = rand() * sum;
    let lo = 0;
    let hi = distinct - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}
