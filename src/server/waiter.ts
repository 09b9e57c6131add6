// A client waiting for a cache miss to be resolved: its query's header and question (copied
// from a TCP read buffer so it is not pinned), where to answer, and when it arrived.
import type { QueryView } from '../dns/reply.js';
import type { ParsedQuery } from '../dns/wire.js';
import type { ZoneStats } from '../observe/stats.js';

export interface ReplySink {
  readonly tcp: boolean;
  send(reply: Buffer, address: string, port: number): void;
}

export class Waiter implements QueryView {
  readonly query: Buffer;
  readonly flags: number;
  readonly qnameEnd: number;
  readonly questionEnd: number;
  readonly hasEdns: boolean;
  readonly dnssecOk: boolean;
  readonly limit: number;
  readonly size: number; // request length, for the query log

  constructor(
    msg: Buffer,
    q: ParsedQuery,
    readonly sink: ReplySink,
    readonly address: string,
    readonly port: number,
    readonly startedAt: number,
    readonly stats: ZoneStats,
  ) {
    // TCP: a copy, so the connection's read buffer is not pinned. UDP: node:dgram gives each
    // datagram a buffer of its own, exactly its size and never reused, so a view is enough.
    this.query = sink.tcp ? Buffer.from(msg.subarray(0, q.questionEnd)) : msg.subarray(0, q.questionEnd);
    this.flags = q.flags;
    this.qnameEnd = q.qnameEnd;
    this.questionEnd = q.questionEnd;
    this.hasEdns = q.hasEdns;
    this.dnssecOk = q.dnssecOk;
    this.limit = sink.tcp ? 0xffff : q.udpPayload;
    this.size = msg.length;
  }
}
