// A client waiting for a cache miss to be resolved: its query's header and question (copied
// from a TCP read buffer so it is not pinned), where to answer, and when it arrived.
import type { QueryView } from '../dns/reply.js';
import type { ParsedQuery } from '../dns/wire.js';
import type { Peer } from '../observe/query-log.js';
import type { ZoneStats } from './stats.js';

export interface ReplySink {
  readonly tcp: boolean;
  /** The query's bytes are overwritten after the handler returns (TCP read buffer, batch UDP slot). */
  readonly reusesQuery: boolean;
  send(reply: Buffer, address: Peer, port: number): void;
  /**
   * In-place replies (the batch UDP listener's send slab): where in `slab` a reply of at most
   * `max` bytes to the query being handled may be written, or -1 (no slab, no room left in this
   * batch, or a client other than the one being handled); `sendWritten` then queues the `len`
   * bytes written there. A cache hit answered this way allocates no Buffer of its own. Given
   * `timed`, the listener counts the request's duration into it when the batch's replies leave:
   * from the batch's receive time (`clock[0]`) to that moment, which is what each of its clients
   * waits, and one clock read for the batch instead of one per reply.
   */
  readonly slab: Buffer | null;
  reserve(max: number, address: Peer, port: number): number;
  sendWritten(len: number, timed: ZoneStats | null): void;
  /**
   * Batch listeners: a clock read without performance.now(), whose every result is a new heap
   * number (listen/native.ts nativeClock): [0] the batch's receive time, [2] the time of the last
   * `stamp()`, each minus [1] on performance.now()'s scale (ms).
   */
  readonly clock?: Float64Array;
  stamp?(): void;
  /** Batch listeners: the receive slab as int32, for parseQuery's word-at-a-time name reading. */
  readonly words?: Int32Array;
  /**
   * Batch listeners: the byte offset in that slab of the query being handled. The query's
   * Buffer knows it too, but `byteOffset` is a getter V8 left to its generic inline cache in the
   * hit path's profile (Builtins_LoadIC), a call per query.
   */
  readonly wordsAt?: number;
}

export class Waiter implements QueryView {
  readonly query: Buffer;
  readonly flags: number;
  readonly qnameEnd: number;
  readonly questionEnd: number;
  readonly nameLowercase: boolean;
  readonly hasEdns: boolean;
  readonly dnssecOk: boolean;
  readonly limit: number;
  readonly size: number; // request length, for the query log

  constructor(
    msg: Buffer,
    q: ParsedQuery,
    readonly sink: ReplySink,
    readonly address: Peer,
    readonly port: number,
    readonly startedAt: number,
    readonly stats: ZoneStats,
  ) {
    // TCP and batch UDP: a copy, as the read buffer or slot is reused (and a TCP read buffer is
    // not pinned). node:dgram gives each datagram a buffer of its own, so a view is enough there.
    this.query = sink.reusesQuery ? Buffer.from(msg.subarray(0, q.questionEnd)) : msg.subarray(0, q.questionEnd);
    this.flags = q.flags;
    this.qnameEnd = q.qnameEnd;
    this.questionEnd = q.questionEnd;
    this.nameLowercase = q.nameLowercase;
    this.hasEdns = q.hasEdns;
    this.dnssecOk = q.dnssecOk;
    this.limit = sink.tcp ? 0xffff : q.udpPayload;
    this.size = q.length;
  }
}
