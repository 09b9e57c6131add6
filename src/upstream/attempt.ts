// One try of one query on one upstream, over TCP (a pooled pipelined connection) or UDP (a fresh
// socket). It reports exactly one of answer / fail, and possibly `silent` before that: no answer
// for SILENT_MS, the cue for the forwarder to ask elsewhere while this try keeps listening.
import { UpstreamError } from '../errors.js';
import type { Exchange, TcpConnection } from './tcp-connection.js';
import { udpExchange } from './udp-exchange.js';
import { SILENT_MS, type Upstream } from './upstream.js';

export interface ForwardQuestion {
  query: Buffer; // wire with any ID; ours replaces it
  qname: Buffer; // lowercased wire name
  qtype: number;
  qclass: number;
}

export interface AttemptEvents {
  answer(res: Buffer): void;
  /** The try is over without an answer; it has already been charged to the upstream if due. */
  fail(err: Error): void;
  silent(): void;
}

export interface AttemptHandle {
  /** Stop listening (another try answered first); a late answer then counts as a mismatch. */
  cancel(): void;
}

export function startAttempt(up: Upstream, q: ForwardQuestion, tcp: boolean, timeoutMs: number, ev: AttemptEvents): AttemptHandle {
  return tcp ? tcpAttempt(up, q, timeoutMs, ev) : udpAttempt(up, q, timeoutMs, ev);
}

function tcpAttempt(up: Upstream, q: ForwardQuestion, timeoutMs: number, ev: AttemptEvents): AttemptHandle {
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  let conn: TcpConnection | null = null;
  const ex: Exchange = {
    id: 0,
    query: q.query,
    qname: q.qname,
    qtype: q.qtype,
    qclass: q.qclass,
    sentAt: Date.now(),
    resolve(res) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ev.answer(res);
    },
    // The connection closed under the query; the upstream has charged the connection once.
    reject(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ev.fail(err);
    },
    silent() {
      if (!done) ev.silent();
    },
  };
  try {
    conn = up.sendTcp(ex);
  } catch (err) {
    done = true;
    queueMicrotask(() => ev.fail(err as Error));
    return { cancel() {} };
  }
  timer = setTimeout(() => {
    if (done) return;
    done = true;
    conn!.abandon(ex);
    // A silent connection was charged when it went silent; a lone lost query is charged here.
    if (!conn!.suspect) up.failure();
    ev.fail(new UpstreamError(`${up.name}: tcp timeout after ${timeoutMs} ms`));
  }, timeoutMs);
  return {
    cancel() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn!.abandon(ex);
    },
  };
}

function udpAttempt(up: Upstream, q: ForwardQuestion, timeoutMs: number, ev: AttemptEvents): AttemptHandle {
  let done = false;
  const sentAt = Date.now();
  const finish = (): void => {
    done = true;
    clearTimeout(timer);
    clearTimeout(silentTimer);
  };
  const h = udpExchange(up.host, up.port, q.query, q.qname, q.qtype, q.qclass, () => up.onMismatch(), (err, res) => {
    if (done) return;
    finish();
    if (err) {
      up.failure();
      ev.fail(err);
    } else ev.answer(res!);
  });
  const silentTimer = setTimeout(() => {
    if (done) return;
    up.silence(sentAt, Date.now());
    ev.silent();
  }, Math.min(SILENT_MS, timeoutMs));
  const timer = setTimeout(() => {
    if (done) return;
    finish();
    h.cancel();
    up.failure();
    ev.fail(new UpstreamError(`${up.name}: udp timeout after ${timeoutMs} ms`));
  }, timeoutMs);
  return {
    cancel() {
      if (done) return;
      finish();
      h.cancel();
    },
  };
}
