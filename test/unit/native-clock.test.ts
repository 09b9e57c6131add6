// The native clock the batch listener's hit path reads instead of performance.now()
// (listen/native.ts nativeClock): on performance.now()'s scale once its offset is taken off, and
// stamp() moves it forward.
import t from 'tap';
import { nativeClock, nativeUdp } from '../../src/listen/native.js';

const { mod, why } = nativeUdp();

t.test('stamp() reads the same clock as performance.now()', { skip: mod === null ? why : false }, async (t) => {
  const clock = nativeClock(mod!);
  t.equal(nativeClock(mod!), clock, 'one clock for the process');
  for (let i = 0; i < 5; i++) {
    const before = performance.now();
    mod!.stamp();
    const at = clock[2]! - clock[1]!;
    const after = performance.now();
    // A few µs of slack for the offset's own measurement.
    t.ok(at >= before - 0.05 && at <= after + 0.05, `${before} ≤ ${at} ≤ ${after}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const a = clock[2]!;
  mod!.stamp();
  t.ok(clock[2]! > a, 'later stamps are later');
});
