// A fault-injecting upstream for chaos tests (for faults only, never as a
// replacement for knot): it relays every query to a real server (knot) over UDP and then
// misbehaves on purpose — drop, delay, RST, accept-but-never-answer, wrong ID, wrong question,
// answer out of order, close after each answer, SERVFAIL, truncate. Mode can change at any time.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { rawUdp } from './dnsclient.js';

export type FaultMode =
  | 'relay' // behave
  | 'drop' // read queries, never answer (UDP and TCP: blackhole after accept)
  | 'delay' // answer after `delayMs`
  | 'rst' // reset the TCP connection on the next query
  | 'refuse' // close the listening socket: connection refused
  | 'wrong-id' // answer with another ID
  | 'wrong-question' // answer a different question under the right ID
  | 'out-of-order' // hold answers and release them in reverse, in batches of `batch`
  | 'close-after-answer' // answer, then close the connection
  | 'servfail' // answer SERVFAIL
  | 'truncate'; // UDP answers with TC and no records

export interface FaultyUpstream {
  host: string;
  port: number;
  /** Queries seen (UDP + TCP), for "how many reached upstream" assertions. */
  queries: number;
  tcpConnections: number;
  mode: FaultMode;
  delayMs: number;
  batch: number;
  /** After this many answers, switch to `drop` (stop answering after N). -1 = never. */
  stopAfter: number;
  setMode(mode: FaultMode, opts?: { delayMs?: number; batch?: number }): Promise<void>;
  close(): Promise<void>;
}

export async function startFaultyUpstream(host: string, port: number, target: { host: string; port: number }): Promise<FaultyUpstream> {
  const udp: UdpSocket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  const conns = new Set<Socket>();
  let tcp: Server | null = null;
  let answered = 0;

  const relay = (query: Buffer): Promise<Buffer | null> => rawUdp(target.host, target.port, query);

  /** Apply the answer-changing faults; null = do not answer. */
  const shape = async (query: Buffer, overTcp: boolean): Promise<Buffer | null> => {
    f.queries++;
    if (f.stopAfter >= 0 && answered >= f.stopAfter) return null;
    const mode = f.mode;
    if (mode === 'drop') return null;
    if (mode === 'delay') await new Promise((r) => setTimeout(r, f.delayMs));
    let res = await relay(query);
    if (!res) return null;
    res = Buffer.from(res);
    if (mode === 'wrong-id') res.writeUInt16BE((res.readUInt16BE(0) + 1) & 0xffff, 0);
    if (mode === 'wrong-question' && res.length > 13) res[13] = res[13]! ^ 0x01; // flip a bit of the first label
    if (mode === 'servfail') {
      res = Buffer.concat([res.subarray(0, 12), questionOf(query)]);
      res.fill(0, 6, 12);
      res[3] = (res[3]! & 0xf0) | 2;
    }
    if (mode === 'truncate' && !overTcp) {
      res = Buffer.concat([res.subarray(0, 12), questionOf(query)]);
      res.fill(0, 6, 12);
      res[2] = res[2]! | 0x02;
    }
    answered++;
    return res;
  };

  udp.on('message', async (msg, rinfo) => {
    const res = await shape(msg, false);
    if (res) udp.send(res, rinfo.port, rinfo.address);
  });

  const onConn = (sock: Socket): void => {
    f.tcpConnections++;
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    const held: Buffer[] = [];
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const q = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + q.length);
        if (f.mode === 'rst') {
          f.queries++;
          sock.resetAndDestroy();
          return;
        }
        void shape(Buffer.from(q), true).then((res) => {
          if (!res || sock.destroyed) return;
          const framed = Buffer.concat([Buffer.from([res.length >> 8, res.length & 0xff]), res]);
          if (f.mode === 'out-of-order') {
            held.push(framed);
            if (held.length >= f.batch) for (const h of held.splice(0).reverse()) sock.write(h);
            return;
          }
          sock.write(framed);
          if (f.mode === 'close-after-answer') sock.end();
        });
      }
    });
  };

  const listenTcp = (): Promise<void> =>
    new Promise((resolve, reject) => {
      tcp = createServer(onConn);
      tcp.once('error', reject);
      tcp.listen({ host, port, exclusive: true }, () => resolve());
    });
  const closeTcp = (): Promise<void> =>
    new Promise((resolve) => {
      const s = tcp;
      tcp = null;
      for (const c of conns) c.destroy();
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind({ address: host, port, exclusive: true }, () => resolve());
  });
  await listenTcp();

  const f: FaultyUpstream = {
    host,
    port,
    queries: 0,
    tcpConnections: 0,
    mode: 'relay',
    delayMs: 1500,
    batch: 4,
    stopAfter: -1,
    async setMode(mode, opts = {}) {
      if (opts.delayMs !== undefined) f.delayMs = opts.delayMs;
      if (opts.batch !== undefined) f.batch = opts.batch;
      if (mode === 'refuse' && tcp) await closeTcp();
      if (mode !== 'refuse' && !tcp) await listenTcp();
      f.mode = mode;
    },
    async close() {
      await closeTcp();
      await new Promise<void>((r) => udp.close(() => r()));
    },
  };
  return f;
}

function questionOf(query: Buffer): Buffer {
  let pos = 12;
  while (pos < query.length && query[pos] !== 0) pos += 1 + query[pos]!;
  return query.subarray(12, pos + 5);
}
