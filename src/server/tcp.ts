// TCP listener (RFC 7766): 2-byte length framing, several queries in flight per connection
// answered as each completes, an idle timeout, and a bound on connections and on in-flight
// queries per connection so one client cannot hold the agent's memory.
import { createServer, type Server, type Socket } from 'node:net';
import { BindError } from '../errors.js';
import type { ListenerStats } from '../observe/stats.js';
import type { QueryHandler } from './handler.js';
import type { ReplySink } from './waiter.js';

export interface TcpListenerOptions {
  maxConnections: number;
  idleTimeoutMs: number; // close a connection with nothing in flight after this long
  maxInflightPerConn: number; // stop reading from a client beyond this many unanswered queries
}

export const DEFAULT_TCP_OPTIONS: TcpListenerOptions = { maxConnections: 1000, idleTimeoutMs: 10_000, maxInflightPerConn: 128 };

class TcpClient implements ReplySink {
  readonly tcp = true;
  readonly reusesQuery = true;
  inflight = 0;
  private pending: Buffer | null = null;
  private paused = false;

  constructor(
    readonly socket: Socket,
    private readonly handler: QueryHandler,
    private readonly opts: TcpListenerOptions,
    private readonly family: number,
  ) {
    socket.setNoDelay(true);
    socket.setTimeout(opts.idleTimeoutMs, () => {
      if (this.inflight === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
  }

  private onData(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    let pos = 0;
    const address = this.socket.remoteAddress ?? '';
    const port = this.socket.remotePort ?? 0;
    while (buf.length - pos >= 2) {
      const len = (buf[pos]! << 8) | buf[pos + 1]!;
      if (buf.length - pos - 2 < len) break;
      const msg = buf.subarray(pos + 2, pos + 2 + len);
      pos += 2 + len;
      // Counted before handing over: a cache hit is sent (and uncounted) before handle() returns.
      this.inflight++;
      if (!this.handler.handle(msg, this, address, port, this.family)) this.inflight--;
    }
    this.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : null;
    if (this.inflight >= this.opts.maxInflightPerConn && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  send(reply: Buffer): void {
    if (this.inflight > 0) this.inflight--;
    if (this.paused && this.inflight < this.opts.maxInflightPerConn / 2) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.socket.destroyed || !this.socket.writable) return;
    const frame = Buffer.allocUnsafe(reply.length + 2);
    frame[0] = reply.length >> 8;
    frame[1] = reply.length & 0xff;
    reply.copy(frame, 2);
    this.socket.write(frame);
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
    this.server = createServer({ noDelay: true }, (socket) => {
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
