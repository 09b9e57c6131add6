// The `log` directive: one line per answered query in CoreDNS's common log format
// (plugin/log + plugin/pkg/replacer), e.g.
//   [INFO] 10.1.2.3:41234 - 4711 "A IN web.prod.svc.cluster.local. udp 59 false 1232" NOERROR qr,aa,rd,ra 98 0.000231s
// Only blocks with `log` build a QueryLog, so the hot path of other blocks pays one null check.
// Lines go to a QueryLogSink that never blocks the event loop (see below).
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { dnsClassName, dnsTypeName, rcodeLogName } from '../dns/names.js';

/**
 * Buffered, non-blocking line sink. process.stdout is synchronous for pipes on Linux (the
 * container runtime reads our stdout through one), so a slow reader would stall DNS; instead we
 * write through an fs stream on fd 1 (libuv thread pool) and, once more than `maxPendingBytes`
 * are waiting, drop lines and count them (nodelocaldns_query_log_dropped_total).
 */
export class QueryLogSink {
  dropped = 0;
  written = 0;
  private batch = '';
  private scheduled = false;

  constructor(
    private readonly out: Writable,
    private readonly maxPendingBytes = 4 << 20,
    private readonly batchBytes = 64 << 10,
  ) {
    out.on('error', () => {}); // a closed stdout must not take the agent down
  }

  write(line: string): void {
    if (this.out.writableLength + this.batch.length > this.maxPendingBytes || this.out.destroyed) {
      this.dropped++;
      return;
    }
    this.batch += line;
    this.written++;
    if (this.batch.length >= this.batchBytes) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.batch === '') return;
    const b = this.batch;
    this.batch = '';
    if (!this.out.destroyed) this.out.write(b);
  }
}

/** A client's address: a string, or an IPv4 address as a number (host order) from the batch UDP listener. */
export type Peer = string | number;

/** A client's address as text, for logs. */
export function peerText(address: Peer): string {
  if (typeof address === 'string') return address;
  return `${address >>> 24}.${(address >>> 16) & 255}.${(address >>> 8) & 255}.${address & 255}`;
}

let stdoutSink: QueryLogSink | null = null;
/** The process-wide sink on stdout, created on first use. */
export function defaultQueryLogSink(): QueryLogSink {
  stdoutSink ??= new QueryLogSink(createWriteStream('', { fd: 1, autoClose: false }));
  return stdoutSink;
}

/** What the line needs from the request; offsets are into `query` (header first). */
export interface LoggedQuery {
  query: Buffer; // at least header + question
  qnameEnd: number; // offset just past the qname's root label
  size: number; // request length on the wire (CoreDNS {size})
  dnssecOk: boolean;
  limit: number; // CoreDNS {>bufsize}: 65535 on TCP, max(512, EDNS size) on UDP
}

export class QueryLog {
  constructor(private readonly sink: QueryLogSink = defaultQueryLogSink()) {}

  get dropped(): number {
    return this.sink.dropped;
  }

  log(q: LoggedQuery, tcp: boolean, address: Peer, port: number, reply: Buffer, startedAtMs: number): void {
    this.sink.write(formatQueryLine(q, tcp, address, port, reply, performance.now() - startedAtMs) + '\n');
  }
}

export function formatQueryLine(q: LoggedQuery, tcp: boolean, address: Peer, port: number, reply: Buffer, elapsedMs: number): string {
  const b = q.query;
  const id = (b[0]! << 8) | b[1]!;
  const qtype = (b[q.qnameEnd]! << 8) | b[q.qnameEnd + 1]!;
  const qclass = (b[q.qnameEnd + 2]! << 8) | b[q.qnameEnd + 3]!;
  const text = peerText(address);
  const remote = text.includes(':') ? `[${text}]` : text;
  const flags = reply.length >= 4 ? (reply[2]! << 8) | reply[3]! : 0;
  return (
    `[INFO] ${remote}:${port} - ${id} "${dnsTypeName(qtype)} ${dnsClassName(qclass)} ${presentName(b, 12)} ${tcp ? 'tcp' : 'udp'} ` +
    `${q.size} ${q.dnssecOk} ${q.limit}" ${rcodeLogName(flags & 0xf)} ${rflags(flags)} ${reply.length} ${goSeconds(elapsedMs)}`
  );
}

/** miekg/dns flag order: qr,aa,tc,rd,ra,z,ad,cd. */
function rflags(f: number): string {
  let s = '';
  const add = (bit: number, name: string): void => {
    if (f & bit) s += s ? `,${name}` : name;
  };
  add(0x8000, 'qr');
  add(0x0400, 'aa');
  add(0x0200, 'tc');
  add(0x0100, 'rd');
  add(0x0080, 'ra');
  add(0x0040, 'z');
  add(0x0020, 'ad');
  add(0x0010, 'cd');
  return s;
}

/** CoreDNS {name}: lowercased presentation form, miekg escaping (\. \" \DDD ...), trailing dot. */
export function presentName(buf: Buffer, start: number): string {
  let s = '';
  let pos = start;
  while (pos < buf.length && buf[pos] !== 0) {
    const len = buf[pos]!;
    for (let i = pos + 1; i <= pos + len; i++) {
      let c = buf[i]!;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (c === 0x2e || c === 0x20 || c === 0x27 || c === 0x40 || c === 0x3b || c === 0x28 || c === 0x29 || c === 0x22 || c === 0x5c)
        s += '\\' + String.fromCharCode(c);
      else if (c < 0x20 || c > 0x7e) s += '\\' + String(c).padStart(3, '0');
      else s += String.fromCharCode(c);
    }
    s += '.';
    pos += 1 + len;
  }
  return s || '.';
}

/** Go's strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s", from nanosecond-rounded time. */
export function goSeconds(ms: number): string {
  const ns = Math.max(0, Math.round(ms * 1e6));
  const fixed = (ns / 1e9).toFixed(9).replace(/0+$/, '').replace(/\.$/, '');
  return `${fixed}s`;
}

/** Lines dropped by the stdout sink so far (0 when no block logs). */
export function queryLogDropped(): number {
  return stdoutSink?.dropped ?? 0;
}
