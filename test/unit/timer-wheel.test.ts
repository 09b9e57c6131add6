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
