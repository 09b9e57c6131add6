// The measured phases for one server. Every phase is a bounded dnsperf run (≤ 10 s).
import { join } from 'node:path';
import { cpuBusyMicros, cpuMicros, rssKiB } from './procs.mjs';
import { SERVER_CPU } from './servers.mjs';
import { CLIENT_CPU, dnsperf } from './dnsperf.mjs';
import { tcpPeersTo } from './net.mjs';
import { cacheCounters } from './metrics.mjs';
import { batchClient } from './batch-client.mjs';

export const PHASE_SECONDS = 10;

/** The median of rounds' figures (the mean of the middle two for an even count). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const FIXED_QPS = 40_000;

// Each name asked once, so every later query of the hit set is a cache hit. Done before every
// phase because the agent caps TTLs at 30 s (node-cache's template) and a run lasts longer.
export async function warm(server, hitFile) {
  const r = await dnsperf(server, hitFile, { once: true, seconds: 10, outstanding: 100 });
  if (r.completed !== r.sent) throw new Error(`${server.name}: warm-up lost ${r.sent - r.completed} of ${r.sent} queries`);
  return r;
}

/** dnsperf at a fixed rate for a phase, 200 outstanding, per-query latencies for p99 and p99.9. */
export function fixedRate(server, hitFile, latencyFile, qps = FIXED_QPS) {
  return dnsperf(server, hitFile, { seconds: PHASE_SECONDS, qps, outstanding: 200, latencyFile });
}

/**
 * Cache-hit path: (a) max qps, (b) CPU µs/query at a fixed rate, (c) avg, p99 and p99.9 latency,
 * (d) RSS, and for a server started with a GC trace (`server.gc`) the fixed-rate phase's GC
 * pauses and JS heap bytes allocated per answered query.
 */
export async function measureHits(server, hitFile, dir, { fixedQps = FIXED_QPS } = {}) {
  const rssStartMiB = rssKiB(server.pid) / 1024; // after start-up, one name cached
  await warm(server, hitFile);
  // The CPU each side used at full rate: on a 2-CPU box dnsperf has one CPU too, and when it is
  // the side that runs out, the max qps measures the client as much as the server.
  const { r: max, serverCpuShare: maxServerCpuShare, clientCpuShare: maxClientCpuShare } = await withCpuShares(server, () =>
    dnsperf(server, hitFile, { seconds: PHASE_SECONDS, outstanding: 200 }),
  );

  await warm(server, hitFile);
  const counters0 = server.metrics ? await cacheCounters(server.metrics) : undefined;
  const cpu0 = cpuMicros(server.pid);
  const core0 = cpuBusyMicros(SERVER_CPU);
  const wall0 = performance.now();
  const gcWindow = server.gc?.window();
  const fixed = await fixedRate(server, hitFile, join(dir, `latency-${server.port}.txt`), fixedQps);
  const cpu1 = cpuMicros(server.pid);
  const core1 = cpuBusyMicros(SERVER_CPU);
  const wallMicros = (performance.now() - wall0) * 1000;
  const gc = gcWindow?.end();
  const counters1 = server.metrics ? await cacheCounters(server.metrics) : undefined;
  return {
    cacheHitRatio: counters0 && counters1 ? ratioOf(counters1.hits - counters0.hits, counters1.misses - counters0.misses) : undefined,
    maxQps: max.qps,
    maxLost: max.lost,
    maxServerCpuShare,
    maxClientCpuShare,
    fixedQps: fixed.qps,
    fixedLost: fixed.lost,
    cpuPerQueryUs: (cpu1 - cpu0) / fixed.completed,
    // The box is shared: the share of the server's CPU that other processes took during the
    // phase (the window includes dnsperf's start and its wait for late answers).
    foreignCpuShare: Math.max(0, core1 - core0 - (cpu1 - cpu0)) / wallMicros,
    avgLatencyMs: fixed.avgLatency * 1000,
    p99LatencyMs: fixed.p99 * 1000,
    p999LatencyMs: fixed.p999 * 1000,
    gc: gc && { ...gc, bytesPerHit: gc.allocatedBytes / fixed.completed },
    rssStartMiB,
    rssMiB: rssKiB(server.pid) / 1024,
    commands: { max: max.command, fixed: fixed.command },
  };
}

/**
 * Max qps with the batching client (lib/batch-client.mjs): qps, lost, and each side's CPU share.
 * Run it on a server started afresh, not after `measureHits`: the agent caps TTLs at 30 s and
 * its phases take ~22 s from the first warm-up, whose entries a later warm-up only hits, so a
 * third 10 s phase would see the hit set expire and go upstream in its last seconds.
 */
export async function measureBatchMax(server, hitFile, path) {
  await warm(server, hitFile);
  const { r, serverCpuShare, clientCpuShare } = await withCpuShares(server, () => batchClient(path, server, hitFile, { seconds: PHASE_SECONDS }));
  return { qps: r.qps, lost: r.lost, serverCpuShare, clientCpuShare, command: r.command };
}

/** `run()`'s result and the share of the wall time the server's process tree and the client's CPU were busy. */
async function withCpuShares(server, run) {
  const cpu0 = cpuMicros(server.pid);
  const client0 = cpuBusyMicros(CLIENT_CPU);
  const wall0 = performance.now();
  const r = await run();
  const wallMicros = (performance.now() - wall0) * 1000;
  return { r, serverCpuShare: (cpuMicros(server.pid) - cpu0) / wallMicros, clientCpuShare: (cpuBusyMicros(CLIENT_CPU) - client0) / wallMicros };
}

function ratioOf(hits, misses) {
  return hits + misses > 0 ? hits / (hits + misses) : undefined;
}

/**
 * Miss path: names never asked before, so every query goes to knot over TCP. qps, server
 * CPU per query, and the TCP connections toward knot (sampled with `ss` every 200 ms: the number of
 * distinct connections seen, and the most open at one time). Connections toward knot that exist
 * before the phase and are not the server's (TIME-WAIT left by the server measured before it)
 * are not counted.
 */
export async function measureMisses(server, missFile, knot) {
  const foreign = new Set();
  for (const [local, pid] of await tcpPeersTo(knot.ip, knot.port)) if (pid !== server.pid) foreign.add(local);
  const seen = new Set();
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const now = [...(await tcpPeersTo(knot.ip, knot.port)).keys()].filter((c) => !foreign.has(c));
      for (const c of now) seen.add(c);
      peak = Math.max(peak, now.length);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  const cpu0 = cpuMicros(server.pid);
  let r;
  try {
    r = await dnsperf(server, missFile, { seconds: PHASE_SECONDS, once: true, outstanding: 500 });
  } finally {
    sampling = false;
    await sampler;
  }
  const cpu1 = cpuMicros(server.pid);
  return {
    qps: r.qps,
    completed: r.completed,
    lost: r.lost,
    noerror: r.noerror,
    cpuPerQueryUs: (cpu1 - cpu0) / r.completed,
    upstreamConnections: seen.size,
    peakConnections: peak,
    command: r.command,
  };
}
