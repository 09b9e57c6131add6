// Beside node-cache: CoreDNS (the node-cache data path) and our agent run the identical Corefile,
// node-cache's own (coredns.mjs), against one knot serving all four of its zones. Per system, a
// fresh process for each phase: cache hits (max qps, CPU per hit, latency), the miss path over
// TCP, CPU when quiet (idle, and a few misses a second: what most nodes see most of the time),
// and memory: idle, 10k cached names, every cache full, a blackholed upstream under 2,000 qps of
// distinct names, and a Zipf workload over 200k names. RSS is the whole process tree, sampled
// every 100 ms; peak and final are reported.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, createServer } from 'node:net';
import { dnsperf } from './dnsperf.mjs';
import { measureHits, measureMisses } from './measure.mjs';
import { freePort, randomLoopback } from './net.mjs';
import { cpuSchedMicros, rssAnonKiB, rssKiB, stop } from './procs.mjs';
import { agentNodeFlags, startServing } from './servers.mjs';
import { coreDnsBinary, nodeCacheCorefile, COREDNS_VERSION } from './coredns.mjs';
import { MISS_SUFFIX } from './zone.mjs';
import { zipfStream } from './zipf.mjs';
import { measureTailRounds } from './tail-rounds.mjs';
import { cacheCounters } from './metrics.mjs';

/** Entries per cache in node-cache's Corefile: `success 9984`/`denial 9984`, and `cache 30`'s 10,000 sharded to 9,984. */
export const NODECACHE_CAPACITY = 9_984;
export const BLACKHOLE_QPS = 2_000;
export const BLACKHOLE_SECONDS = 30;
/** CPU per hit and latency at a rate CoreDNS sustains on one core here (its max is ~20-30k qps). */
export const NODECACHE_FIXED_QPS = 10_000;
/** The quiet phases: this long idle, then this long at QUIET_MISS_QPS of names not cached. */
export const QUIET_SECONDS = 20;
export const QUIET_MISS_QPS = 5;
const ZIPF_NAMES = 200_000;
const ZIPF_QPS = 5_000;

/** Zones beyond cluster.local that knot serves here, so node-cache's other three blocks fill too. */
export function nodeCacheExtraZones() {
  const zone = (origin, lines) => [`$ORIGIN ${origin}`, '$TTL 3600', `@ IN SOA ns.${origin} host.${origin} 1 7200 1800 86400 3600`, `@ IN NS ns.${origin}`, `ns IN A 10.96.0.10`, ...lines].join('\n') + '\n';
  return {
    '10.in-addr.arpa.': zone('10.in-addr.arpa.', ['*.1 IN PTR ok.bench.example.']),
    'ip6.arpa.': zone('ip6.arpa.', ['*.a IN PTR ok.bench.example.']),
    'bench.example.': zone('bench.example.', ['*.ok IN A 192.0.2.1']),
  };
}

/** Per block, `n` names that are answered (success) and `n` that are denied (half NXDOMAIN, half NODATA). */
function fillQueries(n) {
  const blocks = [
    { ok: (i) => `f${i}.${MISS_SUFFIX} A`, nx: (i) => `f${i}.nx.svc.cluster.local A`, nodata: (i) => `g${i}.${MISS_SUFFIX} TXT` },
    { ok: (i) => `${i & 255}.${i >> 8}.1.10.in-addr.arpa PTR`, nx: (i) => `${i & 255}.${i >> 8}.2.10.in-addr.arpa PTR`, nodata: (i) => `${i & 255}.${i >> 8}.1.10.in-addr.arpa TXT` },
    { ok: (i) => `${i}.a.ip6.arpa PTR`, nx: (i) => `${i}.b.ip6.arpa PTR`, nodata: (i) => `${i}.a.ip6.arpa TXT` },
    { ok: (i) => `h${i}.ok.bench.example A`, nx: (i) => `h${i}.nx.bench.example A`, nodata: (i) => `h${i}.ok.bench.example TXT` },
  ];
  const lines = [];
  for (const b of blocks) for (let i = 0; i < n; i++) lines.push(b.ok(i), i % 2 === 0 ? b.nx(i) : b.nodata(i));
  return lines;
}

/** RSS of a process tree every 100 ms until stopped: { peakMiB, lastMiB }. */
function sampleRss(pid) {
  let peak = 0;
  let last = 0;
  const tick = () => {
    last = rssKiB(pid);
    if (last > peak) peak = last;
  };
  tick();
  const timer = setInterval(tick, 100);
  return () => {
    clearInterval(timer);
    tick();
    return { peakMiB: peak / 1024, lastMiB: last / 1024 };
  };
}

/**
 * The cluster zones' upstream as a TCP relay to knot that can go silent: it then keeps accepting
 * connections and reading queries, and never answers (the IPVS blackhole, seen from the node).
 */
async function startBlackhole(knot) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const sockets = new Set();
  let silent = false;
  const upstreams = new Set();
  const track = (s, set) => {
    set.add(s);
    s.on('error', () => {});
    s.on('close', () => set.delete(s));
  };
  const server = createServer((client) => {
    track(client, sockets);
    // Once silent, a connection is only accepted and read: a socket to knot per connection would
    // double what this process holds while CoreDNS opens thousands (EMFILE at a 20k limit).
    if (silent) return client.resume();
    const upstream = connect(knot.port, knot.ip);
    track(upstream, upstreams);
    client.on('data', (d) => silent || upstream.write(d));
    upstream.on('data', (d) => silent || client.write(d));
  });
  await new Promise((r) => server.listen(port, ip, r));
  return {
    ip,
    port,
    silence: () => {
      silent = true;
      for (const s of upstreams) s.destroy();
    },
    close: () => new Promise((r) => { for (const s of [...sockets, ...upstreams]) s.destroy(); server.close(r); }),
  };
}

async function launchSystem(system, dir, repoRoot, bin, cluster, upstream) {
  const ip = randomLoopback();
  const ports = [];
  for (let i = 0; i < 6; i++) ports.push(await freePort(ip));
  const [port, metricsPort, healthPort, readyPort, agentHealth, nodeCacheMetrics] = ports;
  const corefile = join(dir, `Corefile-${system}-${port}`);
  writeFileSync(corefile, nodeCacheCorefile(repoRoot, { ip, port, cluster, upstream, metricsPort, healthPort, readyPort }));
  const argv = system === 'coredns'
    ? [bin, '-conf', corefile]
    : [process.execPath, ...agentNodeFlags(repoRoot), join(repoRoot, 'dist', 'cli.js'), '-conf', corefile, '-localip', ip, '-dns.port', String(port),
      '-setupinterface=false', '-setupiptables=false', '-health-port', String(agentHealth), '-metrics-listen-address', `${ip}:${nodeCacheMetrics}`];
  const env = system === 'coredns' ? process.env : { ...process.env, NODELOCALDNS_UDP_IO: 'batch' };
  // A "." name: the cluster zones' upstream may be the blackhole.
  const child = await startServing(argv, { name: system, env, ip, port, qname: 'ready.ok.bench.example', timeoutMs: 30_000 });
  return { name: system, ip, port, child, pid: child.pid, argv, metrics: `${ip}:${metricsPort}`, config: corefile };
}

/**
 * CPU in ms per second when there is little to do: idle, then a few distinct names a second, each
 * forwarded. Most nodes spend most of their time like this, and a DaemonSet pays it on every one;
 * it is what periodic work costs (timers, probes, monitors: each wake-up of a sleeping vCPU costs
 * ~0.1 ms here), not what a query costs. Both systems are scraped once first, as Prometheus
 * scrapes a pod within seconds of its start: metrics code that runs from then on is counted.
 */
async function measureQuiet(server, dir, system) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  await cacheCounters(server.metrics);
  await sleep(2_000);
  const idle0 = cpuSchedMicros(server.pid);
  await sleep(QUIET_SECONDS * 1000);
  const idle1 = cpuSchedMicros(server.pid);
  const file = join(dir, `nodecache-quiet-${system}.txt`);
  writeFileSync(file, Array.from({ length: QUIET_MISS_QPS * QUIET_SECONDS + 100 }, (_, i) => `q${i}-${system}.${MISS_SUFFIX} A`).join('\n') + '\n');
  const miss0 = cpuSchedMicros(server.pid);
  const wall0 = performance.now();
  const r = await dnsperf(server, file, { seconds: QUIET_SECONDS, qps: QUIET_MISS_QPS, outstanding: 10, clients: 1 });
  const miss1 = cpuSchedMicros(server.pid);
  const wallSeconds = (performance.now() - wall0) / 1000;
  return {
    idleMsPerS: (idle1 - idle0) / 1000 / QUIET_SECONDS,
    missesMsPerS: (miss1 - miss0) / 1000 / wallSeconds,
    missesSent: r.sent,
    missesAnswered: r.completed,
  };
}

async function fillAndMeasure(server, file, qps) {
  await dnsperf(server, file, { once: true, seconds: 60, qps, outstanding: 500 });
  return [rssKiB(server.pid) / 1024, rssAnonKiB(server.pid) / 1024];
}

/**
 * The whole comparison; `log` reports progress. Returns { error } when CoreDNS cannot be built,
 * else { version, systems: { coredns, ours } } with the figures of each phase.
 */
export async function measureNodeCache(dir, knot, repoRoot, hitFile, { log = () => {}, zipfSeconds = 300 } = {}) {
  const built = coreDnsBinary(log);
  if (built.error) return { error: built.error };
  const cluster = `${knot.ip}:${knot.port}`;
  const tenK = join(dir, 'nodecache-10k.txt');
  writeFileSync(tenK, Array.from({ length: 10_000 }, (_, i) => `t${i}.${MISS_SUFFIX} A`).join('\n') + '\n');
  const full = join(dir, 'nodecache-full.txt');
  writeFileSync(full, fillQueries(NODECACHE_CAPACITY).join('\n') + '\n');
  const distinct = join(dir, 'nodecache-distinct.txt');
  writeFileSync(distinct, Array.from({ length: BLACKHOLE_QPS * BLACKHOLE_SECONDS }, (_, i) => `b${i}.${MISS_SUFFIX} A`).join('\n') + '\n');
  const zipf = join(dir, 'nodecache-zipf.txt');
  const ranks = zipfStream(ZIPF_NAMES, Math.min(ZIPF_QPS * zipfSeconds, 1_500_000), { seed: 7 });
  writeFileSync(zipf, Array.from(ranks, (r) => `z${r}.${MISS_SUFFIX} A`).join('\n') + '\n');

  const systems = {};
  for (const system of ['coredns', 'ours']) {
    const figures = {};
    const launch = (up = cluster) => launchSystem(system, dir, repoRoot, built.path, up, cluster);
    let s = await launch();
    try {
      log(`node-cache comparison, ${system}: idle, hits, 10k names, full caches`);
      figures.idleMiB = rssKiB(s.pid) / 1024;
      figures.idleAnonMiB = rssAnonKiB(s.pid) / 1024;
      figures.quiet = await measureQuiet(s, dir, system);
      figures.hits = await measureHits(s, hitFile, dir, { fixedQps: NODECACHE_FIXED_QPS });
      [figures.tenKMiB, figures.tenKAnonMiB] = await fillAndMeasure(s, tenK, 10_000);
      [figures.fullMiB, figures.fullAnonMiB] = await fillAndMeasure(s, full, 10_000);
      figures.entries = await cacheEntries(s.metrics);
    } finally {
      await stop(s.child);
    }
    s = await launch();
    try {
      log(`node-cache comparison, ${system}: miss path over TCP`);
      const missFile = join(dir, `nodecache-miss-${system}.txt`);
      writeFileSync(missFile, Array.from({ length: 600_000 }, (_, i) => `u${i}-${system}.${MISS_SUFFIX} A`).join('\n') + '\n');
      figures.misses = await measureMisses(s, missFile, knot);
    } finally {
      await stop(s.child);
    }
    const hole = await startBlackhole(knot);
    s = await launch(`${hole.ip}:${hole.port}`);
    try {
      log(`node-cache comparison, ${system}: blackholed upstream, ${BLACKHOLE_QPS} qps of distinct names for ${BLACKHOLE_SECONDS} s`);
      await dnsperf(s, hitFile, { once: true, seconds: 10, outstanding: 100 }); // the hit set cached first
      hole.silence();
      const done = sampleRss(s.pid);
      // The cached names asked 5 s into the outage, while it still holds them (30 s TTL cap).
      const cachedLater = new Promise((r) => setTimeout(r, 5_000)).then(() => dnsperf(s, hitFile, { once: true, seconds: 10, outstanding: 100 }));
      const r = await dnsperf(s, distinct, { seconds: BLACKHOLE_SECONDS, qps: BLACKHOLE_QPS, outstanding: 20_000, clients: 4 });
      const cached = await cachedLater;
      figures.blackhole = { ...done(), sent: r.sent, completed: r.completed, cachedSent: cached.sent, cachedAnswered: cached.noerror };
    } finally {
      await stop(s.child);
      await hole.close();
    }
    s = await launch();
    try {
      log(`node-cache comparison, ${system}: Zipf over ${ZIPF_NAMES} names at ${ZIPF_QPS} qps for ${zipfSeconds} s`);
      const done = sampleRss(s.pid);
      const r = await dnsperf(s, zipf, { seconds: zipfSeconds, qps: ZIPF_QPS, outstanding: 500 });
      figures.zipf = { ...done(), completed: r.completed };
    } finally {
      await stop(s.child);
    }
    systems[system] = figures;
  }
  // p99 and CPU per hit again in alternating rounds, both up at once (lib/tail-rounds.mjs): the
  // phases above run minutes apart, and one phase's p99 on this box has read 0.25 against 15.30 ms
  // in one run and 4.16 against 1.47 in the next. The targets read these medians.
  const up = [];
  let tail;
  try {
    for (const system of ['coredns', 'ours']) up.push({ name: system, server: await launchSystem(system, dir, repoRoot, built.path, cluster, cluster) });
    log(`node-cache comparison: alternating rounds at ${NODECACHE_FIXED_QPS} qps`);
    tail = Object.fromEntries((await measureTailRounds(up, hitFile, dir, { qps: NODECACHE_FIXED_QPS, log })).map((t) => [t.name, t]));
  } catch (e) {
    log(`node-cache comparison: alternating rounds failed: ${e.message}`);
  } finally {
    for (const u of up) await stop(u.server.child);
  }
  return { version: COREDNS_VERSION, systems, zipfSeconds, tail };
}

async function cacheEntries(address) {
  try {
    const text = await (await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
    let total = 0;
    for (const line of text.split('\n')) if (line.startsWith('coredns_cache_entries{')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
    return total;
  } catch {
    return undefined;
  }
}
