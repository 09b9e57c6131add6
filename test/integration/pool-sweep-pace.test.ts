// The upstream pools' sweep slows to once a second while nothing is in flight (an idle agent
// wakes less) and is back at 200 ms at once for a query that opens a connection, within the next
// idle sweep for one on an open connection, so a blackholed upstream is still found within
// SILENT_MS plus one quick sweep. Real sockets: a TCP server that accepts, reads and
// never answers (the IPVS blackhole, seen from the node).
import t, { type Test } from 'tap';
import { createServer, type Socket } from 'node:net';
import { buildQuery } from '../../src/dns/query.js';
import { nameToWire } from '../../src/dns/wire.js';
import { silentLogger } from '../../src/observe/log.js';
import { IDLE_SWEEP_MS, SILENT_MS, SWEEP_MS, type TcpPool } from '../../src/upstream/pool.js';
import { PoolRegistry } from '../../src/upstream/pool-registry.js';
import type { Exchange } from '../../src/upstream/tcp-connection.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';

/** An upstream on real sockets (`onSocket` decides what it answers) and a registry with one pool to it. */
async function poolTo(t: Test, onSocket: (s: Socket) => void): Promise<{ registry: PoolRegistry; pool: TcpPool }> {
  const host = randomLoopback();
  const port = randomPort();
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  const registry = new PoolRegistry(silentLogger);
  t.teardown(() => {
    registry.close();
    for (const s of sockets) s.destroy();
    server.close();
  });
  const pool = registry.acquire(host, port, { expireMs: 10_000, maxConnsPerUpstream: 2, maxInflightPerConn: 100, attemptTimeoutMs: 2_000 });
  return { registry, pool };
}

t.test('idle pace between queries, quick pace from the first query, silence found as before', async (t) => {
  const { registry, pool } = await poolTo(t, (s) => s.resume()); // read everything, answer nothing
  t.equal(registry.sweepMs, SWEEP_MS, 'a new pool is swept at the quick pace');
  t.ok(await until(() => registry.sweepMs === IDLE_SWEEP_MS, 2_000, 20), 'nothing in flight: the idle pace after one sweep');

  let silent = 0;
  const qname = nameToWire('blackholed.example.test.');
  const ex: Exchange = {
    id: 0,
    query: buildQuery(qname, 1, 1),
    qname,
    qtype: 1,
    qclass: 1,
    sentAt: Date.now(),
    resolve: () => t.fail('no answer expected'),
    reject: () => {},
    silent: () => silent++,
  };
  pool.sendTcp(ex);
  t.equal(registry.sweepMs, SWEEP_MS, 'the query brought the quick pace back at once');
  await sleep(SILENT_MS / 2);
  t.equal(registry.sweepMs, SWEEP_MS, 'and kept it while the query is in flight');
  t.ok(await until(() => silent > 0, 5_000, 20), 'the silent connection was found');
  t.equal(pool.counters.blackholes, 1, 'counted as a blackhole');
});

t.test('a query on an open connection: no quick pace until the idle sweep finds it in flight, silence found as before', async (t) => {
  // Answers the first query (its own bytes with QR set), then reads and answers nothing.
  const { registry, pool } = await poolTo(t, (s) => {
    let answered = false;
    s.on('data', (d: Buffer) => {
      if (answered || d.length < 14) return;
      answered = true;
      const reply = Buffer.from(d.subarray(0, 2 + d.readUInt16BE(0)));
      reply[4]! |= 0x80;
      s.write(reply);
    });
  });
  const qname = nameToWire('once.example.test.');
  let silent = 0;
  let answers = 0;
  const exchange = (id: number): Exchange => ({
    id,
    query: buildQuery(qname, 1, 1),
    qname,
    qtype: 1,
    qclass: 1,
    sentAt: Date.now(),
    resolve: () => void answers++,
    reject: () => {},
    silent: () => silent++,
  });
  pool.sendTcp(exchange(0));
  t.ok(await until(() => answers === 1, 2_000, 10), 'the first query answered');
  t.ok(await until(() => registry.sweepMs === IDLE_SWEEP_MS, 2_000, 20), 'nothing in flight: the idle pace');
  pool.sendTcp(exchange(0));
  t.equal(pool.counters.connMisses, 1, 'the second query went on the open connection');
  t.equal(registry.sweepMs, IDLE_SWEEP_MS, 'and set no quick timer of its own');
  t.ok(await until(() => registry.sweepMs === SWEEP_MS, IDLE_SWEEP_MS + 500, 20), 'the idle sweep found it in flight: the quick pace');
  t.ok(await until(() => silent > 0, 5_000, 20), 'the silent connection was found');
  t.equal(pool.counters.blackholes, 1, 'counted as a blackhole');
});
