// A TCP client that pipelines thousands of queries for a big cached answer and never reads its
// replies must not grow the agent's memory: the agent stops reading from it once its unsent
// replies pass the bound, serves everyone else meanwhile, and closes it at the idle timeout as
// nothing moves on it. A client that only pauses for a while gets every reply once it reads.
// The agent runs in a child process so its resident memory is its own (/proc/PID/status).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { encodeQuery, queryTcp, queryUdp, rawTcp } from '../support/dnsclient.js';
import { spawnAgentChild, testConfig } from '../support/agent.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { scrape, select } from '../support/prom.js';
import { DEFAULT_TCP_OPTIONS } from '../../src/listen/tcp.js';

const BIG = 'big.prod.svc.cluster.local';
const HEADLESS = 300; // A records: a 4.8 KB answer
const QUERIES = 20_000; // ≈ 96 MB of replies if the agent buffered them all
const MIB = 1 << 20;
// The agent may hold the bound, the client's queries it read and allocator slack, not the replies.
const RSS_GROWTH_LIMIT = 40 * MIB;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

t.test('a client that never reads its replies', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 300, headless: HEADLESS }) } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const metricsPort = randomPort();
  const config = testConfig({ upstreams: [{ host: knot.address, port: knot.port }], zones: ['cluster.local.', '.'], host, port, metricsPort });
  const { child, ready, stderr } = await spawnAgentChild(t, config);
  t.ok(ready, `child agent serving (${stderr})`);
  const metricsUrl = `http://${host}:${metricsPort}/metrics`;
  const server = `dns://${host}:${port}`;

  const warm = await queryTcp(host, port, BIG, 'A');
  t.equal(warm?.answers?.length, HEADLESS, `the big answer is cached (${HEADLESS} records)`);
  const baseline = rssOf(child.pid!);

  const flood = new Socket();
  t.teardown(() => flood.destroy());
  let floodClosed = false;
  let repliesRead = 0;
  flood.on('close', () => (floodClosed = true));
  flood.on('error', () => flood.destroy());
  flood.on('data', (d: Buffer) => (repliesRead += d.length));
  flood.pause();
  await new Promise<void>((resolve) => flood.connect(port, host, resolve));
  const frames = Buffer.concat(
    Array.from({ length: QUERIES }, (_, i) => {
      const q = encodeQuery(BIG, 'A', { id: i & 0xffff });
      const len = Buffer.alloc(2);
      len.writeUInt16BE(q.length);
      return Buffer.concat([len, q]);
    }),
  );
  flood.write(frames);

  // Others are served while the flood sits stalled; the agent's memory is sampled throughout.
  let peak = baseline;
  let probes = 0;
  let answered = 0;
  const probeUntil = Date.now() + 5000;
  while (Date.now() < probeUntil) {
    const [tcp, udp] = await Promise.all([queryTcp(host, port, 'web.prod.svc.cluster.local', 'A'), queryUdp(host, port, 'api.prod.svc.cluster.local', 'A')]);
    probes += 2;
    if (tcp?.answers?.[0]?.type === 'A') answered++;
    if (udp?.answers?.[0]?.type === 'A') answered++;
    peak = Math.max(peak, rssOf(child.pid!));
    await sleep(200);
  }
  t.equal(answered, probes, `other clients answered over TCP and UDP meanwhile (${answered}/${probes})`);
  const growth = peak - baseline;
  t.comment(`agent RSS ${(baseline / MIB).toFixed(1)} MiB before the flood, peak ${(peak / MIB).toFixed(1)} MiB (+${(growth / MIB).toFixed(1)} MiB)`);
  t.ok(growth < RSS_GROWTH_LIMIT, `agent RSS grew ${(growth / MIB).toFixed(1)} MiB, under ${RSS_GROWTH_LIMIT / MIB} MiB (all replies would be ≈ ${((QUERIES * 4.8e3) / MIB).toFixed(0)} MiB)`);

  // Stalled past the timeout: the agent drops the connection (its gauge reads 0).
  const openNow = async (): Promise<number> => select((await scrape(metricsUrl)).exp, 'nodelocaldns_tcp_connections', { server })[0]?.value ?? -1;
  const closedByAgent = await until(async () => (await openNow()) === 0, DEFAULT_TCP_OPTIONS.idleTimeoutMs + 8000, 250);
  t.ok(closedByAgent, 'the agent closed the stalled connection');
  // Reading now finds the connection gone, with most replies never sent.
  flood.resume();
  await until(() => floodClosed, 5000);
  t.ok(floodClosed, 'the client sees the connection closed');
  t.ok(repliesRead < (QUERIES * 4.8e3) / 2, `the client got ${(repliesRead / MIB).toFixed(1)} MiB of replies, not all of them`);
  peak = Math.max(peak, rssOf(child.pid!));
  t.comment(`agent RSS peak over the whole run ${(peak / MIB).toFixed(1)} MiB`);

  const after = await queryTcp(host, port, BIG, 'A');
  t.equal(after?.answers?.length, HEADLESS, 'a new TCP client gets the big answer');

  // A client that stops reading for a while (shorter than the stall timeout) and then reads:
  // the agent resumes once the replies drain and every query gets its answer.
  const slow = new Socket();
  t.teardown(() => slow.destroy());
  const SLOW_QUERIES = 5000;
  let slowBytes = 0;
  slow.on('data', (d: Buffer) => (slowBytes += d.length));
  slow.on('error', () => slow.destroy());
  slow.pause();
  await new Promise<void>((resolve) => slow.connect(port, host, resolve));
  slow.write(frames.subarray(0, frames.length / (QUERIES / SLOW_QUERIES)));
  const beforePause = rssOf(child.pid!);
  await sleep(3000);
  const whilePaused = rssOf(child.pid!);
  t.ok(whilePaused - beforePause < RSS_GROWTH_LIMIT, `agent RSS +${((whilePaused - beforePause) / MIB).toFixed(1)} MiB while the client is not reading`);
  slow.resume();
  const replyBytes = SLOW_QUERIES * ((await rawTcp(host, port, [encodeQuery(BIG, 'A')]))[0]!.length + 2);
  const all = await until(() => slowBytes >= replyBytes, 20_000, 100);
  t.ok(all, `every reply arrived once the client read again (${(slowBytes / MIB).toFixed(1)} of ${(replyBytes / MIB).toFixed(1)} MiB)`);
  t.equal(slowBytes, replyBytes, 'and nothing more');
});
