// The after-burst memory give-back: a full GC only once the heap grew past the slack and stopped
// growing, malloc_trim every round, the executable's clean pages released once at start; and the
// real hooks this process has (the addon's trim and release).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CREEP_ROUNDS, CREEP_SLACK, MemoryTrimmer, SHRINK_SLACK, processHooks, type TrimHooks } from '../../src/agent/memory-trim.js';
import { nativeUdp } from '../../src/listen/native.js';

/** Round k (from 1) sees sizes[k]; the constructor sees sizes[0]. */
function hooks(sizes: number[]): TrimHooks & { gcs: number; trims: number; releases: number; loaded: boolean } {
  let i = 0;
  const h = {
    loaded: false,
    busy: () => h.loaded,
    gcs: 0,
    trims: 0,
    releases: 0,

    release: () => {
      h.releases++;
      return 1;
    },
    heapTotal: () => sizes[Math.min(i, sizes.length - 1)]!,
    gc: () => {
      h.gcs++;
      sizes[Math.min(i, sizes.length - 1)] = 16 << 20; // the collection shrinks the heap
    },
    trim: () => {
      h.trims++;
      i++;
      return 1;
    },
  };
  return h;
}

function trimmer(h: TrimHooks): MemoryTrimmer {
  const m = new MemoryTrimmer(h);
  h.trim!(); // move past the constructor's reading
  return m;
}

const MiB = 1 << 20;

t.test('collects once the grown heap stops growing, never while it grows', async (t) => {
  // constructor reads 16; then the heap grows during a burst and plateaus after it
  const h = hooks([16 * MiB, 30 * MiB, 40 * MiB, 40 * MiB, 16 * MiB, 16 * MiB]);
  const m = trimmer(h);
  m.run(); // 30: grew past the slack, still growing (from 16)
  t.equal(h.gcs, 0, 'no GC while the heap grows');
  m.run(); // 40: still growing
  t.equal(h.gcs, 0);
  m.run(); // 40: stopped growing, 24 MiB over the settled size
  t.equal(h.gcs, 1, 'one GC once it stopped growing');
  m.run();
  m.run();
  t.equal(h.gcs, 1, 'none after the heap is back');
  t.equal(h.trims, 1 + 5, 'malloc_trim every round');
  t.equal(h.releases, 0, 'the executable pages are not released by the rounds');
});

t.test('start releases the executable pages once', async (t) => {
  const h = hooks([16 * MiB, 16 * MiB]);
  const m = new MemoryTrimmer(h, 60_000);
  m.start();
  m.stop();
  t.equal(h.releases, 1);
});

t.test('growth within the slack is left to V8 for a while', async (t) => {
  const h = hooks([16 * MiB, 16 * MiB + SHRINK_SLACK - 1, 16 * MiB + SHRINK_SLACK - 1]);
  const m = trimmer(h);
  m.run();
  m.run();
  t.equal(h.gcs, 0);
});

t.test('a heap that creeps up slowly gets one GC after a minute above the creep slack', async (t) => {
  // grows by 0.5 MiB a round: never SHRINK_SLACK at once, never stops growing
  const sizes = [16 * MiB];
  for (let k = 1; k <= 40; k++) sizes.push(16 * MiB + k * (MiB / 2));
  const h = hooks(sizes);
  const m = trimmer(h);
  const roundsToSlack = CREEP_SLACK / (MiB / 2);
  for (let k = 0; k < roundsToSlack - 1 + CREEP_ROUNDS - 1; k++) m.run();
  t.equal(h.gcs, 0, 'not before it has been above the creep slack for CREEP_ROUNDS rounds');
  m.run();
  t.equal(h.gcs, 1, 'then one');
  m.run();
  t.equal(h.gcs, 1, 'and the count starts again from the collected size');
});

t.test('a heap that dips under the creep slack starts the count again', async (t) => {
  const up = 16 * MiB + CREEP_SLACK;
  const sizes = [16 * MiB];
  for (let k = 0; k < CREEP_ROUNDS - 1; k++) sizes.push(up);
  sizes.push(16 * MiB);
  for (let k = 0; k < CREEP_ROUNDS - 1; k++) sizes.push(up);
  const h = hooks(sizes);
  const m = trimmer(h);
  for (let k = 0; k < 2 * CREEP_ROUNDS - 1; k++) m.run();
  t.equal(h.gcs, 0);
});

t.test('without an exposed gc it only trims; without either it does not start', async (t) => {
  const h = hooks([16 * MiB, 40 * MiB, 40 * MiB]);
  const m = trimmer({ ...h, gc: null });
  m.run();
  m.run();
  t.equal(h.trims, 3);
  const idle = new MemoryTrimmer({ heapTotal: () => 1, gc: null, trim: null, release: null, busy: () => false }, 1);
  idle.start();
  idle.stop();
  t.pass('a trimmer with nothing to do starts no timer');
});

t.test('the addon trims the C heap of this process', { skip: nativeUdp().mod === null && nativeUdp().why }, async (t) => {
  const trim = processHooks().trim;
  t.ok(trim, 'trim hook present with the addon built');
  const blocks = Array.from({ length: 2000 }, () => Buffer.allocUnsafeSlow(16 * 1024).fill(1));
  blocks.length = 0;
  t.ok([0, 1].includes(trim!()), 'malloc_trim ran (glibc)');
});

const rssFileKiB = (): number => Number(/RssFile:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);

t.test('the addon takes the executable\'s clean pages out of this process\'s RSS, and code still runs', { skip: nativeUdp().mod === null && nativeUdp().why }, async (t) => {
  const release = processHooks().release;
  t.ok(release, 'release hook present with the addon built');
  const before = rssFileKiB();
  const bytes = release!();
  const after = rssFileKiB();
  t.ok(bytes > 0, `read-only mappings of the executable released (${(bytes / MiB).toFixed(1)} MiB of address space)`);
  t.ok(after < before - 4096, `file-backed RSS fell by more than 4 MiB (${before} -> ${after} KiB)`);
  // The pages fault back in from the page cache when used: V8, builtins and new modules work.
  const { createHash } = await import('node:crypto');
  t.equal(createHash('sha256').update('x').digest('hex').slice(0, 8), '2d711642', 'a builtin module loaded after the release works');
  t.same(JSON.parse(JSON.stringify({ a: [1, 2, 3] })), { a: [1, 2, 3] });
});

t.test('a due GC waits while the event loop is busy, and runs in the first calm round', async (t) => {
  const h = hooks([16 * MiB, 30 * MiB, 40 * MiB, 40 * MiB, 40 * MiB, 40 * MiB]);
  const m = trimmer(h);
  h.loaded = true;
  m.run(); // growing
  m.run(); // 40: grown
  m.run(); // 40: stopped growing, due, but busy
  m.run();
  t.equal(h.gcs, 0, 'no full GC while busy');
  h.loaded = false;
  m.run();
  t.equal(h.gcs, 1, 'one once calm');
});

t.test('the process hook reads the event loop utilization of each round', async (t) => {
  const busy = processHooks().busy;
  busy();
  const until = Date.now() + 60;
  while (Date.now() < until); // the loop held for 60 ms
  t.equal(busy(), true, 'a held loop is busy');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(busy(), false, 'an idle 200 ms is not');
});

t.test('a due GC in a calm round still waits for a calm window, and a busy one puts it off', async (t) => {
  // Sizes are read per trim; the collection's trim moves on to the 16 MiB it left.
  const h = hooks([16 * MiB, 30 * MiB, 40 * MiB, 40 * MiB, 40 * MiB, 40 * MiB, 16 * MiB, 16 * MiB]);
  const checks: ((calm: boolean) => void)[] = [];
  let cancelled = 0;
  h.whenCalm = (done) => {
    checks.push(done);
    return () => cancelled++;
  };
  const m = trimmer(h);
  m.run(); // growing
  m.run(); // 40: grown
  m.run(); // 40: stopped growing, due, the round calm: the window starts
  t.equal(checks.length, 1, 'one calm check started');
  t.equal(h.gcs, 0, 'no GC before the window ends');
  const trims = h.trims;
  m.run(); // a round while the check is under way starts no second one
  t.equal(checks.length, 1, 'no second check while one is under way');
  checks[0]!(false); // the loop got busy in the window
  t.equal(h.gcs, 0, 'no GC after a busy window');
  t.equal(m.deferrals, 1, 'counted as put off');
  t.ok(h.trims > trims, 'the C heap is still trimmed');
  m.run(); // still due: asks again
  t.equal(checks.length, 2, 'asked again at the next round');
  checks[1]!(true);
  t.equal(h.gcs, 1, 'collected once the window was calm');
  m.run();
  t.equal(checks.length, 2, 'not due after the collection');
  m.run(); // not due: stop has nothing to cancel
  m.stop();
  t.equal(cancelled, 0);
});

t.test('stop cancels a calm check under way', async (t) => {
  const h = hooks([16 * MiB, 30 * MiB, 40 * MiB, 40 * MiB]);
  let cancelled = 0;
  h.whenCalm = () => () => cancelled++;
  const m = trimmer(h);
  m.run();
  m.run();
  m.run();
  m.stop();
  t.equal(cancelled, 1);
});

t.test('the process hook: a window with the loop held is not calm, an idle one is', async (t) => {
  const { whenCalm } = processHooks();
  // The hook's timer is unreferenced, as a trimmer's must be: something else keeps this test alive.
  const alive = setInterval(() => {}, 1_000);
  t.teardown(() => clearInterval(alive));
  const held = new Promise<boolean>((r) => whenCalm!(r));
  const until = Date.now() + 100;
  while (Date.now() < until); // 100 ms of a 1 s window: 10 %
  t.equal(await held, false, 'a window with 100 ms of work is not calm');
  t.equal(await new Promise<boolean>((r) => whenCalm!(r)), true, 'an idle window is calm');
  let called = false;
  const cancel = whenCalm!(() => (called = true));
  cancel();
  await new Promise((r) => setTimeout(r, 1_200));
  t.equal(called, false, 'a cancelled check never answers');
});
