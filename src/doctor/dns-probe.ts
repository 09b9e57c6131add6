// Real DNS exchanges for the doctor, hand-built on Node sockets: one query over UDP or TCP, a
// hard timeout, never a throw. Only the header is read back (rcode, TC, answer count, size):
// reachability and truncation are all the checks judge.
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { connect, isIPv6 } from 'node:net';
import { CLASS_IN, FLAG_TC, OPCODE_MASK } from '../dns/constants.js';
import { rcodeName } from '../dns/names.js';
import { buildQuery } from '../dns/query.js';
import { nameToWire } from '../dns/wire.js';

export interface Exchange {
  ok: boolean;
  /** "NOERROR", "SERVFAIL", ... or why there was no answer ("timeout after 1500 ms", "ECONNREFUSED"). */
  outcome: string;
  truncated: boolean;
  answers: number;
  bytes: number;
  ms: number;
}

export interface Query {
  name: string;
  qtype: number;
  /** OPCODE 2 (STATUS): a DNS server answers it itself (NOTIMP), whatever its upstreams do. */
  status?: boolean;
}

/** The wire query, without EDNS: a 512-byte UDP limit, so a big answer must come back truncated. */
export function wireQuery(q: Query): Buffer {
  const msg = buildQuery(nameToWire(q.name), q.qtype, CLASS_IN, { edns: false });
  msg.writeUInt16BE(randomInt(0, 0x10000), 0);
  if (q.status) msg.writeUInt16BE((msg.readUInt16BE(2) & ~OPCODE_MASK) | (2 << 11), 2);
  return msg;
}

function answered(reply: Buffer, id: number, t0: number): Exchange | null {
  if (reply.length < 12 || reply.readUInt16BE(0) !== id) return null;
  const flags = reply.readUInt16BE(2);
  return { ok: true, outcome: rcodeName(flags & 0xf), truncated: (flags & FLAG_TC) !== 0, answers: reply.readUInt16BE(6), bytes: reply.length, ms: Date.now() - t0 };
}

function failed(outcome: string, t0: number): Exchange {
  return { ok: false, outcome, truncated: false, answers: 0, bytes: 0, ms: Date.now() - t0 };
}

export function udpExchange(host: string, port: number, q: Query, timeoutMs: number): Promise<Exchange> {
  const msg = wireQuery(q);
  const id = msg.readUInt16BE(0);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    let settled = false;
    const done = (e: Exchange): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.close();
      resolve(e);
    };
    const timer = setTimeout(() => done(failed(`timeout after ${timeoutMs} ms`, t0)), timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message, t0)));
    sock.on('message', (reply) => {
      const e = answered(reply, id, t0);
      if (e) done(e);
    });
    // Connected, so an ICMP port unreachable comes back as ECONNREFUSED instead of a timeout.
    // connect() reports a missing route (ENETUNREACH) to its callback, not as an 'error' event.
    sock.connect(port, host, (err?: Error) => {
      if (err) done(failed((err as NodeJS.ErrnoException).code ?? err.message, t0));
      else sock.send(msg);
    });
  });
}

export function tcpExchange(host: string, port: number, q: Query, timeoutMs: number): Promise<Exchange> {
  const msg = wireQuery(q);
  const id = msg.readUInt16BE(0);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (e: Exchange): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(e);
    };
    const timer = setTimeout(() => done(failed(`timeout after ${timeoutMs} ms`, t0)), timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => done(failed(err.code ?? err.message, t0)));
    sock.on('connect', () => {
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(msg.length, 0);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      done(answered(buf.subarray(2, 2 + buf.readUInt16BE(0)), id, t0) ?? failed('reply with another id', t0));
    });
    sock.on('end', () => done(failed('connection closed without a reply', t0)));
  });
}

/** "NOERROR 120 answers 1964 B 3 ms", "NOTIMP 2 ms", "timeout after 1500 ms": the evidence of one exchange. */
export function describe(e: Exchange): string {
  if (!e.ok) return e.outcome;
  const size = e.answers > 0 || e.truncated ? ` ${e.answers} answers ${e.bytes} B` : '';
  return `${e.outcome}${e.truncated ? ' TC' : ''}${size} ${e.ms} ms`;
}
