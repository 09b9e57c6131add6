// Truncated UDP replies as CoreDNS (node-cache) sends them, against knot's 120-record headless
// service: the whole answer records that fit the client's UDP size, TC set, counts fixed, the OPT
// kept; on the miss and on the hit path. dig and kdig parse them, TCP carries all 120, and a
// musl-built client (no TCP fallback before musl 1.2.4) gets addresses from the truncated reply.
import t, { type Test } from 'tap';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { clusterZone, knotMissing, startKnot, type Knot } from '../support/knot.js';
import { decode, encodeQuery, rawTcp, rawUdp, type Decoded } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, type TestAgent } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';

const exec = promisify(execFile);
const missing = knotMissing();
const NAME = 'big.prod.svc.cluster.local';
const RECORDS = 120;
const MUSL_CLIENT = fileURLToPath(new URL('../support/musl-resolve.c', import.meta.url));

/** The addresses of A records in the order they came. */
function addresses(d: Decoded): string[] {
  return (d.answers ?? []).map((r) => `${r.type} ${String((r as { data?: unknown }).data)}`);
}

interface Case {
  label: string;
  edns?: number;
  limit: number;
}
const CASES: Case[] = [
  { label: 'EDNS 512', edns: 512, limit: 512 },
  { label: 'EDNS 1232', edns: 1232, limit: 1232 },
  { label: 'no EDNS (512)', limit: 512 },
];

t.test('truncation against knot', { skip: missing }, async (t) => {
  const knot: Knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 30 }) } });
  t.teardown(() => knot.stop());
  let now = 1_700_000_000_000;
  const a: TestAgent = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }], clock: () => now });
  t.teardown(() => a.stop());
  const count = (metric: string): Promise<number> => metricValue(a.metricsUrl, metric, { zones: 'cluster.local.' });

  // The whole answer over TCP: 120 records of one size (knot points every owner at the question).
  const [tcpRaw] = await rawTcp(a.host, a.port, [encodeQuery(NAME, 'A')]);
  const full = decode(tcpRaw!);
  t.equal(full.answers?.length, RECORDS, 'TCP: all 120 records');
  t.equal(full.flags! & 0x200, 0, 'TCP: TC clear');
  const questionEnd = 12 + NAME.length + 2 + 4;
  const recordSize = (tcpRaw!.length - questionEnd) / RECORDS;
  t.equal(recordSize, 16, 'each A record is 16 B on the wire');
  const fullOrder = addresses(full);

  /** One truncated reply: TC, whole records that fit, as many as fit, the first of the full answer. */
  const check = (t: Test, raw: Buffer | null, c: Case, path: string): number => {
    t.ok(raw, `${path} ${c.label}: answered`);
    const d = decode(raw!);
    const optLen = c.edns !== undefined ? 11 : 0;
    const fits = Math.floor((c.limit - questionEnd - optLen) / recordSize);
    t.ok(raw!.length <= c.limit, `${path} ${c.label}: ${raw!.length} B ≤ ${c.limit}`);
    t.ok(d.flags! & 0x200, `${path} ${c.label}: TC set`);
    t.equal(raw!.readUInt16BE(6), fits, `${path} ${c.label}: ANCOUNT ${fits}, every record that fits`);
    t.equal(raw!.length, questionEnd + fits * recordSize + optLen, `${path} ${c.label}: nothing but whole records (and the OPT)`);
    t.same(addresses(d), fullOrder.slice(0, fits), `${path} ${c.label}: the first ${fits} records of the answer`);
    t.equal(raw!.readUInt16BE(8), 0, `${path} ${c.label}: NSCOUNT 0`);
    t.equal(raw!.readUInt16BE(10), optLen ? 1 : 0, `${path} ${c.label}: ARCOUNT is the OPT alone`);
    if (optLen) t.equal(d.additionals?.[0]?.type, 'OPT', `${path} ${c.label}: the OPT kept`);
    return fits;
  };

  t.test('miss path: each buffer size on a fresh entry', async (t) => {
    for (const c of CASES) {
      now += 31_000; // the cache holds 30 s: the next query is a miss
      const m0 = await count('coredns_cache_misses_total');
      const raw = await rawUdp(a.host, a.port, encodeQuery(NAME, 'A', c.edns !== undefined ? { edns: c.edns } : {}));
      t.equal((await count('coredns_cache_misses_total')) - m0, 1, `${c.label}: a miss`);
      const fits = check(t, raw, c, 'miss');
      t.comment(`${c.label}: ${fits} of ${RECORDS} A records in ${raw!.length} B`);
    }
  });

  t.test('hit path: the same from the cached entry', async (t) => {
    for (const c of CASES) {
      const h0 = await count('coredns_cache_hits_total');
      const raw = await rawUdp(a.host, a.port, encodeQuery(NAME, 'A', c.edns !== undefined ? { edns: c.edns } : {}));
      t.equal((await count('coredns_cache_hits_total')) - h0, 1, `${c.label}: a hit`);
      check(t, raw, c, 'hit');
    }
  });

  t.test('dig and kdig parse the truncated replies; over TCP they get all 120', async (t) => {
    const target = ['-p', String(a.port), `@${a.host}`];
    for (const [tool, args, fits] of [
      ['dig', ['+bufsize=512', '+ignore', '+time=3', '+tries=1'], 28],
      ['dig', ['+noedns', '+ignore', '+time=3', '+tries=1'], 29],
      ['kdig', ['+bufsize=1232', '+ignore', '+time=3', '+retry=0'], 73],
      ['kdig', ['+tcp', '+time=3', '+retry=0'], RECORDS],
    ] as const) {
      const { stdout } = await exec(tool, [...target, ...args, NAME, 'A']);
      const label = `${tool} ${args[0]}`;
      const records = stdout.split('\n').filter((l) => /^big\.prod\.svc\.cluster\.local\.\s+\d+\s+IN\s+A\s+10\.244\.\d+\.\d+$/.test(l));
      t.equal(records.length, fits, `${label}: ${fits} A records parsed`);
      t.match(stdout, new RegExp(`ANSWER: ${fits}\\b`), `${label}: ANSWER ${fits}`);
      t.notMatch(stdout, /malformed|parser|trailing/i, `${label}: no parse warning`);
      if (fits < RECORDS) t.match(stdout, /flags:[^;\n]*\btc\b/i, `${label}: tc`);
      else t.notMatch(stdout, /flags:[^;\n]*\btc\b/i, `${label}: no tc`);
    }
  });
});

/** Why the musl client cannot run here, or false. */
function muslMissing(): string | false {
  if (missing) return missing;
  if (process.getuid?.() !== 0) return 'needs root (port 53 and a private mount of /etc/resolv.conf with unshare -m)';
  for (const [tool, pkg] of [['musl-gcc', 'musl-tools'], ['unshare', 'util-linux']] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} not installed (apt-get install ${pkg})`;
  }
  return false;
}

t.test('a musl-built client gets addresses from the truncated reply', { skip: muslMissing() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'musl-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const client = join(dir, 'resolve');
  await exec('musl-gcc', ['-static', '-O1', '-o', client, MUSL_CLIENT]);
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 30 }) } });
  t.teardown(() => knot.stop());
  // musl asks port 53 of the nameservers in /etc/resolv.conf and nothing else.
  const a = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }], port: 53 });
  t.teardown(() => a.stop());
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${a.host}\noptions timeout:2 attempts:1\n`);
  const run = async (): Promise<string[]> => {
    // A private mount namespace: the bind mount is seen by the client alone, and goes with it.
    const argv = ['-m', 'sh', '-c', 'mount --bind "$1" /etc/resolv.conf && exec "$2" "$3"', 'sh', resolvConf, client, `${NAME}.`];
    const r = await exec('unshare', argv, { timeout: 10_000 }).catch((e: { stdout?: string; stderr?: string }) => {
      t.fail(`the musl client failed: ${e.stderr ?? String(e)}`);
      return { stdout: e.stdout ?? '' };
    });
    return r.stdout.split('\n').filter((l) => l !== '');
  };
  const onMiss = await run();
  t.equal(onMiss.length, 29, 'miss: the 29 addresses a 512 B reply holds');
  t.ok(onMiss.every((ip) => /^10\.244\.0\.\d+$/.test(ip)), 'all from the headless service');
  const onHit = await run();
  t.same(onHit.sort(), onMiss.sort(), 'hit: the same addresses from the cache');
});
