// One persistent, pipelined TCP connection to an upstream (RFC 7766 §6.2.1.1): many queries in
// flight, each under a connection-local 16-bit ID, answers matched by ID and question in any
// order. Queries issued in one event-loop turn go out in one write (see send).
import { Socket, type SocketConstructorOpts } from 'node:net';
import { randomInt } from 'node:crypto';
import { questionMatches } from '../dns/answer.js';
import { UpstreamError } from '../errors.js';

/** First size of a turn's write buffer: under half of Node's 8 KiB pool, so it comes from the pool. */
const OUT_START = 2048;
/** Where every upstream connection's reads land; 64 KiB holds any DNS message. */
const READ_BUF = Buffer.allocUnsafe(0x10000);

export interface Exchange {
  /** ID on the connection it was last sent on. */
  id: number;
  /** Query wire (its ID bytes are overwritten per attempt). */
  query: Buffer;
  qname: Buffer;
  qtype: number;
  qclass: number;
  sentAt: number;
  /** `response` is a view into a buffer reused by the next read: copy what must outlive the call. */
  resolve(response: Buffer): void;
  reject(err: Error): void;
  /** The connection went silent with this exchange in flight: ask elsewhere, keep listening here. */
  silent?(): void;
}

export interface ConnectionEvents {
  /** An answer whose ID or question matched nothing in flight (counted, discarded). */
  onMismatch(): void;
  /** The connection is gone; `pending` exchanges must be retried elsewhere. */
  onClose(conn: TcpConnection, pending: Exchange[], err: Error, byPeer: boolean): void;
}

export class TcpConnection {
  readonly createdAt = Date.now();
  lastReadAt = 0;
  lastWriteAt = 0;
  /** Last answer that matched a query: bytes that match nothing (wrong ID) do not prove life. */
  lastAnswerAt = 0;
  answered = 0;
  /** Queries here beaten by a copy on another connection since this one last answered (pool.hedgeLost). */
  hedgeLosses = 0;
  /** Silent with queries in flight (IPVS blackhole): takes no new queries, closed once drained. */
  suspect = false;
  private readonly socket: Socket;
  private readonly inflight = new Map<number, Exchange>();
  private nextId = randomInt(0, 0x10000);
  private readBuf: Buffer | null = null;
  /** Frames waiting for this turn's write, and their length. */
  private out: Buffer | null = null;
  private outLen = 0;
  private closed = false;
  private connected = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly events: ConnectionEvents,
    connectTimeoutMs: number,
  ) {
    // Reads land in one buffer shared by every connection (`onread`): each read is parsed to
    // the end before the next (libuv reads one stream at a time), so nothing outlives the call.
    // A buffer per read was garbage (and external memory) on every upstream answer.
    const s = new Socket({ onread: { buffer: READ_BUF, callback: (n: number, buf: Uint8Array) => this.onRead(buf as Buffer, n) } } as SocketConstructorOpts);
    this.socket = s;
    s.setNoDelay(true);
    s.setKeepAlive(true, 10_000);
    s.setTimeout(connectTimeoutMs, () => {
      if (!this.connected) this.close(new UpstreamError(`connect to ${host}:${port} timed out`), true);
    });
    s.on('connect', () => {
      this.connected = true;
      s.setTimeout(0);
    });
    s.on('error', (err) => this.close(new UpstreamError(`${host}:${port}: ${err.message}`, { cause: err }), true));
    s.on('close', () => this.close(new UpstreamError(`${host}:${port}: connection closed`), true));
    s.connect({ host, port });
  }

  get size(): number {
    return this.inflight.size;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  /** Send `ex` on this connection. False if it is closed or its 65,536 IDs are all in use. */
  send(ex: Exchange): boolean {
    if (this.closed || this.inflight.size >= 0xffff) return false;
    let id = this.nextId;
    while (this.inflight.has(id)) id = (id + 1) & 0xffff;
    this.nextId = (id + 1) & 0xffff;
    this.inflight.set(id, ex);
    ex.id = id;
    // Frames of one event-loop turn are appended to one buffer written in setImmediate: one
    // socket write per turn (nextTick ran after every client datagram and cost a syscall per
    // query; cork + a write per query cost a frame buffer and a stream write request each).
    const q = ex.query;
    const need = q.length + 2;
    let out = this.out;
    if (out === null) {
      out = this.out = Buffer.allocUnsafe(need > OUT_START ? need : OUT_START);
      this.outLen = 0;
      setImmediate(flush, this);
    } else if (this.outLen + need > out.length) {
      const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, this.outLen + need));
      out.copy(bigger, 0, 0, this.outLen);
      out = this.out = bigger;
    }
    const at = this.outLen;
    out[at] = q.length >> 8;
    out[at + 1] = q.length & 0xff;
    q.copy(out, at + 2);
    out[at + 2] = id >> 8;
    out[at + 3] = id & 0xff;
    this.outLen = at + need;
    return true;
  }

  /** Forget `ex` (its attempt timed out); a late answer then counts as a mismatch. */
  abandon(ex: Exchange): void {
    if (this.inflight.get(ex.id) === ex) this.inflight.delete(ex.id);
  }

  /** Exchanges in flight, for a suspect connection to hand them to the forwarder. */
  pending(): Exchange[] {
    return [...this.inflight.values()];
  }

  /** Oldest send time among in-flight exchanges, or 0. Used to spot a silent backend. */
  oldestSentAt(): number {
    let oldest = 0;
    for (const ex of this.inflight.values()) if (oldest === 0 || ex.sentAt < oldest) oldest = ex.sentAt;
    return oldest;
  }

  /** Write the frames batched in this turn (setImmediate after the first of them). */
  flush(): void {
    const out = this.out;
    if (out === null) return;
    this.out = null; // the socket holds on to `out` until written: the next batch gets a new one
    if (this.closed) return;
    this.socket.write(out.subarray(0, this.outLen));
    this.lastWriteAt = Date.now();
  }

  private onRead(chunk: Buffer, n: number): void {
    this.lastReadAt = Date.now();
    let buf = chunk;
    let end = n;
    if (this.readBuf !== null) {
      buf = Buffer.concat([this.readBuf, chunk.subarray(0, n)]);
      end = buf.length;
    }
    let pos = 0;
    while (end - pos >= 2) {
      const len = (buf[pos]! << 8) | buf[pos + 1]!;
      if (end - pos - 2 < len) break;
      this.onMessage(buf.subarray(pos + 2, pos + 2 + len));
      pos += 2 + len;
    }
    // A partial frame is copied out: the shared read buffer is overwritten by the next read.
    this.readBuf = pos < end ? Buffer.from(buf.subarray(pos, end)) : null;
  }

  private onMessage(msg: Buffer): void {
    if (msg.length < 12) return this.events.onMismatch();
    const id = (msg[0]! << 8) | msg[1]!;
    const ex = this.inflight.get(id);
    if (!ex || !questionMatches(msg, ex.qname, ex.qtype, ex.qclass)) return this.events.onMismatch();
    this.inflight.delete(id);
    this.answered++;
    this.hedgeLosses = 0;
    this.lastAnswerAt = this.lastReadAt;
    // A view into the shared read buffer, valid only during this call (see Exchange.resolve).
    ex.resolve(msg);
  }

  /** Close now; in-flight exchanges are handed back through onClose for a retry. */
  close(err: Error = new UpstreamError(`${this.host}:${this.port}: closed by agent`), byPeer = false): void {
    if (this.closed) return;
    this.closed = true;
    const pending = [...this.inflight.values()];
    this.inflight.clear();
    this.socket.destroy();
    this.events.onClose(this, pending, err, byPeer);
  }

  /** Close once in-flight exchanges are answered (drain after expire / max age). */
  drained(): boolean {
    return this.inflight.size === 0;
  }
}

function flush(conn: TcpConnection): void {
  conn.flush();
}
