// A raw DNS client for tests: dns-packet to encode/decode (tests may decode; the agent does not
// on its hot path), real UDP and TCP sockets.
import { createSocket } from 'node:dgram';
import { Socket } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';

export type Decoded = packet.Packet & { rcode?: string };

export function encodeQuery(name: string, type: string, opts: { id?: number; edns?: number; do?: boolean; rd?: boolean } = {}): Buffer {
  const additionals: packet.Answer[] = [];
  if (opts.edns !== undefined)
    additionals.push({ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: opts.do ? packet.DNSSEC_OK : 0, options: [] } as unknown as packet.Answer);
  return packet.encode({
    type: 'query',
    id: opts.id ?? randomInt(0, 65536),
    flags: opts.rd === false ? 0 : packet.RECURSION_DESIRED,
    questions: [{ type: type as packet.RecordType, name }],
    additionals,
  });
}

/** Send raw bytes over UDP; resolves with the raw reply or null on timeout. */
export function rawUdp(host: string, port: number, msg: Buffer, timeoutMs = 2000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(null);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(null);
    });
    s.send(msg, port, host);
  });
}

export async function queryUdp(host: string, port: number, name: string, type: string, opts: { edns?: number; do?: boolean; timeoutMs?: number } = {}): Promise<Decoded | null> {
  const r = await rawUdp(host, port, encodeQuery(name, type, opts), opts.timeoutMs);
  return r ? (packet.decode(r) as Decoded) : null;
}

/** Send several framed queries on one TCP connection; resolves with the replies in arrival order. */
export function rawTcp(host: string, port: number, msgs: Buffer[], timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const out: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      resolve(out);
    }, timeoutMs);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length >= msgs.length) {
        clearTimeout(t);
        s.destroy();
        resolve(out);
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.connect(port, host, () => {
      for (const m of msgs) {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(m.length);
        s.write(Buffer.concat([len, m]));
      }
    });
  });
}

export async function queryTcp(host: string, port: number, name: string, type: string): Promise<Decoded | null> {
  const [r] = await rawTcp(host, port, [encodeQuery(name, type)]);
  return r ? (packet.decode(r) as Decoded) : null;
}

export function decode(buf: Buffer): Decoded {
  return packet.decode(buf) as Decoded;
}
