// Request durations are counted in whole microseconds (a double crossing a call V8 did not inline
// is boxed, observe/buckets.ts): the microsecond bounds must put every duration in the bucket the
// seconds bounds CoreDNS exposes would.
import t from 'tap';
import { bucketIndex, DURATION_BUCKETS, DURATION_BUCKETS_MICROS } from '../../src/observe/buckets.js';

t.test('microsecond bounds classify every duration as the seconds bounds do', async (t) => {
  t.same(DURATION_BUCKETS_MICROS, DURATION_BUCKETS.map((_, i) => 250 * 2 ** i), '250 µs × 2^n, exact integers');
  const probes = new Set<number>([0, 1, 9_000_000, 100_000_000]);
  for (const b of DURATION_BUCKETS_MICROS) for (const d of [-1, 0, 1]) probes.add(b + d);
  for (let m = 0; m < 20_000; m += 7) probes.add(m);
  let wrong = 0;
  for (const m of probes) if (bucketIndex(DURATION_BUCKETS_MICROS, m) !== bucketIndex(DURATION_BUCKETS, m / 1e6)) wrong++;
  t.equal(wrong, 0, `${probes.size} durations, each in the same bucket`);
  t.equal(bucketIndex(DURATION_BUCKETS_MICROS, 250), 0, 'a bound belongs to its own bucket (le)');
  t.equal(bucketIndex(DURATION_BUCKETS_MICROS, 251), 1);
  t.equal(bucketIndex(DURATION_BUCKETS_MICROS, 8_192_001), DURATION_BUCKETS.length, 'past the last bound: +Inf only');
});
