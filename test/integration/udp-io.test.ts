// The two UDP I/O paths (the recvmmsg/sendmmsg addon and node:dgram) against a real knot, through
// real sockets: bursts bigger than a batch, interleaved clients, oversized and garbage datagrams,
// IPv6 and the query log's client address, big answers, the port's life cycle, the serving log.
// Every case runs for both paths; the batch one skips, saying why, when its addon is not built.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/observe/log.js';
import { nativeUdp } from '../../src/listen/native.js';
import type { UdpIo } from '../../src/config/types.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { decode, encodeQuery, rawUdp, type Decoded } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, testConfig } from '../support/agent.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';

const CHILD = fileURLToPath(new URL('../support/agent-child.ts', import.meta.url));
const native = nativeUdp();
// A wildcard gives as many distinct names with a positive answer as a burst needs.
const ZONE = clusterZone({ ttl: 60, soaMinimum: 60 }) + '*.wild.prod.svc IN A 10.96.9.9\n';

/** Seeded PRNG (mulberry32): the garbage is the same on every run, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function mixCase(name: string, rnd: () => number): string {
  return [...name].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join('');
}

interface Client {
  socket: Socket;
  port: number;
  replies: Buffer[];
  send(msg: Buffer): void;
  close(): void;
}

/** A UDP client bound to `bindHost` (random port) that keeps every reply it gets. */
async function client(bindHost: string, to: string, toPort: number): Promise<Client> {
  // A receive buffer big enough that a burst's replies are never lost on the client's side.
  const socket = createSocket({ type: bindHost.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 1 << 20 });
  const replies: Buffer[] = [];
  socket.on('message', (m) => replies.push(m));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, bindHost, () => resolve());
  });
  return {
    socket,
    port: socket.address().port,
    replies,
    send: (msg) => socket.send(msg, toPort, to),
    close: () => socket.close(),
  };
}

interface Sent {
  id: number;
  name: string;
  type: 'A' | 'AAAA';
  wild: boolean;
}

/** Each query got exactly one reply, matching it in ID, question (case included) and content. */
function checkReplies(t: Test, label: string, sent: Sent[], replies: Buffer[]): void {
  t.equal(replies.length, sent.length, `${label}: one reply per query (${replies.length}/${sent.length})`);
  const byId = new Map(sent.map((s) => [s.id, s]));
  const seen = new Set<number>();
  let bad = 0;
  let firstBad = '';
  for (const r of replies) {
    const d = decode(r);
    const s = byId.get(d.id!);
    const q = d.questions?.[0];
    const why =
      s === undefined ? `unknown id ${d.id}`
      : seen.has(s.id) ? `second reply for id ${s.id}`
      : q?.name !== s.name || q?.type !== s.type ? `id ${s.id}: question ${q?.name} ${q?.type}, sent ${s.name} ${s.type}`
      : !s.wild ? (d.rcode === 'NXDOMAIN' ? '' : `id ${s.id}: ${d.rcode}, want NXDOMAIN`)
      : s.type === 'A' ? (d.rcode === 'NOERROR' && d.answers?.length === 1 && firstData(d) === '10.96.9.9' ? '' : `id ${s.id}: not the wildcard's A`)
      : d.rcode === 'NOERROR' && (d.answers ?? []).length === 0 ? '' : `id ${s.id}: not NODATA`;
    if (s) seen.add(s.id);
    if (why) {
      bad++;
      firstBad ||= why;
    }
  }
  t.equal(bad, 0, `${label}: every reply matches its query${firstBad ? ` (first: ${firstBad})` : ''}`);
}

/** A mix: wildcard names (NOERROR, A or NODATA for AAAA) and names that do not exist (NXDOMAIN). */
function makeQueries(n: number, prefix: string, rnd: () => number, firstId: number): Sent[] {
  return Array.from({ length: n }, (_, i) => {
    const wild = i % 3 !== 2;
    const name = mixCase(`${prefix}${i}.${wild ? 'wild' : 'nope'}.prod.svc.cluster.local`, rnd);
    return { id: (firstId + i) & 0xffff, name, type: i % 4 === 3 ? 'AAAA' : 'A', wild };
  });
}

function firstData(d: Decoded | null): unknown {
  return (d?.answers?.[0] as { data?: unknown } | undefined)?.data;
}

const query = (s: Sent): Buffer => encodeQuery(s.name, s.type, { id: s.id, edns: 1232 });

/** Pre-warm every other name, so the burst mixes cache hits (answered in the batch) and misses. */
async function warm(host: string, port: number, sent: Sent[]): Promise<number> {
  const warmed = sent.filter((_, i) => i % 2 === 0);
  const got = await Promise.all(warmed.map((s) => rawUdp(host, port, encodeQuery(s.name.toLowerCase(), s.type), 5000)));
  return got.filter(Boolean).length;
}

async function listenerCounters(url: string, server: string): Promise<{ dropped: number; malformed: number }> {
  return {
    dropped: await metricValue(url, 'nodelocaldns_dropped_queries_total', { server }),
    malformed: await metricValue(url, 'nodelocaldns_malformed_queries_total', { server }),
  };
}

function v6Loopback(): Promise<string | false> {
  return new Promise((resolve) => {
    const s = createSocket('udp6');
    s.once('error', (e) => (s.close(), resolve(`::1 not configured here (${(e as NodeJS.ErrnoException).code})`)));
    s.bind(0, '::1', () => (s.close(), resolve(false)));
  });
}

t.test('UDP I/O paths against knot', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': ZONE } });
  t.teardown(() => knot.stop());
  const upstreams = [{ host: knot.address, port: knot.port }];
  const noV6 = await v6Loopback();

  for (const io of ['batch', 'dgram'] as const) {
    const skip = io === 'batch' && native.mod === null ? `batch UDP I/O not built: ${native.why}` : false;
    t.test(`udpIo ${io}`, { skip }, async (t) => {
      const logLines: string[] = [];
      const a = await startTestAgent({ upstreams, zones: ['cluster.local.', '.'], udpIo: io, log: createLogger('info', (l) => void logLines.push(l)) });
      t.teardown(() => a.stop());
      const server = `dns://${a.host}:${a.port}`;

      t.test('the serving log line names the I/O in use', async (t) => {
        const serving = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'serving');
        t.ok(serving, 'a serving line was logged');
        t.equal(serving?.udpIo, io === 'batch' ? 'batch (recvmmsg/sendmmsg)' : 'dgram (NODELOCALDNS_UDP_IO=dgram)');
      });

      t.test('a burst of 300 from one socket (hits and misses): one matching reply each', async (t) => {
        const rnd = prng(io === 'batch' ? 1 : 2);
        const sent = makeQueries(300, 'b', rnd, 1 + Math.floor(rnd() * 60_000));
        t.equal(await warm(a.host, a.port, sent), 150, '150 names pre-warmed');
        const hits0 = await metricValue(a.metricsUrl, 'coredns_cache_hits_total', { server });
        const c = await client(randomLoopback(), a.host, a.port);
        t.teardown(() => c.close());
        for (const s of sent) c.send(query(s));
        await until(() => c.replies.length >= sent.length, 15_000);
        await sleep(300); // a duplicate would arrive right behind
        checkReplies(t, 'burst', sent, c.replies);
        const hits = (await metricValue(a.metricsUrl, 'coredns_cache_hits_total', { server })) - hits0;
        t.equal(hits, 150, 'the pre-warmed half were cache hits, the rest misses');
      });

      t.test('two sockets interleaving one burst each get only their own replies', async (t) => {
        const rnd = prng(io === 'batch' ? 3 : 4);
        // The same names and the same IDs from both: only the client address tells the replies apart.
        const base = makeQueries(120, 'i', rnd, 7000);
        const sentA = base.map((s) => ({ ...s, name: mixCase(s.name.toLowerCase(), rnd) }));
        const sentB = base.map((s) => ({ ...s, name: mixCase(s.name.toLowerCase(), rnd) }));
        t.equal(await warm(a.host, a.port, base), 60, '60 names pre-warmed');
        const host = randomLoopback();
        const ca = await client(host, a.host, a.port);
        const cb = await client(host, a.host, a.port);
        t.teardown(() => (ca.close(), cb.close()));
        for (let i = 0; i < base.length; i++) {
          ca.send(query(sentA[i]!));
          cb.send(query(sentB[i]!));
        }
        await until(() => ca.replies.length + cb.replies.length >= 2 * base.length, 15_000);
        await sleep(300);
        checkReplies(t, 'socket A', sentA, ca.replies);
        checkReplies(t, 'socket B', sentB, cb.replies);
      });

      // The batch path reads from one socket and replies from a send-only twin in one SO_REUSEPORT
      // group; the kernel spreads a group's datagrams by a hash of the client's address and port
      // unless the group's program steers them, so many clients are what would catch a query
      // landing on the socket that never reads. A reply from any other address or port than the
      // one asked is dropped by a connected client (glibc's resolver connects its socket).
      for (const v6 of [false, true]) {
        t.test(`${v6 ? 'IPv6: ' : ''}forty clients, each answered from the address and port it asked`, { skip: v6 && noV6 }, async (t) => {
          const agent = v6 ? await startTestAgent({ upstreams, zones: ['cluster.local.', '.'], udpIo: io, host: '::1' }) : a;
          if (v6) t.teardown(() => agent.stop());
          const from: string[] = [];
          let answered = 0;
          const sockets: Socket[] = [];
          t.teardown(() => sockets.forEach((s) => s.close()));
          for (let i = 0; i < 40; i++) {
            const s = createSocket(v6 ? 'udp6' : 'udp4');
            sockets.push(s);
            s.on('message', (_m, rinfo) => {
              answered++;
              from.push(`${rinfo.address}:${rinfo.port}`);
            });
            await new Promise<void>((resolve, reject) => (s.once('error', reject), s.bind(0, v6 ? '::1' : randomLoopback(), () => resolve())));
            for (let k = 0; k < 3; k++) s.send(encodeQuery(`c${i}.wild.prod.svc.cluster.local`, 'A', { id: i * 3 + k }), agent.port, agent.host);
          }
          await until(() => answered >= 120, 10_000);
          await sleep(200);
          t.equal(answered, 120, 'every query answered once');
          t.same([...new Set(from)], [`${agent.host}:${agent.port}`], 'every reply from the listener\'s address and port');
        });
      }

      t.test('a datagram longer than a slot is dropped and counted', { skip: io === 'dgram' ? 'batch only (node:dgram reads up to 64 KiB)' : false }, async (t) => {
        const valid = encodeQuery('web.prod.svc.cluster.local', 'A', { id: 4242 });
        const big = Buffer.alloc(5000);
        valid.copy(big);
        const before = await listenerCounters(a.metricsUrl, server);
        const reply = await rawUdp(a.host, a.port, big, 1000);
        t.equal(reply, null, 'no reply to a 5,000-byte datagram');
        const after = await listenerCounters(a.metricsUrl, server);
        t.equal(after.dropped - before.dropped, 1, 'nodelocaldns_dropped_queries_total +1');
        t.equal(after.malformed, before.malformed, 'not answered FORMERR either');
        const next = await rawUdp(a.host, a.port, encodeQuery('web.prod.svc.cluster.local', 'A', { id: 4243 }));
        t.equal(next && firstData(decode(next)), '10.96.3.7', 'the next query is answered');
      });

      t.test('500 garbage datagrams: counted, and the listener still answers', async (t) => {
        const rnd = prng(5); // the same garbage for both paths
        const before = await listenerCounters(a.metricsUrl, server);
        const c = await client(randomLoopback(), a.host, a.port);
        t.teardown(() => c.close());
        for (let i = 0; i < 500; i++) {
          const b = Buffer.alloc(Math.floor(rnd() * 601));
          for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
          c.send(b);
          if (i % 50 === 49) await sleep(20); // within the listener's buffer: what is counted is what was sent
        }
        await sleep(300);
        const after = await listenerCounters(a.metricsUrl, server);
        const counted = after.dropped - before.dropped + (after.malformed - before.malformed);
        // None of this seed's 500 parses as a query: each one is either dropped or answered with an error.
        t.equal(counted, 500, `every garbage datagram counted as dropped or malformed (dropped +${after.dropped - before.dropped})`);
        t.equal(c.replies.length, after.malformed - before.malformed, 'one reply per datagram counted malformed, none for the dropped');
        t.ok(c.replies.every((r) => (r.readUInt16BE(2) & 0x8000) !== 0 && (r.readUInt16BE(2) & 0xf) !== 0), 'every reply is a response with an error rcode');
        const next = await rawUdp(a.host, a.port, encodeQuery('api.prod.svc.cluster.local', 'A'));
        t.equal(next && firstData(decode(next)), '10.96.3.8', 'a normal query is answered after the garbage');
      });

      t.test('a ~2 KB answer: TC at 512 B, whole at 4096 B on a miss and on a hit', async (t) => {
        const name = 'big.prod.svc.cluster.local';
        const miss = await rawUdp(a.host, a.port, encodeQuery(name, 'A', { edns: 4096 }), 5000);
        const hit = await rawUdp(a.host, a.port, encodeQuery(name, 'A', { edns: 4096 }));
        for (const [label, r] of [['miss', miss], ['hit', hit]] as const) {
          t.ok(r && r.length > 1232, `${label}: one UDP datagram of ${r?.length} bytes`);
          const d = r && decode(r);
          t.equal(d && d.answers?.length, 120, `${label}: all 120 records`);
          t.equal(d && (d.flags! & 0x200), 0, `${label}: TC clear`);
        }
        const small = await rawUdp(a.host, a.port, encodeQuery(name, 'A', { edns: 512 }));
        t.ok(small && small.length <= 512, `512 B buffer: reply fits (${small?.length})`);
        t.ok(small && (decode(small).flags! & 0x200) !== 0, '512 B buffer: TC set');
      });

      t.test('a burst of big hits overflowing one batch\'s send slab: each answered once, whole, in its own case', async (t) => {
        // 80 hits of ~2 KB: the batch listener writes the first ~30 straight into its 64 KiB send
        // slab and sends the rest from buffers of their own; both must give the same answers.
        const name = 'big.prod.svc.cluster.local';
        t.ok(await rawUdp(a.host, a.port, encodeQuery(name, 'A', { edns: 4096 }), 5000), 'cached');
        const rnd = prng(io === 'batch' ? 6 : 7);
        const sent = Array.from({ length: 80 }, (_, i) => ({ id: 20_000 + i, name: mixCase(name, rnd) }));
        const c = await client(randomLoopback(), a.host, a.port);
        t.teardown(() => c.close());
        for (const s of sent) c.send(encodeQuery(s.name, 'A', { id: s.id, edns: 4096 }));
        await until(() => c.replies.length >= sent.length, 15_000);
        await sleep(300); // a duplicate would arrive right behind
        t.equal(c.replies.length, sent.length, 'one reply per query');
        const byId = new Map(sent.map((s) => [s.id, s.name]));
        const wrong = c.replies
          .map((r) => decode(r))
          .filter((d) => byId.get(d.id!) !== d.questions?.[0]?.name || d.answers?.length !== 120 || (d.flags! & 0x200) !== 0);
        t.same(wrong.map((d) => d.id), [], 'every reply: its own ID and qname case, all 120 records, TC clear');
        t.equal(new Set(c.replies.map((r) => r.readUInt16BE(0))).size, sent.length, 'no ID answered twice');
      });

      t.test('the query log shows the IPv4 client as a dotted address and port', async (t) => {
        const lines = await childQueryLog(t, io, upstreams, false);
        if (lines === null) return;
        t.equal(lines.length, 2, `a line for the miss and one for the hit (${JSON.stringify(lines)})`);
      });

      t.test('IPv6: a listener on ::1 answers and logs [::1]:port', { skip: noV6 }, async (t) => {
        const lines = await childQueryLog(t, io, upstreams, true);
        if (lines === null) return;
        t.equal(lines.length, 2, `a line for the miss and one for the hit (${JSON.stringify(lines)})`);
      });

      t.test('stop frees the port; a port in use fails start with EADDRINUSE and the address', async (t) => {
        const host = randomLoopback();
        const port = randomPort();
        const inUse = { name: 'BindError', code: 'ERR_BIND', message: new RegExp(`^(?=.*EADDRINUSE)(?=.*${host.replace(/\./g, '\\.')}:${port}\\b)`) };
        const cfg = testConfig({ upstreams, zones: ['.'], host, port, metricsPort: randomPort() });
        const quiet = createLogger('error', () => {});
        const first = await startTestAgent({ upstreams, zones: ['.'], host, port, udpIo: io });
        t.teardown(() => first.stop());
        t.ok(await rawUdp(host, port, encodeQuery('web.prod.svc.cluster.local', 'A'), 5000), 'answered before stop');
        const second = new Agent({ udpIo: io, log: quiet });
        t.teardown(() => second.stop());
        await t.rejects(second.start(cfg), inUse, 'a second agent on the same address:port');
        await first.stop();
        const s = createSocket('udp4');
        t.teardown(() => s.close());
        await t.resolves(new Promise<void>((resolve, reject) => (s.once('error', reject), s.bind(port, host, () => resolve()))), 'node:dgram binds the address:port after stop');
        const third = new Agent({ udpIo: io, log: quiet });
        t.teardown(() => third.stop());
        await t.rejects(third.start(cfg), inUse, 'an agent on an address:port a node:dgram socket holds');
      });
    });
  }

  t.test('auto takes the batch I/O when its addon is built, and says why not when it is not', async (t) => {
    const logLines: string[] = [];
    const a = await startTestAgent({ upstreams, zones: ['.'], udpIo: 'auto', log: createLogger('info', (l) => void logLines.push(l)) });
    t.teardown(() => a.stop());
    const serving = logLines.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'serving');
    t.equal(serving?.udpIo, native.mod ? 'batch (recvmmsg/sendmmsg)' : `dgram (batch addon: ${native.why})`);
    t.ok(await rawUdp(a.host, a.port, encodeQuery('web.prod.svc.cluster.local', 'A'), 5000), 'and answers');
  });
});

/**
 * An agent in a child process (its query log goes to stdout) with `log` on, listening on a
 * random 127.x address or on ::1; one miss and one hit from a client bound to a known address and
 * port. Returns the query-log lines, after checking each starts with the client's address:port.
 */
async function childQueryLog(t: Test, io: UdpIo, upstreams: { host: string; port: number }[], v6: boolean): Promise<string[] | null> {
  const host = v6 ? '::1' : randomLoopback();
  const port = randomPort();
  const config = testConfig({ upstreams, zones: ['cluster.local.'], host, port, metricsPort: randomPort() });
  config.servers[0]!.log = { enabled: true };
  config.servers[0]!.prometheus = null;
  const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
  const child = spawn(process.execPath, [...tsImport, CHILD, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODELOCALDNS_UDP_IO: io },
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (!t.ok(await until(() => stderr.includes('READY'), 20_000), `child agent serving (${stderr})`)) return null;
  const c = await client(v6 ? '::1' : randomLoopback(), host, port);
  t.teardown(() => c.close());
  const remote = v6 ? `[::1]:${c.port}` : `${c.socket.address().address}:${c.port}`;
  const ids = [1111, 2222];
  for (const id of ids) {
    const n = c.replies.length;
    c.send(encodeQuery('Web.Prod.svc.cluster.local', 'A', { id }));
    await until(() => c.replies.length > n, 5000);
    const d: Decoded | null = c.replies[n] ? decode(c.replies[n]) : null;
    t.equal(firstData(d), '10.96.3.7', `query ${id} answered over ${v6 ? 'IPv6' : 'IPv4'}`);
  }
  await until(() => stdout.split('\n').filter(Boolean).length >= ids.length, 5000);
  const lines = stdout.split('\n').filter(Boolean);
  ids.forEach((id, i) => {
    t.equal(lines[i]?.slice(0, lines[i]!.indexOf(' udp ')), `[INFO] ${remote} - ${id} "A IN web.prod.svc.cluster.local.`, `query-log line ${i} names the client ${remote}`);
  });
  child.kill('SIGTERM');
  return lines;
}
