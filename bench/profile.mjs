#!/usr/bin/env node
// Where the agent's CPU goes on the cache-hit path: runs the agent under `node --cpu-prof`
// against knot, warms, drives it with dnsperf for 8 s, stops it (SIGTERM, so the profile is
// written) and prints the functions with the most self time. Knobs: --seconds (default 8);
// --miss profiles the miss path instead (unique names, every query to knot over TCP); --alloc
// samples allocations instead of CPU (V8's sampling heap profiler through the inspector, keeping
// objects the young-generation GC already freed, which is where per-query garbage goes) and
// prints the functions that allocate the most bytes per query.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interrupted, start, stop, stopAll, stopAllOnSignals } from './lib/procs.mjs';
import { startKnot } from './lib/knot.mjs';
import { freePort, randomLoopback, waitForAnswer } from './lib/net.mjs';
import { writeHitQueries, writeMissQueries, HIT_SUFFIX } from './lib/zone.mjs';
import { dnsperf } from './lib/dnsperf.mjs';
import { SERVER_CPU, agentNodeFlags } from './lib/servers.mjs';
import { Inspector } from './fuzz/probe.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const seconds = Number(process.argv.find((a) => a.startsWith('--seconds='))?.split('=')[1] ?? 8);
const missPath = process.argv.includes('--miss');
const allocations = process.argv.includes('--alloc');

function topSelfTime(profile, n) {
  const dt = new Map(); // node id → µs of self time
  for (let i = 0; i < profile.samples.length; i++) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const byFn = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const t = dt.get(node.id) ?? 0;
    total += t;
    const cf = node.callFrame;
    const name = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(dist|node:)/, '$1')}:${cf.lineNumber + 1}`;
    byFn.set(name, (byFn.get(name) ?? 0) + t);
  }
  return [...byFn].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, t]) => `${((t / total) * 100).toFixed(1).padStart(5)} %  ${name}`);
}

/**
 * Sampled allocation bytes by allocating function, per query. Sampling (one sample per 128 bytes
 * on average) makes small figures approximate; the total is the sum of the sampled sizes, which
 * V8 scales to estimate all allocations.
 */
function topAllocations(profile, queries, n) {
  const byFn = new Map();
  let total = 0;
  const walk = (node) => {
    const cf = node.callFrame;
    const name = `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(dist|node:)/, '$1')}:${cf.lineNumber + 1}`;
    const bytes = node.selfSize;
    total += bytes;
    if (bytes) byFn.set(name, (byFn.get(name) ?? 0) + bytes);
    for (const c of node.children) walk(c);
  };
  walk(profile.head);
  const rows = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, b]) => `${(b / queries).toFixed(1).padStart(8)} B  ${name}`);
  return [`${(total / queries).toFixed(1).padStart(8)} B  (all)`, ...rows];
}

const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-profile-'));

async function main() {
  try {
    const knot = await startKnot(dir, 9000);
    const hitFile = join(dir, 'hits.txt');
    writeHitQueries(hitFile, 9000);
    const ip = randomLoopback();
    const port = await freePort(ip);
    const inspectPort = await freePort(ip);
    // The image's node flags, so the young generation (and what survives it) is the one measured.
    const profiler = allocations ? [`--inspect-port=${ip}:${inspectPort}`] : ['--cpu-prof', `--cpu-prof-dir=${dir}`];
    const argv = [process.execPath, ...agentNodeFlags(join(here, '..')), ...profiler, join(here, '..', 'dist', 'cli.js'), '-localip', ip, '-dns.port', String(port),
      '-setupinterface=false', '-setupiptables=false', '-upstream', `${knot.ip}:${knot.port}`,
      '-health-port', String(await freePort(ip)), '-prometheus-listen-address', `${ip}:${await freePort(ip)}`, '-metrics-listen-address', `${ip}:${await freePort(ip)}`];
    const agent = start(argv, { cpu: SERVER_CPU, name: 'agent' });
    await waitForAnswer(ip, port, `n0.${HIT_SUFFIX}`, { child: agent });
    const server = { ip, port };
    await dnsperf(server, hitFile, { once: true, seconds: 10 });
    let inspector;
    if (allocations) {
      inspector = await Inspector.open(agent.pid, ip, inspectPort);
      await inspector.call('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    }
    let r;
    if (missPath) {
      const missFile = join(dir, 'miss.txt');
      writeMissQueries(missFile, 600_000, 'profile');
      r = await dnsperf(server, missFile, { seconds, once: true, outstanding: 500 });
    } else {
      r = await dnsperf(server, hitFile, { seconds });
    }
    if (inspector) {
      const { profile } = await inspector.call('HeapProfiler.stopSampling');
      inspector.ws.close();
      await stop(agent);
      console.log(`${missPath ? 'miss' : 'hit'} path, ${r.completed} queries at ${r.qps.toFixed(0)} qps; JS heap bytes allocated per query, by function:`);
      console.log(topAllocations(profile, r.completed, 25).join('\n'));
      return;
    }
    await stop(agent);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no profile written (agent exit ${agent.exitCode}): ${agent.output}`);
    console.log(`${missPath ? 'miss' : 'hit'} path, ${r.qps.toFixed(0)} qps under the profiler; self time by function:`);
    console.log(topSelfTime(JSON.parse(readFileSync(join(dir, file), 'utf8')), 25).join('\n'));
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

stopAllOnSignals(() => rmSync(dir, { recursive: true, force: true }));
main().catch((e) => {
  if (interrupted()) return;
  console.error(e);
  process.exitCode = 1;
});
