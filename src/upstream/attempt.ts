// One try of one query on one upstream, over TCP (a pooled pipelined connection) or UDP (a fresh
// socket). It reports exactly one of answer / fail, and possibly `silent` before that: its
// connection judged silent, or no UDP answer for SILENT_MS, the cue for the forwarder to ask
// elsewhere while this try keeps listening (the race hedges sooner, on the upstream's RTT).
// A try is one object (it is the connection's Exchange and its own wheel timer): the miss path
// allocated an exchange, three closures, a handle and a Timeout per try before.
import { performance } from 'node:perf_hooks';
import { UpstreamError } from '../errors.js';
import type { Exchange, TcpConnection } from './tcp-connection.js';
import { queryTimers, type WheelTimer } from './timer-wheel.js';
import { udpExchange, type UdpExchangeHandle } from './udp-exchange.js';
import { SILENT_MS } from './pool.js';
import type { Upstream } from './upstream.js';

export interface ForwardQuestion {
  query: Buffer; // wire with any ID; ours replaces it
  qname: Buffer; // lowercased wire name
  qtype: number;
  qclass: number;
}

export interface AttemptEvents {
  answer(res: Buffer, a: AttemptHandle): void;
  /** The try is over without an answer; it has already been charged to the upstream if due. */
  fail(err: Error, a: AttemptHandle): void;
  silent(a: AttemptHandle): void;
}

export interface AttemptHandle {
  readonly up: Upstream;
  readonly tcp: boolean;
  /** performance.now() when the try started, for the upstream's duration histogram. */
  readonly startedAt: number;
  /** Date.now() when it was sent, to compare with a connection's lastAnswerAt. */
  readonly sentAt: number;
  /** The pooled connection a TCP try went out on (null for UDP, or if sending failed). */
  readonly conn: TcpConnection | null;
  /**
   * Stop listening (another try answered first); a late answer then counts as a mismatch.
   * `beaten`: the winner was sent after this try, which is evidence against its connection.
   */
  cancel(beaten: boolean): void;
}

/** `avoid`: for a TCP hedge, the connections the earlier tries wait on. */
export function startAttempt(up: Upstream, q: ForwardQuestion, tcp: boolean, timeoutMs: number, ev: AttemptEvents, avoid: readonly TcpConnection[] | null = null): AttemptHandle {
  return tcp ? new TcpAttempt(up, q, timeoutMs, ev, avoid) : new UdpAttempt(up, q, timeoutMs, ev);
}

class TcpAttempt implements AttemptHandle, Exchange, WheelTimer {
  readonly tcp = true;
  readonly startedAt = performance.now();
  readonly sentAt = Date.now();
  id = 0;
  readonly query: Buffer;
  readonly qname: Buffer;
  readonly qtype: number;
  readonly qclass: number;
  wheelDue = 0;
  wheelTick = 0;
  private done = false;
  conn: TcpConnection | null = null;

  constructor(
    readonly up: Upstream,
    q: ForwardQuestion,
    private readonly timeoutMs: number,
    private readonly ev: AttemptEvents,
    avoid: readonly TcpConnection[] | null,
  ) {
    this.query = q.query;
    this.qname = q.qname;
    this.qtype = q.qtype;
    this.qclass = q.qclass;
    try {
      this.conn = up.sendTcp(this, avoid);
    } catch (err) {
      this.done = true;
      queueMicrotask(() => ev.fail(err as Error, this));
      return;
    }
    queryTimers.arm(this, this.sentAt + timeoutMs);
  }

  resolve(res: Buffer): void {
    if (this.done) return;
    this.done = true;
    queryTimers.disarm(this);
    this.ev.answer(res, this);
  }

  /** The connection closed under the query; the upstream has charged the connection once. */
  reject(err: Error): void {
    if (this.done) return;
    this.done = true;
    queryTimers.disarm(this);
    this.ev.fail(err, this);
  }

  silent(): void {
    if (!this.done) this.ev.silent(this);
  }

  onTimer(): void {
    if (this.done) return;
    this.done = true;
    const conn = this.conn!;
    conn.abandon(this);
    // A silent connection was charged when it went silent; a lone lost query is charged here.
    if (!conn.suspect) this.up.failure(true);
    this.ev.fail(new UpstreamError(`${this.up.name}: tcp timeout after ${this.timeoutMs} ms`), this);
  }

  cancel(beaten: boolean): void {
    if (this.done) return;
    this.done = true;
    queryTimers.disarm(this);
    const conn = this.conn!;
    conn.abandon(this);
    if (beaten) this.up.pool.hedgeLost(conn, this.sentAt, Date.now());
  }
}

const UDP_LISTENING = 0; // before SILENT_MS: the wheel timer is the silence cue
const UDP_SILENT = 1; // after it: the wheel timer is the try's timeout
const UDP_DONE = 2;

class UdpAttempt implements AttemptHandle, WheelTimer {
  readonly tcp = false;
  readonly conn = null;
  readonly startedAt = performance.now();
  readonly sentAt = Date.now();
  wheelDue = 0;
  wheelTick = 0;
  private state = UDP_LISTENING;
  private readonly h: UdpExchangeHandle;

  constructor(
    readonly up: Upstream,
    q: ForwardQuestion,
    private readonly timeoutMs: number,
    private readonly ev: AttemptEvents,
  ) {
    this.h = udpExchange(up.host, up.port, q.query, q.qname, q.qtype, q.qclass, () => up.onMismatch(), (err, res) => {
      if (this.state === UDP_DONE) return;
      this.finish();
      if (err) {
        up.failure(false);
        ev.fail(err, this);
      } else ev.answer(res!, this);
    });
    if (this.state !== UDP_DONE) queryTimers.arm(this, this.sentAt + Math.min(SILENT_MS, timeoutMs));
  }

  private finish(): void {
    this.state = UDP_DONE;
    queryTimers.disarm(this);
  }

  onTimer(now: number): void {
    if (this.state === UDP_LISTENING) {
      this.state = UDP_SILENT;
      queryTimers.arm(this, this.sentAt + this.timeoutMs);
      this.up.silence(this.sentAt, now, false);
      this.ev.silent(this);
      return;
    }
    if (this.state !== UDP_SILENT) return;
    this.finish();
    this.h.cancel();
    this.up.failure(false);
    this.ev.fail(new UpstreamError(`${this.up.name}: udp timeout after ${this.timeoutMs} ms`), this);
  }

  cancel(): void {
    if (this.state === UDP_DONE) return;
    this.finish();
    this.h.cancel();
  }
}
