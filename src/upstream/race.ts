// The tries of one forwarded query, raced inside the client's deadline. A try unanswered past
// the upstream's hedge delay (RTT-based, rtt.ts) gets a copy on another connection or upstream
// while it keeps listening (first answer wins); a try that fails is replaced, at once the first
// time round the upstreams and then with backoff, so the restart of the only upstream is ridden
// out instead of answered with SERVFAIL in 0 ms; a truncated UDP answer is asked again over TCP
// on the same upstream. Upstreams marked down are still tried when no other is left (CoreDNS
// forward does the same): only the deadline ends a query with SERVFAIL.
// One object per query (its own attempt listener, wheel timer and list node): the closures,
// Promise, Set entry and Timeout per query it replaces were a fifth of the miss path's garbage.
import { performance } from 'node:perf_hooks';
import type { ForwardConfig } from '../config/types.js';
import { FLAG_TC } from '../dns/constants.js';
import { UpstreamError } from '../errors.js';
import { startAttempt, type AttemptEvents, type AttemptHandle, type ForwardQuestion } from './attempt.js';
import type { TcpConnection } from './tcp-connection.js';
import { queryTimers, type WheelTimer } from './timer-wheel.js';
import type { Upstream } from './upstream.js';

/** Tries per client query (failed, hedged and silent ones); bounds the work a dead upstream costs. */
export const MAX_TRIES = 8;
/**
 * Hedges per query on the RTT timer. A connection judged silent may add one more (strong
 * evidence); failed tries are bounded by MAX_TRIES alone. Two copies on fresh connections reach
 * a live endpoint behind a two-replica Service IP with 75 % odds before the silence rule acts.
 */
export const MAX_HEDGES = 2;
/** First backoff after a failed try once every upstream has failed once; doubles per failure. */
export const RETRY_BACKOFF_MS = 50;
/** Backoff ceiling: a restarting CoreDNS is asked again at least once a second. */
export const RETRY_BACKOFF_MAX_MS = 1_000;

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
  /**
   * An upstream by policy, preferring one healthy over `tcp` and other than `avoid`; when every
   * one is down, one of those anyway (`allDown` set). Null only when there is none at all.
   */
  choose(avoid: Upstream | null, tcp: boolean): Upstream | null;
  /** Whether the last `choose` found every upstream down. */
  readonly allDown: boolean;
  /** Upstreams taking queries: the first round of failed tries is retried without backoff. */
  readonly activeCount: number;
}

export class Race implements AttemptEvents, WheelTimer {
  wheelDue = 0;
  wheelTick = 0;
  prev: Race | null = null;
  next: Race | null = null;
  private readonly deadline: number;
  private readonly live: AttemptHandle[] = [];
  /** The newest try: a hedge or a silence of an older one starts no further try. */
  private latest: AttemptHandle | null = null;
  /** The TCP retry of a truncated UDP answer: its silence starts no further try. */
  private tcRetry: AttemptHandle | null = null;
  private readonly useTcp: boolean;
  private tries = 0;
  private hedgesSent = 0;
  private failures = 0;
  private brokenCounted = false;
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
    this.useTcp = useTcp;
    this.deadline = Date.now() + host.cfg.deadlineMs;
    host.inflight++;
    host.races.add(this);
    this.launch(null, null);
    this.starting = false;
  }

  /**
   * Start a try (preferring an upstream other than `avoid`, connections other than
   * `avoidConns`), then arm the one wheel timer for the next hedge or the deadline.
   */
  private launch(avoid: Upstream | null, avoidConns: readonly TcpConnection[] | null): Upstream | null {
    if (this.finished) return null;
    const host = this.host;
    const now = Date.now();
    if (host.isClosed || now >= this.deadline || this.tries >= MAX_TRIES) return this.exhausted();
    const up = host.choose(avoid, this.useTcp);
    if (up === null) return this.exhausted();
    if (host.allDown && !this.brokenCounted) {
      this.brokenCounted = true;
      host.healthcheckBroken++;
    }
    this.tries++;
    up.counters.requests++;
    const a = startAttempt(up, this.q, this.useTcp, Math.min(host.cfg.attemptTimeoutMs, this.deadline - now), this, avoidConns);
    this.live.push(a);
    this.latest = a;
    this.armAt(now + up.rtt.hedgeDelayMs(this.hedgesSent));
    return up;
  }

  /** No further try: end now if nothing is still listening, else let the live tries or the deadline decide. */
  private exhausted(): null {
    if (this.live.length > 0) this.armAt(this.deadline);
    else {
      const why = this.lastErr?.message ?? (this.host.isClosed ? 'forwarder closed' : 'no upstream tried');
      this.finish(new UpstreamError(`gave up after ${this.tries} tries: ${why}`, { cause: this.lastErr }), null);
    }
    return null;
  }

  private armAt(due: number): void {
    queryTimers.arm(this, due < this.deadline ? due : this.deadline);
  }

  /** RFC 7766 §5: a truncated UDP answer is asked again over TCP on the same upstream. */
  private launchOn(up: Upstream): void {
    const timeout = Math.max(1, Math.min(this.host.cfg.attemptTimeoutMs, this.deadline - Date.now()));
    up.counters.requests++;
    const a = startAttempt(up, this.q, true, timeout, this);
    this.tcRetry = a;
    this.latest = a;
    this.live.push(a);
    this.armAt(this.deadline);
  }

  answer(res: Buffer, a: AttemptHandle): void {
    this.forget(a);
    a.up.success(res.length >= 4 ? res[3]! & 0x0f : 0, (performance.now() - a.startedAt) / 1000, a.tcp);
    if (!a.tcp && res.length >= 4 && res[2]! & (FLAG_TC >> 8)) return this.launchOn(a.up);
    this.finish(null, res, a);
  }

  fail(err: Error, a: AttemptHandle): void {
    this.forget(a);
    this.lastErr = err;
    this.failures++;
    if (this.live.length > 0 || this.finished) return;
    // Each upstream once at once (a reset idle connection is the common case); after that the
    // upstream is restarting or unreachable: back off so the tries span the deadline.
    const over = this.failures - this.host.activeCount;
    if (over <= 0) {
      this.launch(a.up, null);
      return;
    }
    this.armAt(Date.now() + Math.min(RETRY_BACKOFF_MAX_MS, RETRY_BACKOFF_MS * 2 ** (over - 1)));
  }

  /** `a`'s connection went silent (or UDP got no answer for SILENT_MS): hedge now unless already done. */
  silent(a: AttemptHandle): void {
    if (a === this.latest && a !== this.tcRetry) this.hedge(a);
  }

  private hedge(a: AttemptHandle): void {
    this.hedgesSent++;
    const waiting: TcpConnection[] = [];
    for (const h of this.live) if (h.conn !== null) waiting.push(h.conn);
    const up = this.launch(a.up, waiting);
    if (up !== null) up.counters.hedges++;
  }

  /** The deadline, a hedge delay or a backoff ran out. */
  onTimer(now: number): void {
    if (now >= this.deadline) {
      const err = this.lastErr;
      return this.finish(new UpstreamError(`no answer within ${this.host.cfg.deadlineMs} ms: ${err?.message ?? 'no upstream answered'}`, { cause: err }), null);
    }
    const last = this.latest;
    if (last !== null && this.live.includes(last)) {
      if (last === this.tcRetry || this.hedgesSent >= MAX_HEDGES) return this.armAt(this.deadline);
      // A TCP connection that answered other queries since this one went out is delivering:
      // the answer is slow (CoreDNS asking the cloud resolver), and a copy would only add load.
      const conn = last.conn;
      if (conn !== null && conn.lastAnswerAt >= last.sentAt) return this.armAt(now + last.up.rtt.hedgeDelayMs(this.hedgesSent));
      return this.hedge(last);
    }
    this.launch(last?.up ?? null, null); // a backoff ran out
  }

  /** End now with `err` (forwarder closed, loop found at start). */
  abort(err: Error): void {
    this.finish(err, null);
  }

  private forget(a: AttemptHandle): void {
    const i = this.live.indexOf(a);
    if (i >= 0) this.live.splice(i, 1);
  }

  private finish(err: Error | null, res: Buffer | null, winner: AttemptHandle | null = null): void {
    if (this.finished) return;
    this.finished = true;
    const host = this.host;
    host.inflight--;
    host.races.remove(this);
    queryTimers.disarm(this);
    for (const h of this.live) h.cancel(winner !== null && h.startedAt < winner.startedAt);
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

  /** End the `n` newest races with `err` (they would hold their memory longest); returns how many. */
  abortNewest(n: number, err: Error): number {
    const some: Race[] = [];
    for (let r = this.head; r !== null && some.length < n; r = r.next) some.push(r);
    for (const r of some) r.abort(err);
    return some.length;
  }

  /** End every race with `err`. */
  abortAll(err: Error): void {
    const all: Race[] = [];
    for (let r = this.head; r !== null; r = r.next) all.push(r);
    for (const r of all) r.abort(err);
  }
}
