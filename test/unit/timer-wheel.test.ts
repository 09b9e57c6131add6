// The miss path's timer wheel: fires each armed timer once, at or after its due time and within
// a tick, never a cancelled one; re-arming replaces; timers beyond one round wait their round.
import t, { type Test } from 'tap';
import { TimerWheel, type WheelTimer } from '../../src/upstream/timer-wheel.js';

class Probe implements WheelTimer {
  wheelDue = 0;
  wheelTick = 0;
  fired: number[] = [];
  onTimer(now: number): void {
    this.fired.push(now);
  }
}

function setup(t: Test, tickMs = 10, slots = 8): { wheel: TimerWheel; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const wheel = new TimerWheel(tickMs, slots, () => clock.now);
  t.teardown(() => wheel.clear());
  return { wheel, clock };
}

t.test('fires once, not early, at most one tick late', async (t) => {
  const { wheel, clock } = setup(t);
  const a = new Probe();
  const b = new Probe();
  wheel.arm(a, clock.now + 25);
  wheel.arm(b, clock.now + 40);
  for (let step = 0; step < 10; step++) {
    clock.now += 5;
    wheel.advance();
    if (a.fired.length === 0) t.ok(clock.now < 1_000_000 + 25 + 10, `a not yet due at +${clock.now - 1_000_000}`);
  }
  t.equal(a.fired.length, 1, 'a fired once');
  t.equal(b.fired.length, 1, 'b fired once');
  t.ok(a.fired[0]! >= 1_000_025 && a.fired[0]! < 1_000_035, `a fired at +${a.fired[0]! - 1_000_000}`);
  t.ok(b.fired[0]! >= 1_000_040 && b.fired[0]! < 1_000_050, `b fired at +${b.fired[0]! - 1_000_000}`);
  t.equal(wheel.queued, 0, 'nothing left queued');
});

t.test('disarmed timers never fire; re-arming moves the timer', async (t) => {
  const { wheel, clock } = setup(t);
  const a = new Probe();
  const b = new Probe();
  wheel.arm(a, clock.now + 20);
  wheel.arm(b, clock.now + 20);
  wheel.disarm(a);
  wheel.arm(b, clock.now + 60); // replaces the +20 arming
  clock.now += 30;
  wheel.advance();
  t.same(a.fired, [], 'disarmed timer silent');
  t.same(b.fired, [], 're-armed timer not fired at its old time');
  clock.now += 40;
  wheel.advance();
  t.equal(b.fired.length, 1, 're-armed timer fired at its new time');
  t.same(a.fired, []);
});

t.test('a timer beyond one round of slots waits for its round', async (t) => {
  const { wheel, clock } = setup(t, 10, 8); // 80 ms per round
  const far = new Probe();
  wheel.arm(far, clock.now + 250);
  for (let ms = 0; ms < 240; ms += 10) {
    clock.now += 10;
    wheel.advance();
  }
  t.same(far.fired, [], 'not fired in earlier rounds');
  clock.now += 20;
  wheel.advance();
  t.equal(far.fired.length, 1, 'fired in its round');
});

t.test('a timer armed from onTimer with a past due fires on the next tick, not a round later', async (t) => {
  const { wheel, clock } = setup(t);
  const second = new Probe();
  const first: WheelTimer = {
    wheelDue: 0,
    wheelTick: 0,
    onTimer: (now) => wheel.arm(second, now - 5),
  };
  wheel.arm(first, clock.now + 10);
  clock.now += 10;
  wheel.advance();
  t.same(second.fired, [], 'not in the same pass');
  clock.now += 10;
  wheel.advance();
  t.equal(second.fired.length, 1);
});

t.test('a long stall fires every overdue timer in one pass', async (t) => {
  const { wheel, clock } = setup(t, 10, 8);
  const probes = Array.from({ length: 50 }, () => new Probe());
  probes.forEach((p, i) => wheel.arm(p, clock.now + 7 * (i + 1)));
  clock.now += 10_000;
  wheel.advance();
  t.equal(probes.filter((p) => p.fired.length === 1).length, 50);
  t.equal(wheel.queued, 0);
});

t.test('disarmed timers are let go before their slot comes round; live ones still fire', async (t) => {
  const { wheel, clock } = setup(t, 10, 512);
  const gone = Array.from({ length: 5000 }, () => new Probe());
  const live = Array.from({ length: 100 }, () => new Probe());
  for (const p of live) wheel.arm(p, clock.now + 3000);
  for (const p of gone) wheel.arm(p, clock.now + 2000);
  t.equal(wheel.queued, 5100);
  for (const p of gone) wheel.disarm(p);
  // A finished try must not stay reachable (with its query) until its 2 s timeout slot.
  t.ok(wheel.queued <= 100 + 1024, `stale entries dropped: ${wheel.queued} queued`);
  for (const p of live.slice(0, 50)) wheel.arm(p, clock.now + 4000); // re-arm: the old entry is stale
  for (let i = 0; i < 500; i++) {
    clock.now += 10;
    wheel.advance();
  }
  t.equal(gone.filter((p) => p.fired.length > 0).length, 0, 'no disarmed timer fired');
  t.same(new Set(live.map((p) => p.fired.length)), new Set([1]), 'every live timer fired exactly once');
  t.equal(wheel.queued, 0, 'nothing left queued');
});

t.test('the wheel wakes for its next live entry, not every tick', async (t) => {
  const { wheel, clock } = setup(t, 10, 512);
  const start = clock.now;
  const far = new Probe();
  const near = new Probe();
  t.equal(wheel.wakeDue, 0, 'nothing armed, no wake');
  wheel.arm(far, start + 300);
  t.equal(wheel.wakeDue, start + 300, 'wake set for the only entry');
  wheel.arm(near, start + 45);
  t.equal(wheel.wakeDue, start + 50, 'an earlier entry brings the wake forward (to its tick)');
  wheel.disarm(near);
  clock.now = start + 50;
  wheel.advance();
  t.same(near.fired, [], 'the cancelled entry did not fire');
  t.equal(wheel.wakeDue, start + 300, 'the next wake skips the ticks between');
  t.equal(wheel.queued, 1, 'the stale entry was dropped on the way');
  wheel.disarm(far);
  wheel.advance();
  t.equal(wheel.wakeDue, 0, 'only stale entries left: they are dropped and the wheel sleeps');
  t.equal(wheel.queued, 0);
});

t.test('a timer rounds ahead is found in its slot and fires in its round', async (t) => {
  const { wheel, clock } = setup(t, 10, 8); // 80 ms per round
  const start = clock.now;
  const far = new Probe();
  wheel.arm(far, start + 250);
  let wakes = 0;
  while (far.fired.length === 0 && wakes < 20) {
    clock.now = Math.max(clock.now, wheel.wakeDue);
    wheel.advance();
    wakes++;
  }
  t.equal(far.fired.length, 1, 'fired');
  t.ok(far.fired[0]! >= start + 250, 'not early');
  t.ok(wakes <= 4, `woke once a round at most (${wakes} wakes for 25 ticks)`);
});

t.test('on the real clock: one wake for a lone timer, never early', async (t) => {
  const wheel = new TimerWheel(10, 512);
  t.teardown(() => wheel.clear());
  let wakes = 0;
  const wake = wheel.wake.bind(wheel);
  wheel.wake = () => {
    wakes++;
    wake();
  };
  const p = new Probe();
  const due = Date.now() + 150;
  wheel.arm(p, due);
  const deadline = Date.now() + 3000;
  while (p.fired.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(p.fired.length, 1, 'fired');
  t.ok(p.fired[0]! >= due, 'not before its due time');
  // A wheel ticking every 10 ms would have woken 15 times or more by now.
  t.ok(wakes >= 1 && wakes <= 3, `${wakes} wake(s)`);
  t.equal(wheel.wakeDue, 0, 'asleep again');
});

t.test('the last live timer cancelled: no wake-up for the stale entries it leaves', async (t) => {
  const { wheel, clock } = setup(t, 10, 512);
  const a = new Probe();
  const b = new Probe();
  wheel.arm(a, clock.now + 100);
  wheel.arm(b, clock.now + 2000);
  wheel.arm(a, clock.now + 150); // re-armed: still one live timer for a
  t.equal(wheel.armed, 2);
  wheel.disarm(a);
  t.equal(wheel.wakeDue, clock.now + 100, 'a live timer left: the wake stays (it finds a stale slot and moves on)');
  wheel.disarm(b);
  t.equal(wheel.armed, 0);
  t.equal(wheel.wakeDue, 0, 'nothing live: no wake');
  t.equal(wheel.queued, 0, 'and the stale entries are let go at once');
  // Much later a new timer: the ticks slept through are not walked, the stale entries do not fire.
  clock.now += 3_600_000;
  const c = new Probe();
  wheel.arm(c, clock.now + 30);
  t.equal(wheel.wakeDue, clock.now + 30);
  clock.now += 30;
  wheel.advance();
  t.equal(c.fired.length, 1, 'the new timer fired');
  t.same([a.fired, b.fired], [[], []], 'the cancelled ones never did');
  t.equal(wheel.armed, 0);
  // A timer that re-arms itself from onTimer stays counted.
  const again: WheelTimer & { n: number } = { wheelDue: 0, wheelTick: 0, n: 0, onTimer: (now) => { if (++again.n < 3) wheel.arm(again, now + 10); } };
  wheel.arm(again, clock.now + 10);
  for (let i = 0; i < 5; i++) {
    clock.now += 10;
    wheel.advance();
  }
  t.equal(again.n, 3, 'fired three times');
  t.equal(wheel.armed, 0);
  t.equal(wheel.wakeDue, 0);
});
