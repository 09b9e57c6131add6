// The batch addon's wake timer, which the miss path's timer wheel uses where the addon is built:
// it fires once, a restart replaces the earlier arming, a stop cancels it, and a stopped timer
// does not wake the event loop. (A cleared unreferenced Node timer does: its empty list stays
// queued until it was due. The wheel's timers are unreferenced, and each miss answered before
// its hedge delay cleared one.)
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { nativeUdp, nativeWakeTimer, NATIVE_PATH } from '../../src/listen/native.js';

const { mod, why } = nativeUdp();
const skip = mod === null ? why : false;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('fires once; a restart replaces the earlier arming; a stop cancels', { skip }, async (t) => {
  let fired = 0;
  const w = nativeWakeTimer(mod!, () => void fired++);
  t.teardown(() => w.stop());
  const t0 = performance.now();
  let at = 0;
  const once = nativeWakeTimer(mod!, () => (at = performance.now() - t0));
  t.teardown(() => once.stop());
  once.start(30);
  w.start(500);
  w.start(20);
  await sleep(150);
  t.equal(fired, 1, 'the restarted timer fired once, at its new time');
  t.ok(at >= 29, `fired ${at.toFixed(1)} ms after its start, not before`);
  w.start(30);
  w.stop();
  await sleep(80);
  t.equal(fired, 1, 'a stopped timer does not fire');
});

t.test('a stopped timer does not wake the event loop; a cleared unreferenced Node timer does', { skip }, async (t) => {
  // In a child with nothing else to do: arm a 100 ms timer and cancel it at once, then count the
  // main thread's sleeps (voluntary context switches) until a 300 ms timer fires.
  const child = (kind: string): number => {
    const src = `
      const fs = require('node:fs');
      const mod = require(${JSON.stringify(NATIVE_PATH)});
      const sleeps = () => Number(/voluntary_ctxt_switches:\\s+(\\d+)/.exec(fs.readFileSync('/proc/thread-self/status', 'utf8'))[1]);
      setTimeout(() => {
        const before = sleeps();
        if (${JSON.stringify(kind)} === 'native') { const w = mod.timerCreate(() => {}); mod.timerStart(w, 100); mod.timerStop(w); }
        else { const n = setTimeout(() => {}, 100); n.unref(); clearTimeout(n); }
        setTimeout(() => process.stdout.write(String(sleeps() - before)), 300);
      }, 50);`;
    const r = spawnSync(process.execPath, ['-e', src], { encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) throw new Error(`child: ${r.stderr}`);
    return Number(r.stdout);
  };
  const native = child('native');
  const node = child('node');
  t.equal(native, 1, `native: the loop slept once, until the 300 ms timer (Node's cleared timer: ${node})`);
  t.ok(node >= native, 'never fewer with Node\'s own');
});
