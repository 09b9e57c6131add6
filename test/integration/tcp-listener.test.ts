// The TCP listener (RFC 7766) against a real knot, through real sockets: frames the handler drops
// (shorter than a header, responses, empty) leave nothing in flight, so idle connections full of
// them close and free their slots; a query after 200 of them is still read; pipelined queries
// are answered as each completes; a query followed by a half-close (FIN) is answered, hit or
// miss, before the agent closes (a frame the FIN cuts short is counted as dropped); the
// connection gauge and the rejection counter read exactly what was done.
import t from 'tap';
import { Socket } from 'node:net';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { decode, encodeQuery, queryTcp } from '../support/dnsclient.js';
import { startTestAgent } from '../support/agent.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { scrape, sum } from '../support/prom.js';
import { DEFAULT_TCP_OPTIONS } from '../../src/listen/tcp.js';

function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** Frames the agent must drop unanswered: 5 bytes (no header), a response (QR set), empty. */
const JUNK: Buffer[] = (() => {
  const response = encodeQuery('web.prod.svc.cluster.local', 'A');
  response[2]! |= 0x80;
  return [frame(Buffer.from([1, 2, 3, 4, 5])), frame(response), frame(Buffer.alloc(0))];
})();

interface Conn {
  socket: Socket;
  replies: Buffer[];
  closed: Promise<void>;
  isClosed(): boolean;
}

/** A TCP connection that keeps every framed reply and notes when the agent closes it. */
function connect(host: string, port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = new Socket({ allowHalfOpen: true });
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    let done = false;
    const closed = new Promise<void>((r) => socket.once('close', () => ((done = true), r())));
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
    });
    // The agent's side ending ours too (allowHalfOpen only so a test can half-close first).
    socket.on('end', () => socket.end());
    socket.on('error', () => socket.destroy());
    socket.once('connect', () => resolve({ socket, replies, closed, isClosed: () => done }));
    socket.once('error', reject);
    socket.connect(port, host);
  });
}

t.test('TCP listener', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 60 }) } });
  t.teardown(() => knot.stop());
  const a = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }], zones: ['cluster.local.', '.'] });
  t.teardown(() => a.stop());
  const server = `dns://${a.host}:${a.port}`;
  const metric = async (name: string): Promise<number> => sum((await scrape(a.metricsUrl)).exp, name, { server });
  const open: Conn[] = [];
  t.teardown(() => open.forEach((c) => c.socket.destroy()));

  t.test('a query after 200 dropped frames on one connection is answered', async (t) => {
    const dropped0 = await metric('nodelocaldns_dropped_queries_total');
    const c = await connect(a.host, a.port);
    open.push(c);
    const sentJunk = 200;
    c.socket.write(Buffer.concat(Array.from({ length: sentJunk }, (_, i) => JUNK[i % JUNK.length]!)));
    // The query in a later read, after the agent has seen every dropped frame.
    const counted = await until(async () => (await metric('nodelocaldns_dropped_queries_total')) - dropped0 === sentJunk, 5000);
    t.ok(counted, `every dropped frame counted (${sentJunk})`);
    c.socket.write(frame(encodeQuery('web.prod.svc.cluster.local', 'A', { id: 4242 })));
    t.ok(await until(() => c.replies.length >= 1, 5000), 'the real query got an answer');
    t.equal(c.replies.length, 1, 'only the real query was answered');
    if (c.replies[0]) {
      const d = decode(c.replies[0]);
      t.equal(d.id, 4242);
      t.equal(d.answers?.[0]?.type, 'A');
    }
    c.socket.destroy();
  });

  t.test('pipelined queries are answered as each completes: a hit overtakes a miss', async (t) => {
    await queryTcp(a.host, a.port, 'api.prod.svc.cluster.local', 'A');
    const c = await connect(a.host, a.port);
    open.push(c);
    c.socket.write(Buffer.concat([
      frame(encodeQuery(`slow${Date.now()}.prod.svc.cluster.local`, 'A', { id: 1 })),
      frame(encodeQuery('api.prod.svc.cluster.local', 'A', { id: 2 })),
    ]));
    await until(() => c.replies.length >= 2, 5000);
    t.same(c.replies.map((r) => decode(r).id), [2, 1], 'the cached answer first, the upstream one after');
    c.socket.destroy();
  });

  for (const kind of ['miss', 'hit'] as const) {
    t.test(`a query then a half-close (FIN) is answered on a cache ${kind}, then closed`, async (t) => {
      const name = kind === 'miss' ? `fresh${Date.now()}.prod.svc.cluster.local` : 'web.prod.svc.cluster.local';
      if (kind === 'hit') await queryTcp(a.host, a.port, name, 'A');
      const c = await connect(a.host, a.port);
      open.push(c);
      c.socket.end(frame(encodeQuery(name, 'A', { id: 777 })));
      await Promise.race([c.closed, sleep(5000)]);
      t.ok(c.isClosed(), 'the agent closed the connection after answering');
      t.equal(c.replies.length, 1, 'one reply before the close');
      if (c.replies[0]) {
        const d = decode(c.replies[0]);
        t.equal(d.id, 777);
        t.equal(d.rcode, kind === 'miss' ? 'NXDOMAIN' : 'NOERROR');
      }
    });
  }

  t.test('a frame cut short by the FIN is dropped and counted; the query before it is answered', async (t) => {
    const dropped0 = await metric('nodelocaldns_dropped_queries_total');
    const c = await connect(a.host, a.port);
    open.push(c);
    const cut = frame(encodeQuery('web.prod.svc.cluster.local', 'A')).subarray(0, 9);
    c.socket.end(Buffer.concat([frame(encodeQuery(`cut${Date.now()}.prod.svc.cluster.local`, 'A', { id: 778 })), cut]));
    await Promise.race([c.closed, sleep(5000)]);
    t.ok(c.isClosed(), 'the agent closed the connection');
    t.same(c.replies.map((r) => decode(r).id), [778], 'the complete query was answered');
    t.equal((await metric('nodelocaldns_dropped_queries_total')) - dropped0, 1, 'the cut frame counted as dropped');
  });

  t.test('1,000 connections of dropped frames close at the idle timeout and free their slots', async (t) => {
    const max = DEFAULT_TCP_OPTIONS.maxConnections;
    const dropped0 = await metric('nodelocaldns_dropped_queries_total');
    await until(async () => (await metric('nodelocaldns_tcp_connections')) === 0, 3000);
    const conns: Conn[] = [];
    // In batches, so the listen backlog never overflows and every one is accepted.
    for (let i = 0; i < max; i += 100) {
      const batch = await Promise.all(Array.from({ length: Math.min(100, max - i) }, () => connect(a.host, a.port)));
      for (const c of batch) c.socket.write(Buffer.concat(JUNK));
      conns.push(...batch);
      open.push(...batch);
    }
    const full = await until(async () => (await metric('nodelocaldns_tcp_connections')) === max, 5000);
    t.ok(full, `the gauge reads ${max} open connections`);
    const extra = await connect(a.host, a.port);
    await Promise.race([extra.closed, sleep(3000)]);
    t.ok(extra.isClosed(), 'a connection beyond the limit is closed by the agent');
    t.equal(await metric('nodelocaldns_tcp_rejected_connections_total'), 1, 'and counted as rejected');
    t.ok(await until(async () => (await metric('nodelocaldns_dropped_queries_total')) - dropped0 === max * JUNK.length, 5000), 'every dropped frame counted');

    const idleMs = DEFAULT_TCP_OPTIONS.idleTimeoutMs;
    await Promise.race([Promise.all(conns.map((c) => c.closed)), sleep(idleMs + 8000)]);
    const left = conns.filter((c) => !c.isClosed()).length;
    t.equal(left, 0, `every junk connection closed by the idle timeout (${left} still open)`);
    t.ok(await until(async () => (await metric('nodelocaldns_tcp_connections')) === 0, 3000), 'the gauge is back to 0');
    const r = await queryTcp(a.host, a.port, 'api.prod.svc.cluster.local', 'A');
    t.equal(r?.answers?.[0]?.type, 'A', 'a normal client is answered over TCP');
  });
});
