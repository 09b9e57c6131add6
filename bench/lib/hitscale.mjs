// Issue 3, the operator's figure: server CPU per cache hit through the real agent (sockets,
// parse, lookup, reply) with 1k, 10k, 100k and 1M names cached. One agent with a Corefile whose
// success capacity and byte budget hold 1M entries; the cache is filled step by step through
// knot's wildcard (each name asked once: a miss), then dnsperf asks the cached names in a shuffled
// order at a fixed rate and the agent's utime+stime per answered query is read from /proc.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuMicros, rssKiB, start } from './procs.mjs';
import { freePort, randomLoopback, waitForAnswer } from './net.mjs';
import { dnsperf } from './dnsperf.mjs';
import { agentNodeFlags, SERVER_CPU } from './servers.mjs';
import { MISS_SUFFIX } from './zone.mjs';
import { seededRandom } from './zipf.mjs';

export const HITSCALE_STEPS = [1_000, 10_000, 100_000, 1_000_000];
const CAPACITY = 1_100_000;
const MAX_BYTES = 1024 * 1024 * 1024; // ~400 B charged per entry: 1M entries need ~400 MiB
export const HITSCALE_QPS = 20_000;
export const HITSCALE_SECONDS = 5; // per measured round; 3 rounds, the median reported
const HITSCALE_ROUNDS = 3;
// Unmeasured hits after each fill: the fill's garbage (promoted miss-path objects) is collected
// here rather than charged to the first hit round, which made single rounds swing by 1.8×.
const SETTLE_SECONDS = 5;
const WARM_MIN_QPS = 4_000; // the warm-up's time bound assumes at least this miss rate

const nameOf = (i) => `s${i}.${MISS_SUFFIX}`;

/** The agent from dist/ serving one cluster.local block with a 1.1M-entry cache. */
async function startScaleAgent(dir, knot, repoRoot) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const metrics = `${ip}:${await freePort(ip)}`;
  const conf = join(dir, 'Corefile.hitscale');
  writeFileSync(
    conf,
    [
      `cluster.local:${port} {`,
      `    bind ${ip}`,
      '    cache {',
      `        success ${CAPACITY} 3600`,
      '        denial 9984 5',
      `        max_bytes ${MAX_BYTES}`,
      '    }',
      `    forward . ${knot.ip}:${knot.port} {`,
      '        force_tcp',
      '    }',
      `    prometheus ${metrics}`,
      '}',
      '',
    ].join('\n'),
  );
  const argv = [process.execPath, ...agentNodeFlags(repoRoot), join(repoRoot, 'dist', 'cli.js'), '-conf', conf, '-basecorefile', join(dir, 'none'), '-setupinterface=false', '-setupiptables=false'];
  const child = start(argv, { cpu: SERVER_CPU, name: 'nodelocaldns-ts (hitscale)' });
  await waitForAnswer(ip, port, nameOf(0), { timeoutMs: 20_000, child });
  return { name: 'nodelocaldns-ts (hitscale)', ip, port, child, pid: child.pid, argv, config: conf, metrics };
}

function writeNames(path, from, to, shuffle) {
  const idx = Array.from({ length: to - from }, (_, i) => from + i);
  if (shuffle) {
    const rand = seededRandom(to);
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
  }
  writeFileSync(path, idx.map((i) => `${nameOf(i)} A`).join('\n') + '\n');
}

async function gauge(address, metric) {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5000) });
  let total = 0;
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith(metric + '{') || line.startsWith(metric + ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** One row per step: { entries, cpuPerQueryUs, hitRatio, rssMiB, qps, lost }. `max` caps the steps. */
export async function measureHitScale(dir, knot, repoRoot, { max = 1_000_000, log = () => {} } = {}) {
  const server = await startScaleAgent(dir, knot, repoRoot);
  const rows = [];
  const rssIdleMiB = rssKiB(server.pid) / 1024;
  let cached = 1; // the start-up probe's name
  for (const n of HITSCALE_STEPS.filter((s) => s <= max)) {
    const warmFile = join(dir, `hitscale-warm-${n}.txt`);
    writeNames(warmFile, cached, n, false);
    const warm = await dnsperf(server, warmFile, { once: true, outstanding: 500, seconds: Math.max(10, Math.ceil((n - cached) / WARM_MIN_QPS)) });
    log(`hitscale: warmed ${n - cached} names at ${warm.qps?.toFixed(0)} qps (lost ${warm.lost})`);
    cached = n;
    const entries = await gauge(server.metrics, 'coredns_cache_entries');
    const rssWarmMiB = rssKiB(server.pid) / 1024;
    const hitFile = join(dir, `hitscale-hits-${n}.txt`);
    writeNames(hitFile, 0, n, true);
    await dnsperf(server, hitFile, { seconds: SETTLE_SECONDS, qps: HITSCALE_QPS, outstanding: 200 });
    const hits0 = await gauge(server.metrics, 'coredns_cache_hits_total');
    const misses0 = await gauge(server.metrics, 'coredns_cache_misses_total');
    const rounds = [];
    let r;
    for (let i = 0; i < HITSCALE_ROUNDS; i++) {
      const cpu0 = cpuMicros(server.pid);
      r = await dnsperf(server, hitFile, { seconds: HITSCALE_SECONDS, qps: HITSCALE_QPS, outstanding: 200 });
      rounds.push((cpuMicros(server.pid) - cpu0) / r.completed);
    }
    rounds.sort((a, b) => a - b);
    const hits = (await gauge(server.metrics, 'coredns_cache_hits_total')) - hits0;
    const misses = (await gauge(server.metrics, 'coredns_cache_misses_total')) - misses0;
    rows.push({
      entries,
      cpuPerQueryUs: rounds[HITSCALE_ROUNDS >> 1],
      cpuRoundsUs: rounds,
      hitRatio: hits / Math.max(1, hits + misses),
      rssWarmMiB,
      rssMiB: rssKiB(server.pid) / 1024,
      qps: r.qps,
      lost: r.lost,
    });
    log(`hitscale: ${entries} entries: ${rows.at(-1).cpuPerQueryUs.toFixed(2)} µs/query, hit ratio ${(rows.at(-1).hitRatio * 100).toFixed(2)} %`);
  }
  return { server, rssIdleMiB, rows };
}

export function hitScaleTable({ rssIdleMiB, rows }) {
  const base = rows[0]?.cpuPerQueryUs;
  return [
    `The operator's figure: the agent's own CPU (utime+stime from /proc, all threads) per answered query, dnsperf at a fixed`,
    `${HITSCALE_QPS / 1000}k qps over the cached names in a shuffled order (${SETTLE_SECONDS} s unmeasured, then the median of ${HITSCALE_ROUNDS} rounds of ${HITSCALE_SECONDS} s),`,
    'one agent whose cache is filled step by step',
    `(\`success ${CAPACITY} 3600\`, \`max_bytes ${MAX_BYTES}\`) through knot's wildcard. The micro-bench above isolates the cache's`,
    'own work; this is what a node pays per hit, sockets included. RSS idle (one name cached): ' + `${rssIdleMiB.toFixed(1)} MiB.`,
    '',
    '| cached entries | CPU µs/query (median) | × 1k | rounds | hit ratio | RSS MiB after filling → after the phase | qps (last round) | lost |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.entries.toLocaleString('en')} | ${r.cpuPerQueryUs.toFixed(2)} | ${(r.cpuPerQueryUs / base).toFixed(2)}× | ${r.cpuRoundsUs.map((v) => v.toFixed(1)).join(' / ')} | ${(r.hitRatio * 100).toFixed(2)} % | ${r.rssWarmMiB.toFixed(1)} → ${r.rssMiB.toFixed(1)} | ${r.qps?.toFixed(0)} | ${r.lost} |`,
    ),
  ].join('\n');
}
