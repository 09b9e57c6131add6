// The operator's figure for hit cost vs cache size: server CPU per cache hit through the real agent (sockets,
// parse, lookup, reply) with 1k, 10k, 100k and 1M names cached. One agent with a Corefile whose
// success capacity and byte budget hold 1M entries; the cache is filled step by step through
// knot's wildcard (each name asked once: a miss), then dnsperf asks the cached names in a shuffled
// order at a fixed rate and the agent's utime+stime per answered query is read from /proc.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuMicros, rssKiB } from './procs.mjs';
import { freePort, randomLoopback } from './net.mjs';
import { dnsperf } from './dnsperf.mjs';
import { agentNodeFlags, startServing } from './servers.mjs';
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
  const child = await startServing(argv, { name: 'nodelocaldns-ts (hitscale)', ip, port, qname: nameOf(0), timeoutMs: 20_000 });
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

/** Fill `server`'s cache with names [from, to) (misses through knot's wildcard). */
async function fill(server, dir, from, to, log) {
  const warmFile = join(dir, `hitscale-warm-${server.port}-${to}.txt`);
  writeNames(warmFile, from, to, false);
  const warm = await dnsperf(server, warmFile, { once: true, outstanding: 500, seconds: Math.max(10, Math.ceil((to - from) / WARM_MIN_QPS)) });
  log(`hitscale: warmed ${to - from} names at ${warm.qps?.toFixed(0)} qps (lost ${warm.lost})`);
}

/** Agent CPU µs per query for one fixed-rate round over `hitFile`. */
async function round(server, hitFile) {
  const cpu0 = cpuMicros(server.pid);
  const r = await dnsperf(server, hitFile, { seconds: HITSCALE_SECONDS, qps: HITSCALE_QPS, outstanding: 200 });
  return { us: (cpuMicros(server.pid) - cpu0) / r.completed, qps: r.qps, lost: r.lost };
}

const median = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1];

/**
 * One row per step: { entries, cpuPerQueryUs, baseUs, ratio, hitRatio, rss... }. Two agents on
 * the same CPU: `base` keeps 1k names cached, `scale` is filled step by step; their rounds
 * alternate, so load from other processes on this shared box hits both alike, and the ratio is
 * the median of the paired rounds. `max` caps the steps.
 */
export async function measureHitScale(dir, knot, repoRoot, { max = 1_000_000, log = () => {} } = {}) {
  const base = await startScaleAgent(dir, knot, repoRoot);
  const scale = await startScaleAgent(dir, knot, repoRoot);
  const rssIdleMiB = rssKiB(scale.pid) / 1024;
  const baseFile = join(dir, 'hitscale-hits-base.txt');
  writeNames(baseFile, 0, HITSCALE_STEPS[0], true);
  await fill(base, dir, 1, HITSCALE_STEPS[0], log);
  const rows = [];
  let cached = 1; // the start-up probe's name
  for (const n of HITSCALE_STEPS.filter((s) => s <= max)) {
    await fill(scale, dir, cached, n, log);
    cached = n;
    const entries = await gauge(scale.metrics, 'coredns_cache_entries');
    const rssWarmMiB = rssKiB(scale.pid) / 1024;
    const hitFile = join(dir, `hitscale-hits-${n}.txt`);
    writeNames(hitFile, 0, n, true);
    await dnsperf(base, baseFile, { seconds: SETTLE_SECONDS, qps: HITSCALE_QPS, outstanding: 200 });
    await dnsperf(scale, hitFile, { seconds: SETTLE_SECONDS, qps: HITSCALE_QPS, outstanding: 200 });
    const hits0 = await gauge(scale.metrics, 'coredns_cache_hits_total');
    const misses0 = await gauge(scale.metrics, 'coredns_cache_misses_total');
    const pairs = [];
    let last;
    for (let i = 0; i < HITSCALE_ROUNDS; i++) {
      const b = await round(base, baseFile);
      last = await round(scale, hitFile);
      pairs.push({ base: b.us, scale: last.us });
    }
    const hits = (await gauge(scale.metrics, 'coredns_cache_hits_total')) - hits0;
    const misses = (await gauge(scale.metrics, 'coredns_cache_misses_total')) - misses0;
    rows.push({
      entries,
      cpuPerQueryUs: median(pairs.map((p) => p.scale)),
      baseUs: median(pairs.map((p) => p.base)),
      ratio: median(pairs.map((p) => p.scale / p.base)),
      pairs,
      hitRatio: hits / Math.max(1, hits + misses),
      rssWarmMiB,
      rssMiB: rssKiB(scale.pid) / 1024,
      qps: last.qps,
      lost: last.lost,
    });
    const row = rows.at(-1);
    log(`hitscale: ${entries} entries: ${row.cpuPerQueryUs.toFixed(2)} µs/query vs ${row.baseUs.toFixed(2)} with 1k, ratio ${row.ratio.toFixed(2)}, hit ratio ${(row.hitRatio * 100).toFixed(2)} %`);
  }
  return { servers: [base, scale], rssIdleMiB, rows };
}

export function hitScaleTable({ rssIdleMiB, rows }) {
  return [
    `The operator's figure: the agent's own CPU (utime+stime from /proc, all threads) per answered query, dnsperf at a fixed`,
    `${HITSCALE_QPS / 1000}k qps over the cached names in a shuffled order. Two agents pinned to the same CPU, each`,
    `\`success ${CAPACITY} 3600\`, \`max_bytes ${MAX_BYTES}\`: one keeps 1k names cached, the other is filled step by step through`,
    `knot's wildcard; after ${SETTLE_SECONDS} s unmeasured each, their ${HITSCALE_SECONDS}-s rounds alternate ${HITSCALE_ROUNDS} times and the ratio is the median`,
    'of the paired rounds (the box is shared: paired rounds see the same outside load). The micro-bench above isolates the',
    "cache's own work; this is what a node pays per hit, sockets included. The 1k row is the control (same size on both).",
    `RSS idle (one name cached, 1.1M-entry LRU allocated): ${rssIdleMiB.toFixed(1)} MiB.`,
    '',
    '| cached entries | CPU µs/query | same rounds, 1k agent | × 1k (paired) | hit ratio | RSS MiB after filling → after the phase | lost |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.entries.toLocaleString('en')} | ${r.cpuPerQueryUs.toFixed(2)} | ${r.baseUs.toFixed(2)} | ${r.ratio.toFixed(2)}× | ${(r.hitRatio * 100).toFixed(2)} % | ${r.rssWarmMiB.toFixed(1)} → ${r.rssMiB.toFixed(1)} | ${r.lost} |`,
    ),
  ].join('\n');
}
