// TCP listener (RFC 7766): 2-byte length framing, several queries in flight per connection
// answered as each completes, an idle timeout, and bounds on connections, on in-flight queries
// and on unsent reply bytes per connection so one client cannot hold the agent's memory.
import { createServer, type Server, type Socket } from 'node:net';
import { BindError } from '../errors.js';
import type { ListenerStats } from '../resolve/stats.js';
import type { QueryHandler } from '../resolve/query-handler.js';
import type { ReplySink } from '../resolve/waiter.js';

export interface TcpListenerOptions {
  maxConnections: number;
  idleTimeoutMs: number; // close a connection with nothing in flight after this long
  maxInflightPerConn: number; // stop reading from a client beyond this many unanswered queries
  maxBufferedBytes: number; // stop reading from a client while more reply bytes than this wait to be sent
}

// 64 KiB of unsent replies (one maximum-size DNS message, or 128 in-flight replies of 500 bytes)
// piles up beyond the kernel's send buffer only when the client has stopped reading. Without a
// bound, 20,000 pipelined queries for a 4.8 KB answer grew the agent's RSS by 97 MiB; now each of
// 1,000 stalled connections holds at most the bound plus the replies of its in-flight queries.
// Such a connection makes no progress, so the idle timeout closes it: Node's socket timeout only
// holds off while a write is moving.
export const DEFAULT_TCP_OPTIONS: TcpListenerOptions = {
  maxConnections: 1000,
  idleTimeoutMs: 10_000,
  maxInflightPerConn: 128,
  maxBufferedBytes: 64 * 1024,
};

class TcpClient implements ReplySink {
  readonly tcp = true;
  readonly reusesQuery = true;
  inflight = 0;
  private pending: Buffer | null = null;
  private paused = false;
  private reading = false; // inside readFrames: a reply sent meanwhile must not end the connection
  private readEnded = false;
  private readonly address: string;
  private readonly port: number;

  constructor(
    readonly socket: Socket,
    private readonly handler: QueryHandler,
    private readonly opts: TcpListenerOptions,
    private readonly family: number,
  ) {
    this.address = socket.remoteAddress ?? '';
    this.port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs, () => {
      if (this.inflight === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      this.pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      this.readFrames();
    });
    // The client half-closed (sent its queries, then FIN): the queries already read still get
    // their answers, as from CoreDNS, which answers each query before reading the next; then close.
    socket.on('end', () => {
      this.readEnded = true;
      this.endIfDone();
    });
    socket.on('drain', () => this.resumeIfBelow());
    socket.on('error', () => socket.destroy());
  }

  /** Hand each complete frame to the handler until the connection has to wait for its replies. */
  private readFrames(): void {
    const buf = this.pending;
    if (buf === null) return;
    this.reading = true;
    let pos = 0;
    while (!this.paused && buf.length - pos >= 2) {
      const len = (buf[pos]! << 8) | buf[pos + 1]!;
      if (buf.length - pos - 2 < len) break;
      const msg = buf.subarray(pos + 2, pos + 2 + len);
      pos += 2 + len;
      // Counted before handing over: a cache hit is sent (and uncounted) before handle() returns.
      this.inflight++;
      if (!this.handler.handle(msg, this, this.address, this.port, this.family)) this.inflight--;
      this.pauseIfOver();
    }
    this.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
    this.reading = false;
  }

  private pauseIfOver(): void {
    if (this.paused || (this.socket.writableLength <= this.opts.maxBufferedBytes && this.inflight < this.opts.maxInflightPerConn)) return;
    this.paused = true;
    this.socket.pause();
  }

  /** Read again once in-flight queries are down to half and unsent replies to half the bound. */
  private resumeIfBelow(): void {
    if (!this.paused || this.inflight > this.opts.maxInflightPerConn / 2 || this.socket.writableLength > this.opts.maxBufferedBytes / 2) return;
    this.paused = false;
    this.readFrames();
    if (this.paused) return;
    this.socket.resume();
    this.endIfDone();
  }

  /** After the client's FIN: close once every query read is answered and its reply queued. */
  private endIfDone(): void {
    if (!this.readEnded || this.reading || this.paused || this.inflight > 0 || this.socket.writableEnded) return;
    // A partial frame the client will never complete.
    if (this.pending !== null) this.handler.stats.dropped++;
    this.pending = null;
    this.socket.end();
  }

  // Each reply is framed from a Buffer of its own: no in-place replies.
  readonly slab = null;
  reserve(): number {
    return -1;
  }
  sendWritten(): void {}

  send(reply: Buffer): void {
    if (this.inflight > 0) this.inflight--;
    if (this.socket.destroyed || !this.socket.writable) return;
    const frame = Buffer.allocUnsafe(reply.length + 2);
    frame[0] = reply.length >> 8;
    frame[1] = reply.length & 0xff;
    reply.copy(frame, 2);
    this.socket.write(frame);
    this.pauseIfOver();
    this.resumeIfBelow();
    this.endIfDone();
  }
}

export class TcpListener {
  private readonly server: Server;
  private readonly clients = new Set<TcpClient>();
  private readonly family: number;

  constructor(
    readonly host: string,
    readonly port: number,
    handler: QueryHandler,
    stats: ListenerStats,
    opts: TcpListenerOptions = DEFAULT_TCP_OPTIONS,
  ) {
    this.family = host.includes(':') ? 1 : 0;
    // allowHalfOpen: a client's FIN ends its queries, not our replies (TcpClient closes after them).
    this.server = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
      if (this.clients.size >= opts.maxConnections) {
        stats.tcpRejected++;
        socket.destroy();
        return;
      }
      stats.tcpConnections++;
      const client = new TcpClient(socket, handler, opts, this.family);
      this.clients.add(client);
      socket.on('close', () => {
        this.clients.delete(client);
        stats.tcpConnections--;
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new BindError(`tcp ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen({ host: this.host, port: this.port, exclusive: true, backlog: 1024 }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  get connections(): number {
    return this.clients.size;
  }

  /** Stop accepting; answer what is in flight (for up to `graceMs`), then close every connection. */
  async close(graceMs = 0): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && [...this.clients].some((c) => c.inflight > 0)) {
      await new Promise((r) => setTimeout(r, 20));
    }
    for (const c of this.clients) c.socket.end();
    const hard = setTimeout(() => {
      for (const c of this.clients) c.socket.destroy();
    }, 1000);
    await closed;
    clearTimeout(hard);
  }
}
