// A coarse hashed timer wheel for the per-query timeouts of the miss path (try timeouts, UDP
// silence, client deadlines). Arming is two field writes and an array push, cancelling is one
// field write. A setTimeout per query and per try (a Timeout object, a timer-list insert, a
// clearTimeout) was a measurable share of each forwarded query's CPU and garbage. Timers fire up
// to one tick late, never early.
//
// One timer wakes the wheel at the next tick whose slot holds a live entry, not every tick:
// most entries are cancelled (the query was answered) long before they are due, and a wheel that
// ticked every 10 ms while any entry was queued woke the agent 100 times a second for the 2-5 s
// after every miss. Under a few misses a second, the load of a quiet node, that was most of the
// agent's CPU (each wake-up of a sleeping VM costs ~100 µs).

export interface WheelTimer {
  /** Clock ms at which onTimer runs; 0 = not armed. Written by the wheel (and `disarm`). */
  wheelDue: number;
  /** Tick of the live entry; queued entries of an earlier arming are recognised and skipped. */
  wheelTick: number;
  onTimer(now: number): void;
}

/** What wakes the wheel: a one-shot timer that `start` re-arms and `stop` cancels. */
export interface WakeTimer {
  start(ms: number): void;
  stop(): void;
}

/**
 * Node's setTimeout, unreferenced. A cleared one still wakes the event loop when it was due (Node
 * drops the empty list of a cleared timer only for referenced timers), so the agent gives the
 * shared wheel the batch addon's timer instead where it is built (agent.ts): otherwise every miss
 * answered before its hedge delay costs a wake-up ~100 ms later.
 */
export function nodeWakeTimer(onWake: () => void): WakeTimer {
  let t: NodeJS.Timeout | null = null;
  return {
    start(ms: number): void {
      if (t !== null) clearTimeout(t);
      t = setTimeout(onWake, ms);
      t.unref();
    },
    stop(): void {
      if (t !== null) clearTimeout(t);
      t = null;
    },
  };
}

export class TimerWheel {
  private slots: WheelTimer[][];
  private spare: WheelTimer[] = [];
  /** The first tick not yet processed. */
  private nextTick = 0;
  /** Queued array entries, live or stale. */
  private entries = 0;
  /** Timers armed and not yet fired or cancelled. */
  private live = 0;
  /** Disarms and re-arms since the last compaction: each left a stale entry queued. */
  private staleSince = 0;
  /** Inside advance(): a slot being read is detached, so no compaction then. */
  private advancing = false;
  /** What wakes the wheel, whether it is set, and the tick it is set for. */
  private waker: WakeTimer;
  private waking = false;
  private wakeTick = 0;
  private readonly onWake = (): void => this.wake();

  constructor(
    readonly tickMs = 10,
    readonly slotCount = 512,
    private readonly clock: () => number = Date.now,
  ) {
    this.slots = Array.from({ length: slotCount }, () => []);
    this.waker = nodeWakeTimer(this.onWake);
  }

  /** Wake through timers `make` builds from now on (a wake already set moves to the new one). */
  useWaker(make: (onWake: () => void) => WakeTimer): void {
    this.waker.stop();
    this.waker = make(this.onWake);
    if (!this.waking) return;
    this.waking = false;
    this.wakeAt(this.wakeTick);
  }

  get queued(): number {
    return this.entries;
  }

  /** Timers armed and not yet fired or cancelled (tests). */
  get armed(): number {
    return this.live;
  }

  /** Run `t.onTimer` at `due` (clock ms), replacing any earlier arming of `t`. */
  arm(t: WheelTimer, due: number): void {
    // Nothing live, so nothing queued: the ticks slept through hold nothing to fire.
    if (this.live === 0 && !this.advancing) this.nextTick = Math.floor(this.clock() / this.tickMs);
    if (t.wheelDue !== 0) this.noteStale();
    else this.live++;
    t.wheelDue = due > 0 ? due : 1;
    const tick = this.place(t);
    // Inside advance() the wake is set once the pass is over.
    if (!this.advancing && (!this.waking || tick < this.wakeTick)) this.wakeAt(tick);
  }

  /** Clock ms of the wake set, or 0 when the wheel sleeps until the next `arm` (tests). */
  get wakeDue(): number {
    return this.waking ? this.wakeTick * this.tickMs : 0;
  }

  /** Cancel `t`; its queued entry is dropped when its slot comes round or at the next compaction. */
  disarm(t: WheelTimer): void {
    if (t.wheelDue === 0) return;
    t.wheelDue = 0;
    this.noteStale();
    // The last live timer cancelled (a miss answered before any of its timeouts): no wake-up for
    // the stale entries it leaves, and nothing kept reachable through them.
    if (--this.live === 0 && !this.advancing) this.sleep();
  }

  /** Nothing live: forget the stale entries (512 slot lengths) and stop the Node timer. */
  private sleep(): void {
    if (this.entries > 0) for (const slot of this.slots) slot.length = 0;
    this.entries = 0;
    this.staleSince = 0;
    this.waker.stop();
    this.waking = false;
  }

  /**
   * A stale entry keeps its timer (a finished try, and through it the query and its buffers)
   * reachable until its slot comes round, the 2 s try timeout later: at 25k misses/s that was
   * ~50k queries' state, promoted to old space. Once at least half the queued entries may be
   * stale, drop every stale one: amortised O(1) per disarm, nothing allocated.
   */
  private noteStale(): void {
    if (++this.staleSince < COMPACT_MIN || this.staleSince * 2 < this.entries || this.advancing) return;
    this.staleSince = 0;
    for (let i = 0; i < this.slotCount; i++) this.dropStale(i);
  }

  /** Drop slot `i`'s stale entries in place; returns the entries it keeps. */
  private dropStale(i: number): number {
    const slot = this.slots[i]!;
    let w = 0;
    for (let k = 0; k < slot.length; k++) {
      const t = slot[k]!;
      if (t.wheelDue !== 0 && t.wheelTick % this.slotCount === i) slot[w++] = t;
    }
    this.entries -= slot.length - w;
    slot.length = w;
    return w;
  }

  private place(t: WheelTimer): number {
    let tick = Math.ceil(t.wheelDue / this.tickMs);
    if (tick < this.nextTick) tick = this.nextTick;
    t.wheelTick = tick;
    this.slots[tick % this.slotCount]!.push(t);
    this.entries++;
    return tick;
  }

  /** Process every tick up to the clock's now, then set the next wake (the timer calls this; tests may too). */
  advance(): void {
    const now = this.clock();
    const n = this.slotCount;
    this.advancing = true;
    try {
      this.advanceTo(now, n);
    } finally {
      this.advancing = false;
    }
    this.wakeForNext();
  }

  /** The wake timer fired. */
  wake(): void {
    this.waking = false;
    this.advance();
  }

  /**
   * Set the wake for the first tick from `nextTick` whose slot holds a live entry, dropping the
   * stale entries of the slots looked at on the way (each is dropped once: amortised O(1) per
   * disarm). Every slot comes up once in a round of ticks, so one round is enough; a live entry
   * due in a later round is found early, and that wake looks again.
   */
  private wakeForNext(): void {
    const n = this.slotCount;
    if (this.live > 0) {
      for (let k = 0; k < n; k++) {
        const tick = this.nextTick + k;
        if (this.slots[tick % n]!.length > 0 && this.dropStale(tick % n) > 0) {
          this.wakeAt(tick);
          return;
        }
      }
    }
    // Nothing live: sleep until the next arm.
    this.sleep();
  }

  private wakeAt(tick: number): void {
    if (this.waking && this.wakeTick === tick) return;
    this.wakeTick = tick;
    this.waking = true;
    this.waker.start(Math.max(1, Math.ceil(tick * this.tickMs - this.clock())));
  }

  private advanceTo(now: number, n: number): void {
    while (this.nextTick * this.tickMs <= now) {
      const tick = this.nextTick++;
      const i = tick % n;
      const slot = this.slots[i]!;
      if (slot.length === 0) continue;
      // Swap in an empty array first: onTimer may arm timers, and those must not land in the slot being read.
      this.slots[i] = this.spare;
      for (let k = 0; k < slot.length; k++) {
        const t = slot[k]!;
        this.entries--;
        if (t.wheelDue === 0) continue;
        if (t.wheelTick === tick) {
          t.wheelDue = 0;
          this.live--;
          t.onTimer(now);
        } else if (t.wheelTick > tick && (t.wheelTick - tick) % n === 0) {
          // Armed for a later round of this slot (or a stale duplicate of one: fires once).
          this.slots[i]!.push(t);
          this.entries++;
        }
      }
      slot.length = 0;
      this.spare = slot;
    }
  }

  /** Stop ticking and forget every entry (tests; the shared wheel lives as long as the process). */
  clear(): void {
    for (const s of this.slots) s.length = 0;
    this.entries = 0;
    this.live = 0;
    this.staleSince = 0;
    this.waker.stop();
    this.waking = false;
  }
}

/** Fewer stale entries than this are left for their slots to drop. */
const COMPACT_MIN = 1024;


/** The wheel every forwarder's races and tries share: 10 ms ticks, 5.12 s per round. */
export const queryTimers = new TimerWheel();
