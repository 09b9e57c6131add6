// A 128Mi memory limit given by -memory-limit (tests must not make cgroups), a blackholed upstream
// (the fault relay accepts, reads and never answers, in front of a real knot) and a bounded flood
// of distinct names: the agent, run as the image runs it (src/supervise.sh sizing V8 from the same
// limit, dist/cli.js), stays alive, keeps answering the names it cached before the blackhole,
// answers the flood SERVFAIL at once instead of queueing it, and the RSS of its process tree
// (supervisor + node) stays under the 96 MiB budget throughout.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { metricValue } from '../support/prom.js';
import { encodeQuery, queryUdp } from '../support/dnsclient.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const supervisor = fileURLToPath(new URL('../../src/supervise.sh', import.meta.url));
const skip = knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
t.setTimeout(110_000);

const LIMIT = '128Mi';
const BUDGET = 96 * 2 ** 20; // 75 % of 128Mi
const FLOOD = 200_000;
const FLOOD_MS = 20_000;
const CACHED = 200;

/** VmRSS of `pid` and every process below it, bytes. */
function treeRss(pid: number): number {
  let kib = 0;
  const walk = (p: number): void => {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      for (const c of readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(' ').filter(Boolean)) walk(Number(c));
    } catch {
      // gone between the reads
    }
  };
  walk(pid);
  return kib * 1024;
}

function childPid(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0] || 0);
  } catch {
    return 0;
  }
}

t.test('under a 128Mi limit a flood of misses to a blackholed upstream is shed, cached names answered, RSS under the budget', { skip }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 3600, soaTtl: 3600, soaMinimum: 3600 }) } });
  t.teardown(() => knot.stop());
  const hole = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => hole.close());
  const host = randomLoopback();
  const port = randomPort();
  const metricsUrl = `http://${host}:${randomPort()}/metrics`;
  const dir = mkdtempSync(join(tmpdir(), 'memlimit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'Corefile'),
    `cluster.local:${port} {\n  bind ${host}\n  cache 3600\n  forward . ${hole.host}:${hole.port}\n  prometheus ${new URL(metricsUrl).host}\n}\n`,
  );
  // The image's node flags, less the semi-space size the supervisor now picks from the limit.
  // `env -u NODE_OPTIONS`: tap puts its process-info hook into every child's NODE_OPTIONS, even
  // with an explicit env; loaded into the agent it adds ~25 MiB that would be measured as ours.
  const sup = spawn('env', ['-u', 'NODE_OPTIONS', 'sh', supervisor, process.execPath, '--heap-growing-percent=30', '--expose-gc', cli, '-conf', join(dir, 'Corefile'), '-memory-limit', LIMIT], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  sup.stderr!.on('data', (d) => (log += d));
  const exited = new Promise((r) => sup.once('exit', r));
  t.teardown(() => {
    if (!t.passing()) t.comment(`agent log:\n${log.split('\n').slice(-20).join('\n')}`);
  });
  t.teardown(async () => {
    if (sup.exitCode === null && sup.signalCode === null) sup.kill('SIGTERM');
    await exited;
  });
  t.ok(await until(() => /"msg":"serving"/.test(log), 15_000, 50), 'agent serving');
  t.match(log, /"msg":"V8 heap sized from the memory budget","limitMiB":128,"source":"-memory-limit","budgetMiB":96,"v8Flags":"--max-old-space-size=56 --min-semi-space-size=2 --max-semi-space-size=2"/, 'the supervisor sized V8 from -memory-limit');
  t.match(log, /"msg":"memory budget","limit":"128.0 MiB","source":"-memory-limit","budget":"96.0 MiB \(75 %\)","v8HeapLimit":"62.0 MiB"/, 'the agent reports the budget and the heap limit it got');
  const agentPid = childPid(sup.pid!);
  t.ok(agentPid > 0, 'agent pid');
  t.equal(await metricValue(metricsUrl, 'nodelocaldns_memory_budget_bytes'), BUDGET, 'budget published');

  // Cache names while the upstream still answers: one that exists, the rest NXDOMAIN.
  const cachedName = (i: number): string => (i % 2 === 0 ? 'web.prod.svc.cluster.local' : `gone${i}.prod.svc.cluster.local`);
  const warm = [];
  for (let i = 0; i < CACHED; i++) warm.push((await queryUdp(host, port, cachedName(i), 'A'))?.rcode);
  t.equal(warm.filter((r) => r === 'NOERROR' || r === 'NXDOMAIN').length, CACHED, 'names cached before the blackhole');
  const idleRss = treeRss(sup.pid!);
  await hole.setMode('drop');

  // The flood: FLOOD distinct names at an even pace over FLOOD_MS from one socket; replies are
  // counted by rcode.
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.setRecvBufferSize(8 << 20);
  t.teardown(() => sock.close());
  const rcodes = new Map<number, number>();
  sock.on('message', (m) => {
    if (m.length >= 4) rcodes.set(m[3]! & 0x0f, (rcodes.get(m[3]! & 0x0f) ?? 0) + 1);
  });
  let peak = 0;
  let sampling = true;
  const timeline: string[] = []; // per second: peak tree RSS MiB / pressure level
  const sampler = (async () => {
    for (let i = 0; sampling; i++) {
      const rss = treeRss(sup.pid!);
      peak = Math.max(peak, rss);
      if (i % 10 === 0) timeline.push(`${(rss / 2 ** 20).toFixed(0)}/${await metricValue(metricsUrl, 'nodelocaldns_memory_pressure').catch(() => -1)}`);
      await sleep(100);
    }
  })();
  // A stub resolver's way: 1 s timeout, then one retry. Under the flood a datagram can be lost in
  // a full socket buffer (the flood itself loses up to ~8 % when other tests share the CPU): lost
  // tries are counted and bounded; any answer but the cached one fails the test.
  let cachedAsked = 0;
  let firstTryLost = 0;
  let unanswered = 0;
  const cachedWrong: string[] = [];
  let asking = true;
  const asker = (async () => {
    for (let i = 0; asking; i++) {
      const name = cachedName(i % CACHED);
      let r = await queryUdp(host, port, name, 'A', { timeoutMs: 1_000 });
      if (r === null) {
        firstTryLost++;
        r = await queryUdp(host, port, name, 'A', { timeoutMs: 1_000 });
      }
      cachedAsked++;
      const want = i % 2 === 0 ? 'NOERROR' : 'NXDOMAIN';
      if (r === null) unanswered++;
      else if (r.rcode !== want) cachedWrong.push(`${name}: ${r.rcode}`);
      await sleep(50);
    }
  })();
  const started = Date.now();
  const BATCH = 100;
  for (let sent = 0; sent < FLOOD && Date.now() - started < FLOOD_MS * 2; ) {
    for (let j = 0; j < BATCH; j++, sent++) sock.send(encodeQuery(`f${sent}.flood.svc.cluster.local`, 'A', { id: sent & 0xffff }), port, host);
    const due = started + ((sent / FLOOD) * FLOOD_MS);
    await sleep(Math.max(1, due - Date.now()));
  }
  const floodMs = Date.now() - started;
  await sleep(6_000); // what was admitted upstream reaches the 5 s client deadline
  asking = false;
  sampling = false;
  await Promise.all([asker, sampler]);

  const servfail = rcodes.get(2) ?? 0;
  const answered = [...rcodes.values()].reduce((a, b) => a + b, 0);
  const shed = await metricValue(metricsUrl, 'nodelocaldns_pending_shed_total');
  const shedByMemory = await metricValue(metricsUrl, 'nodelocaldns_memory_shed_queries_total');
  const evicted = await metricValue(metricsUrl, 'nodelocaldns_memory_pressure_evictions_total');
  t.comment(
    `flood ${FLOOD} names in ${floodMs} ms: ${answered} answered, ${servfail} SERVFAIL; shed ${shed}, by memory pressure ${shedByMemory} (refused or ended), ` +
      `cached names asked ${cachedAsked}, first tries lost ${firstTryLost}, unanswered after the retry ${unanswered}; ` +
      `pressure evictions ${evicted}; tree RSS idle ${(idleRss / 2 ** 20).toFixed(1)} MiB, peak ${(peak / 2 ** 20).toFixed(1)} MiB, budget 96 MiB; RSS MiB/pressure each second: ${timeline.join(' ')}`,
  );
  t.equal(childPid(sup.pid!), agentPid, 'the agent was never restarted');
  t.notMatch(log, /died by a signal/, 'the supervisor saw no death');
  t.ok(cachedAsked >= 100, `${cachedAsked} cached names asked during the flood`);
  t.same(cachedWrong, [], 'every answer to a cached name is the cached one (no SERVFAIL)');
  t.ok(firstTryLost <= cachedAsked * 0.1 && unanswered <= cachedAsked * 0.02, `cached names: ${firstTryLost} first tries and ${unanswered} of ${cachedAsked} after the retry lost in the flood`);
  t.equal(servfail, answered, 'every flood answer is SERVFAIL');
  t.ok(servfail >= FLOOD * 0.8, `${servfail} of ${FLOOD} flood queries answered SERVFAIL (the rest lost in socket buffers)`);
  t.ok(shed >= servfail * 0.9, `${shed} misses shed at the bound and counted`);
  // Most of the shedding is the guard's: without it the bound alone lets RSS past the budget.
  // (Not all: the agent gives its executable's pages back, so a flood spends part of its time
  // under the pressure line; 70-77 % of the shed here, 2026-12-02.)
  t.ok(shedByMemory >= servfail * 0.5, `${shedByMemory} of them because of memory pressure`);
  t.ok(peak > idleRss && peak < BUDGET, `process tree RSS peaked at ${(peak / 2 ** 20).toFixed(1)} MiB, under the 96 MiB budget`);
  t.ok(await until(async () => (await metricValue(metricsUrl, 'nodelocaldns_pending_queries')) === 0, 8_000, 200), 'the pending queries end');
  t.ok(await until(async () => (await metricValue(metricsUrl, 'nodelocaldns_memory_pressure')) === 0, 15_000, 250), 'the pressure ends once the flood is over');
  await hole.setMode('relay');
  t.ok(await until(async () => (await queryUdp(host, port, 'api.prod.svc.cluster.local', 'A'))?.rcode === 'NOERROR', 8_000, 200), 'new misses resolve again once the upstream answers');
});
