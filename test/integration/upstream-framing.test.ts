// TCP framing on the upstream side over a real loopback socket: answers arriving a few bytes at
// a time, several in one segment, a frame split across reads, all land on the right query, and
// each answer stays intact after later reads reuse the shared read buffer.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { buildQuery } from '../../src/dns/query.js';
import { TcpConnection, type Exchange } from '../../src/upstream/tcp-connection.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

function wireName(name: string): Buffer {
  return Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/** An upstream that answers every query (QR set, an echo of the question) in chunks of `chunk` bytes, `gapMs` apart. */
async function chunkedUpstream(host: string, port: number, chunk: number, gapMs: number): Promise<Server> {
  const server = createServer((sock: Socket) => {
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    const out: Buffer[] = [];
    let writing = false;
    const pump = (): void => {
      const all = Buffer.concat(out);
      out.length = 0;
      if (all.length === 0) {
        writing = false;
        return;
      }
      writing = true;
      sock.write(all.subarray(0, chunk));
      out.push(all.subarray(chunk));
      setTimeout(pump, gapMs);
    };
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const res = Buffer.from(buf.subarray(0, 2 + len));
        res[4] = res[4]! | 0x80; // QR
        out.push(res);
        buf = buf.subarray(2 + len);
      }
      if (!writing) pump();
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

for (const [chunk, gapMs] of [
  [3, 1], // a frame split over many reads, lengths split in half
  [1000, 2], // several answers per read, frames straddling reads
] as const) {
  t.test(`answers in ${chunk}-byte pieces reach their queries intact`, async (t) => {
    const host = randomLoopback();
    const port = randomPort();
    const server = await chunkedUpstream(host, port, chunk, gapMs);
    const mismatches = { n: 0 };
    let closed: Error | null = null;
    const conn = new TcpConnection(host, port, { onMismatch: () => mismatches.n++, onClose: (_c, _p, err) => (closed = err) }, 2_000);
    t.teardown(() => {
      conn.close();
      server.close();
    });
    const names = Array.from({ length: 40 }, (_, i) => `q${i}-${'x'.repeat(i % 7)}.example.test`);
    const got = new Map<string, Buffer>();
    const ids = new Map<string, number>();
    for (const name of names) {
      const qname = wireName(name);
      const query = buildQuery(qname, 1, 1);
      const ex: Exchange = {
        id: 0,
        query,
        qname,
        qtype: 1,
        qclass: 1,
        sentAt: Date.now(),
        resolve: (res) => got.set(name, Buffer.from(res)), // a copy: res is only valid during the call
        reject: (err) => t.fail(`${name} rejected: ${err.message}`),
      };
      t.ok(conn.send(ex), `${name} sent`);
      ids.set(name, ex.id);
    }
    await until(() => got.size === names.length || closed !== null, 10_000);
    t.equal(closed, null, 'connection stayed open');
    t.equal(got.size, names.length, 'every query answered');
    t.equal(mismatches.n, 0, 'no answer went astray');
    for (const name of names) {
      const res = got.get(name)!;
      const expect = buildQuery(wireName(name), 1, 1);
      t.equal(res.readUInt16BE(0), ids.get(name), `${name}: the ID it was sent with`);
      t.equal(res[2], expect[2]! | 0x80, `${name}: QR set`);
      t.ok(res.subarray(3).equals(expect.subarray(3)), `${name}: its own question, intact`);
    }
  });
}
