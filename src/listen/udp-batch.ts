// UDP listener on the native batch I/O (src/native/udp_batch.c): the kernel hands over up to
// BATCH datagrams per wake-up, the handler runs on each in one JS call, and the replies it sends
// meanwhile leave together in one sendmmsg. Same contract as the node:dgram listener (udp.ts),
// with two differences the rest of the server knows about:
// - a query's bytes live in a slot that the next batch overwrites (`reusesQuery`: a Waiter copies),
//   handed over as one long-lived view per slot and the datagram's length, so a query allocates
//   no Buffer; a cache hit writes its reply straight into the send slab (`reserve`);
// - an IPv4 client is a number (host order), not a string; `peerText` formats it for logs.
import { BindError } from '../errors.js';
import type { QueryHandler } from '../resolve/query-handler.js';
import { nativeClock, type NativeUdp } from './native.js';
import type { Peer } from '../observe/query-log.js';
import type { ReplySink } from '../resolve/waiter.js';
import type { ZoneStats } from '../resolve/stats.js';

export class BatchUdpListener implements ReplySink {
  readonly tcp = false;
  readonly reusesQuery = true;
  readonly io = 'batch';
  private readonly family: number;
  private readonly inAB: ArrayBuffer;
  private readonly slots: Buffer[] = [];
  private readonly out: Buffer;
  private readonly meta: Int32Array;
  private readonly metaBytes: Buffer;
  readonly clock: Float64Array;
  private h: unknown = null;
  private closed = false;
  // the batch being handled: the slot and client a synchronous reply belongs to
  private slot = -1;
  private slotAddress: Peer = 0;
  private slotPort = 0;
  private outUsed = 0;
  private replies = 0;
  /** Per queued reply, the stats its duration goes to when the batch leaves (sendWritten). */
  private readonly timed: (ZoneStats | null)[];
  private timedCount = 0;
  readonly words: Int32Array;
  /** Where in the receive slab (`words`) the datagram being handled starts. */
  wordsAt = 0;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly handler: QueryHandler,
    private readonly native: NativeUdp,
  ) {
    this.family = host.includes(':') ? 1 : 0;
    this.inAB = new ArrayBuffer(native.BATCH * native.SLOT);
    for (let i = 0; i < native.BATCH; i++) this.slots.push(Buffer.from(this.inAB, i * native.SLOT, native.SLOT));
    // Room for a full batch of typical answers; a reply that does not fit is sent on its own.
    this.out = Buffer.from(new ArrayBuffer(64 * 1024));
    const metaAB = new ArrayBuffer(native.META_INTS * 4);
    this.meta = new Int32Array(metaAB);
    this.metaBytes = Buffer.from(metaAB);
    this.clock = nativeClock(native);
    this.timed = new Array<ZoneStats | null>(native.BATCH).fill(null);
    this.words = new Int32Array(this.inAB);
  }

  listen(): Promise<void> {
    try {
      // 4 MiB receive buffer, as the dgram listener: glibc/musl bursts (A+AAAA × search domains) arrive together.
      this.h = this.native.open(this, this.host, this.port, this.family ? 6 : 4, 4 << 20, this.onBatch, this.inAB, this.out.buffer, this.meta.buffer);
    } catch (err) {
      return Promise.reject(new BindError(`udp ${this.host}:${this.port}: ${(err as Error).message}`, { cause: err }));
    }
    return Promise.resolve();
  }

  /** Called by the native side with the number of datagrams in the slots; returns the replies queued. */
  private readonly onBatch = (count: number): number => {
    const meta = this.meta;
    const stride = this.native.META_STRIDE;
    this.outUsed = 0;
    this.replies = 0;
    for (let i = 0; i < count; i++) {
      const m = i * stride;
      const len = meta[m]!;
      if (len < 0) {
        // longer than a slot (4 KiB), cut by the kernel: dropped and counted
        this.handler.stats.dropped++;
        continue;
      }
      const port = meta[m + 1]!;
      const address = this.family ? this.metaBytes.toString('latin1', m * 4 + 16, m * 4 + 16 + meta[m + 3]!) : meta[m + 2]! >>> 0;
      this.slot = i;
      this.wordsAt = i * this.native.SLOT;
      this.slotAddress = address;
      this.slotPort = port;
      try {
        this.handler.handle(this.slots[i]!, this, address, port, this.family, len);
      } catch (err) {
        // As on node:dgram, a throwing handler costs its own query, not the rest of the batch:
        // the error surfaces as an uncaught exception (the agent counts a panic and serves on).
        process.nextTick(rethrow, err);
      }
    }
    this.slot = -1;
    if (this.timedCount > 0) this.timeReplies();
    return this.replies;
  };

  /** The batch's replies are about to leave: one clock read times every one of them. */
  private timeReplies(): void {
    this.native.stamp();
    const micros = ((this.clock[2]! - this.clock[0]!) * 1000) | 0;
    const timed = this.timed;
    for (let i = 0; i < this.replies; i++) {
      const s = timed[i]!;
      if (s !== null) {
        s.timed(micros);
        timed[i] = null;
      }
    }
    this.timedCount = 0;
  }

  stamp(): void {
    this.native.stamp();
  }

  get slab(): Buffer {
    return this.out;
  }

  reserve(max: number, address: Peer, port: number): number {
    // Only for the datagram being handled: its slot names the client the reply goes to.
    if (this.closed || this.slot < 0 || address !== this.slotAddress || port !== this.slotPort) return -1;
    return this.outUsed + max <= this.out.length && this.replies < this.native.BATCH ? this.outUsed : -1;
  }

  sendWritten(len: number, timed: ZoneStats | null): void {
    const r = this.native.META_REPLIES + this.replies * 3;
    this.meta[r] = this.slot;
    this.meta[r + 1] = this.outUsed;
    this.meta[r + 2] = len;
    this.outUsed += len;
    if (timed !== null) {
      this.timed[this.replies] = timed;
      this.timedCount++;
    }
    this.replies++;
  }

  send(reply: Buffer, address: Peer, port: number): void {
    // A miss that completes while the agent stops finds the socket closed: the client is gone.
    if (this.closed) return;
    const n = reply.length;
    if (this.reserve(n, address, port) >= 0) {
      this.out.set(reply, this.outUsed);
      this.sendWritten(n, null);
      return;
    }
    this.native.sendTo(this.h, reply, address, port);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    // Never from inside a batch (the native side still holds it): close on the check phase.
    return new Promise((resolve) =>
      setImmediate(() => {
        if (this.h !== null) this.native.close(this.h);
        this.h = null;
        resolve();
      }),
    );
  }
}

function rethrow(err: unknown): never {
  throw err;
}
