// The agent's shared once-a-second timer: every task joined runs in the same tick, and the timer
// exists only while a task is joined (an idle agent wakes once a second for all of them).
import t from 'tap';
import { SecondTick } from '../../src/observe/second-tick.js';

t.test('tasks joined run together, in the order they joined, once each however often they joined', async (t) => {
  const tick = new SecondTick(30);
  const runs: string[] = [];
  const a = (): void => void runs.push('a');
  const b = (): void => void runs.push('b');
  t.teardown(() => {
    tick.leave(a);
    tick.leave(b);
  });
  tick.join(a);
  tick.join(b);
  tick.join(a);
  t.equal(tick.size, 2);
  await new Promise((r) => setTimeout(r, 100));
  t.ok(runs.length >= 2, `ran ${runs.length / 2} ticks`);
  const rounds = Array.from({ length: runs.length >> 1 }, (_, i) => runs.slice(2 * i, 2 * i + 2).join(''));
  t.ok(rounds.every((r) => r === 'ab'), `each tick ran a then b (${runs.join('')})`);
});

t.test('the timer is set while a task is joined and cleared with the last one', async (t) => {
  const tick = new SecondTick(20);
  let runs = 0;
  const a = (): void => void runs++;
  const b = (): void => {};
  t.notOk(tick.armed, 'no task, no timer');
  tick.join(a);
  tick.join(b);
  t.ok(tick.armed);
  tick.leave(a);
  t.ok(tick.armed, 'one task left');
  tick.leave(b);
  t.notOk(tick.armed, 'the last one gone: no timer');
  tick.leave(b);
  t.notOk(tick.armed, 'leaving twice is harmless');
  await new Promise((r) => setTimeout(r, 60));
  t.equal(runs, 0, 'a task that left is not run');
});

t.test('a task that leaves during a tick is not run again; one that joins during a tick runs in it', async (t) => {
  const tick = new SecondTick(20);
  const runs: string[] = [];
  const late = (): void => void runs.push('late');
  const once = (): void => {
    runs.push('once');
    tick.leave(once);
    tick.join(late);
  };
  t.teardown(() => tick.leave(late));
  tick.join(once);
  tick.tick();
  t.same(runs, ['once', 'late'], 'a Set visits what joins during the visit');
  tick.tick();
  t.same(runs, ['once', 'late', 'late']);
});
