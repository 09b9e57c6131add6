// One timer for the work the agent does once a second when it has nothing else to do: the health
// self-probe, the event-loop lag watch, the upstream pools' idle sweep, the memory guard's idle
// sample. On a VM each wake-up of a sleeping vCPU costs ~0.1 ms; with a timer each, an idle agent
// woke 4.3 times a second (the fourth: Node's HTTP Date cache, see http.ts) and used 1.9-2.2 ms of
// CPU a second, twice CoreDNS's on the same Corefile (bench/RESULTS.md, "CPU when quiet"). On one
// timer they run in one wake-up, in the order they joined.

type Task = () => void;

export class SecondTick {
  private readonly tasks = new Set<Task>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly periodMs = 1_000) {}

  /** Run `task` at every tick from now on (one under way included); joining twice is joining once. */
  join(task: Task): void {
    this.tasks.add(task);
    if (this.timer !== null) return;
    this.timer = setInterval(run, this.periodMs, this);
    this.timer.unref(); // the listeners keep the process alive, never this
  }

  leave(task: Task): void {
    this.tasks.delete(task);
    if (this.tasks.size > 0 || this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
  }

  /** Tasks joined (tests). */
  get size(): number {
    return this.tasks.size;
  }

  /** Whether the timer is set (tests). */
  get armed(): boolean {
    return this.timer !== null;
  }

  tick(): void {
    for (const task of this.tasks) task();
  }
}

function run(t: SecondTick): void {
  t.tick();
}

/** One per process: there is one event loop to wake. */
export const secondTick = new SecondTick();

/**
 * A task with two paces: every `quickMs` on a timer of its own while there is work that cannot
 * wait (queries in flight, memory tight), on the shared tick otherwise.
 */
export class Paced {
  private timer: NodeJS.Timeout | null = null;
  private period = 0;

  constructor(
    private readonly task: Task,
    private readonly quickMs: number,
    private readonly shared: SecondTick = secondTick,
  ) {}

  /** The period now: quickMs, the shared tick's, or 0 while stopped. */
  get ms(): number {
    return this.period;
  }

  quick(): void {
    if (this.period === this.quickMs) return;
    this.stop();
    this.timer = setInterval(this.task, this.quickMs);
    this.timer.unref();
    this.period = this.quickMs;
  }

  slow(): void {
    if (this.period === this.shared.periodMs) return;
    this.stop();
    this.shared.join(this.task);
    this.period = this.shared.periodMs;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.shared.leave(this.task);
    this.period = 0;
  }
}

