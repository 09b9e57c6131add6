// CoreDNS's health self-probe (plugin/health overloaded.go): once a second GET our own /health
// and record how long it took. A slow local answer means the event loop is overloaded, which is
// exactly what an operator wants on a dashboard. Published as coredns_health_request_*.
//
// The request is written by hand on one kept-alive connection and the reply read by hand. Through
// node:http's client (a ClientRequest, an IncomingMessage, the agent's socket pool, an
// AbortController: code run once a second, so never optimised) a probe took 2.1-2.3 ms of the
// event loop, both sides counted; by hand 1.1-1.5 ms, nearly all of it the endpoint's node:http
// server. So the endpoint answers the probe's own connection by hand too (`answerProbe`; kubelet's
// probes and everyone else still get node:http): an idle agent's CPU went from 1.35 to 0.94 ms a
// second. In a syscall trace of the agent at 40k qps the old probe was one stretch of 0.8-1.4 ms a
// second in which no query was read.
// Not fetch(): its first call compiles Node's bundled undici, about 90 ms of CPU on the event loop
// one second after the start (bench/incidents, the rollout scenario's first second).
import { connect, type Socket } from 'node:net';
import { bucketIndex, HEALTH_BUCKETS } from './buckets.js';
import { secondTick } from './second-tick.js';

const TIMEOUT_MS = 3000; // CoreDNS: 3 s client timeout
/** A /health reply is ~150 bytes; one that has not ended by this many is not one. */
const MAX_REPLY = 16 * 1024;

export class HealthStats {
  readonly duration = new Float64Array(HEALTH_BUCKETS.length + 1); // last = +Inf only
  durationSum = 0;
  failures = 0;

  observe(seconds: number): void {
    this.duration[bucketIndex(HEALTH_BUCKETS, seconds)]!++;
    this.durationSum += seconds;
  }
}

/**
 * Where an HTTP/1.1 reply in `text` ends, or -1 while more is to come, or -2 when it is not one
 * that can end (no header end within MAX_REPLY, or a framing this probe does not read). The body
 * is framed by Content-Length or chunked encoding (RFC 9112 §6); a reply with neither ends when
 * the connection closes, which the caller sees as a close.
 */
export function replyEnd(text: string): number {
  const head = text.indexOf('\r\n\r\n');
  if (head < 0) return text.length > MAX_REPLY ? -2 : -1;
  const headers = text.slice(0, head).toLowerCase();
  const bodyStart = head + 4;
  const length = /\r\ncontent-length:[ \t]*(\d+)/.exec(headers);
  if (length) {
    const end = bodyStart + Number(length[1]);
    return text.length >= end ? end : -1;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/.test(headers)) {
    // Chunk sizes are hex; the last chunk is size 0, then (no trailers from our server) CRLF.
    let at = bodyStart;
    for (;;) {
      const line = text.indexOf('\r\n', at);
      if (line < 0) return text.length > MAX_REPLY ? -2 : -1;
      const size = parseInt(text.slice(at, line), 16);
      if (!Number.isFinite(size)) return -2;
      if (size === 0) {
        const end = text.indexOf('\r\n\r\n', line);
        return end < 0 ? -1 : end + 4;
      }
      at = line + 2 + size + 2;
      if (text.length < at) return -1;
    }
  }
  return -2;
}

/** The status code of the reply in `text` ("HTTP/1.1 200 OK"), 0 when the status line is not one. */
export function replyStatus(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})[ \r]/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Probes `url` every second until stopped; failures (error, timeout, non-200) are counted. */
export class HealthProbe {
  private running = false;
  private readonly onTick = (): void => this.probe();
  private readonly host: string;
  private readonly port: number;
  private readonly request: Buffer;
  private socket: Socket | null = null;
  /** Waiting for the connection being made to connect or fail (see `whenConnected`). */
  private waiting: (() => void)[] = [];
  /** The probe in flight: its start (performance.now()) and its deadline; NaN while none is. */
  private started = Number.NaN;
  private deadline: NodeJS.Timeout | null = null;
  private reply = '';

  constructor(
    private readonly url: string,
    private readonly stats: HealthStats,
    private readonly onSlow: (what: string, fields: Record<string, unknown>) => void = () => {},
  ) {
    const u = new URL(url);
    this.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(u.port || 80);
    this.request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: nodelocaldns-ts health probe\r\n\r\n`, 'latin1');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    secondTick.join(this.onTick);
  }

  /** One probe, unless the previous one is still waiting: it will count itself. */
  probe(): void {
    if (!Number.isNaN(this.started)) return;
    const s = this.socket ?? this.connect();
    this.reply = '';
    this.started = performance.now();
    this.deadline = setTimeout(expire, TIMEOUT_MS, this);
    s.write(this.request);
  }

  /**
   * Whether the connection from `address:port` is this probe's own (the server side sees the
   * probe's local address and port): undefined while its connection is still being made, as
   * its local port is read only once connected (Node keeps the first reading of it).
   */
  ownsConnection(address: string | undefined, port: number | undefined): boolean | undefined {
    const s = this.socket;
    if (s === null) return false;
    if (s.connecting) return undefined;
    return s.localPort === port && unmapped(s.localAddress) === unmapped(address);
  }

  /** Runs `fn` once the connection being made has connected or failed (at once if none is). */
  whenConnected(fn: () => void): void {
    if (this.socket?.connecting) this.waiting.push(fn);
    else fn();
  }

  private settle(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const fn of waiting) fn();
  }

  private connect(): Socket {
    const s = connect({ host: this.host, port: this.port });
    s.once('connect', () => this.settle());
    s.setNoDelay(true);
    s.setEncoding('latin1');
    s.on('data', (chunk: string) => this.onData(s, chunk));
    s.on('error', (err) => this.end(s, 0, err));
    s.on('close', () => this.end(s, 0, 'connection closed'));
    this.socket = s;
    return s;
  }

  private onData(s: Socket, chunk: string): void {
    if (s !== this.socket || Number.isNaN(this.started)) {
      // Bytes nobody asked for (a reply after its probe timed out): this connection is out of step.
      this.drop(s);
      return;
    }
    this.reply += chunk;
    const end = replyEnd(this.reply);
    if (end === -1) return;
    if (end === -2 || end !== this.reply.length) {
      this.end(s, 0, 'not an HTTP reply this probe reads');
      return;
    }
    const status = replyStatus(this.reply);
    const close = /\r\nconnection:[ \t]*close/i.test(this.reply.slice(0, this.reply.indexOf('\r\n\r\n')));
    this.end(s, status, status === 200 ? undefined : `status ${status}`);
    if (close) this.drop(s);
  }

  /** The probe in flight ends with `status` (0: no reply); a connection that failed is dropped. */
  private end(s: Socket, status: number, error: unknown): void {
    if (s !== this.socket) return;
    if (status === 0) this.drop(s);
    if (Number.isNaN(this.started)) return;
    const seconds = (performance.now() - this.started) / 1000;
    this.started = Number.NaN;
    this.reply = '';
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    if (!this.running) return; // stopped meanwhile: a probe cut short by shutdown is not a failure
    this.stats.observe(seconds);
    if (status !== 200) {
      this.stats.failures++;
      this.onSlow('local health request failed', { url: this.url, err: error });
    } else if (seconds > 1) this.onSlow('local health request took more than 1s', { url: this.url, seconds });
  }

  /** The probe timed out: counted as a failure, and its connection replaced at the next probe. */
  expire(): void {
    const s = this.socket;
    this.deadline = null;
    if (s) this.end(s, 0, `timeout after ${TIMEOUT_MS} ms`);
  }

  private drop(s: Socket): void {
    if (this.socket === s) this.socket = null;
    s.destroy();
    this.settle();
  }

  stop(): void {
    this.running = false;
    secondTick.leave(this.onTick);
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    this.started = Number.NaN;
    if (this.socket) this.drop(this.socket);
  }
}

function expire(p: HealthProbe): void {
  p.expire();
}

/** An IPv4 address as a dual-stack socket shows it (::ffff:127.0.0.1) and as an IPv4 one does. */
function unmapped(address: string | undefined): string | undefined {
  return address?.startsWith('::ffff:') ? address.slice(7) : address;
}

/** /health's body: what node:http's route and `answerProbe` both send. */
export function healthBody(ok: boolean): string {
  return ok ? 'OK' : 'not serving';
}

/** A request of the probe's that has not ended by this many bytes is not one. */
const MAX_REQUEST = 4096;

/**
 * The server side of the probe's own connection, answered by hand (observe/http.ts routes it
 * here). It still crosses the event loop as a TCP round trip, which is what the probe measures.
 * Only `GET /health` is answered; anything else closes the connection.
 */
export function answerProbe(socket: Socket, health: () => boolean): void {
  socket.setNoDelay(true);
  socket.setEncoding('latin1');
  let pending = '';
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
      const request = pending.slice(0, end);
      pending = pending.slice(end + 4);
      if (!/^GET \/health[ ?]/.test(request)) {
        socket.destroy();
        return;
      }
      const ok = health();
      const body = healthBody(ok);
      // Date is required (RFC 9110 §6.6.1); the rest as node:http's server writes it for this route.
      socket.write(
        `HTTP/1.1 ${ok ? '200 OK' : '503 Service Unavailable'}\r\nContent-Type: text/plain\r\nDate: ${new Date().toUTCString()}\r\n` +
          `Connection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        'latin1',
      );
    }
    if (pending.length > MAX_REQUEST) socket.destroy();
  });
  // The HTTP server's sockets are half-open capable: the client's end is answered with ours.
  socket.on('end', () => socket.end());
  socket.on('error', () => socket.destroy());
}
