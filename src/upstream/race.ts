// The tries of one forwarded query, raced inside the client's deadline: a try that fails is
// replaced at once, a try that goes silent gets a second one elsewhere while it keeps listening
// (first answer wins), a truncated UDP answer is asked again over TCP on the same upstream.
// One object per query (its own attempt listener, wheel timer and list node): the closures,
// Promise, Set entry and Timeout per query it replaces were a fifth of the miss path's garbage.
import { performance } from 'node:perf_hooks';
import type { ForwardConfig } from '../config/types.js';
import { FLAG_TC } from '../dns/constants.js';
import { UpstreamError } from '../errors.js';
import { startAttempt, type AttemptEvents, type AttemptHandle, type ForwardQuestion } from './attempt.js';
import { queryTimers, type WheelTimer } from './timer-wheel.js';
import type { Upstream } from './upstream.js';

/** Tries per client query (failed + silent ones); bounds work when every try fails fast. */
export const MAX_TRIES = 6;

/** Where a forwarded query's outcome goes: exactly one call, never synchronously from forwardTo. */
export interface ForwardDone {
  /** `res` may be a view into a reused read buffer: copy what must outlive the call. */
  answer(res: Buffer): void;
  fail(err: Error): void;
}

/** What a race needs of its forwarder. */
export interface RaceHost {
  readonly cfg: ForwardConfig;
  readonly isClosed: boolean;
  readonly races: RaceList;
  inflight: number;
  healthcheckBroken: number;
  /** Policy choice among healthy upstreams, preferring one other than `avoid`; null if none. */
  pick(avoid: Upstream | null): Upstream | null;
}

export class Race implements AttemptEvents, WheelTimer {
  wheelDue = 0;
  wheelTick = 0;
  prev: Race | null = null;
  next: Race | null = null;
  private readonly deadline: number;
  private readonly live: AttemptHandle[] = [];
  /** The TCP retry of a truncated UDP answer: its silence starts no further try. */
  private tcRetry: AttemptHandle | null = null;
  private tries = 0;
  private finished = false;
  /** Inside the constructor: an outcome found now is delivered in a microtask, as forward() always was. */
  private starting = true;
  // Built only when a try fails: an Error (with its stack) per forwarded query cost 10 % of the miss path.
  private lastErr: Error | null = null;

  constructor(
    private readonly host: RaceHost,
    private readonly q: ForwardQuestion,
    useTcp: boolean,
    private readonly done: ForwardDone,
  ) {
    this.deadline = Date.now() + host.cfg.deadlineMs;
    host.inflight++;
    host.races.add(this);
    queryTimers.arm(this, this.deadline);
    this.launch(null, useTcp);
    this.starting = false;
  }

  private launch(avoid: Upstream | null, tcp: boolean): void {
    if (this.finished) return;
    const host = this.host;
    const left = this.deadline - Date.now();
    if (host.isClosed || left <= 0 || this.tries >= MAX_TRIES) {
      if (this.live.length === 0) this.finish(new UpstreamError(`gave up after ${this.tries} tries: ${this.lastErr?.message ?? 'no upstream tried'}`, { cause: this.lastErr }), null);
      return;
    }
    const up = host.pick(avoid);
    if (!up) {
      if (this.live.length === 0) {
        host.healthcheckBroken++;
        this.finish(new UpstreamError('every upstream is down'), null);
      }
      return;
    }
    this.tries++;
    up.counters.requests++;
    this.live.push(startAttempt(up, this.q, tcp, Math.min(host.cfg.attemptTimeoutMs, left), this));
  }

  /** RFC 7766 §5: a truncated UDP answer is asked again over TCP on the same upstream. */
  private launchOn(up: Upstream): void {
    const timeout = Math.max(1, Math.min(this.host.cfg.attemptTimeoutMs, this.deadline - Date.now()));
    const a = startAttempt(up, this.q, true, timeout, this);
    this.tcRetry = a;
    this.live.push(a);
  }

  answer(res: Buffer, a: AttemptHandle): void {
    this.forget(a);
    a.up.success(res.length >= 4 ? res[3]! & 0x0f : 0, (performance.now() - a.startedAt) / 1000);
    if (!a.tcp && res.length >= 4 && res[2]! & (FLAG_TC >> 8)) return this.launchOn(a.up);
    this.finish(null, res);
  }

  fail(err: Error, a: AttemptHandle): void {
    this.forget(a);
    this.lastErr = err;
    if (this.live.length === 0) this.launch(a.up, a.tcp);
  }

  silent(a: AttemptHandle): void {
    if (a !== this.tcRetry) this.launch(a.up, a.tcp);
  }

  /** The client's deadline passed. */
  onTimer(): void {
    const err = this.lastErr;
    this.finish(new UpstreamError(`no answer within ${this.host.cfg.deadlineMs} ms: ${err?.message ?? 'no upstream answered'}`, { cause: err }), null);
  }

  /** End now with `err` (forwarder closed, loop found at start). */
  abort(err: Error): void {
    this.finish(err, null);
  }

  private forget(a: AttemptHandle): void {
    const i = this.live.indexOf(a);
    if (i >= 0) this.live.splice(i, 1);
  }

  private finish(err: Error | null, res: Buffer | null): void {
    if (this.finished) return;
    this.finished = true;
    const host = this.host;
    host.inflight--;
    host.races.remove(this);
    queryTimers.disarm(this);
    for (const h of this.live) h.cancel();
    this.live.length = 0;
    const done = this.done;
    if (this.starting) queueMicrotask(err ? () => done.fail(err) : () => done.answer(res!));
    else if (err) done.fail(err);
    else done.answer(res!);
  }
}

/** The races in flight, as an intrusive list: adding and removing allocate nothing. */
export class RaceList {
  private head: Race | null = null;
  size = 0;

  add(r: Race): void {
    r.prev = null;
    r.next = this.head;
    if (this.head !== null) this.head.prev = r;
    this.head = r;
    this.size++;
  }

  remove(r: Race): void {
    if (r.prev !== null) r.prev.next = r.next;
    else if (this.head === r) this.head = r.next;
    else return; // not in the list
    if (r.next !== null) r.next.prev = r.prev;
    r.prev = null;
    r.next = null;
    this.size--;
  }

  /** End every race with `err`. */
  abortAll(err: Error): void {
    const all: Race[] = [];
    for (let r = this.head; r !== null; r = r.next) all.push(r);
    for (const r of all) r.abort(err);
  }
}
