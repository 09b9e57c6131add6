// The node-cache comparison as Markdown: its tables and its rows of the targets table, each a
// ratio of ours to CoreDNS (node-cache's data path) in the same run.
import { BLACKHOLE_QPS, BLACKHOLE_SECONDS, NODECACHE_CAPACITY, NODECACHE_FIXED_QPS, QUIET_MISS_QPS, QUIET_SECONDS } from './nodecache.mjs';

const f1 = (v) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(1));
const f2 = (v) => (v === undefined || Number.isNaN(v) ? 'n/a' : v.toFixed(2));
const k = (v) => (v === undefined ? 'n/a' : Math.round(v).toLocaleString('en-US'));

export function nodeCacheSection(r) {
  if (!r) return '';
  if (r.error) return `## Beside node-cache (CoreDNS)\n\ncoredns (node-cache data path): ${r.error}.\n`;
  const { coredns: c, ours: o } = r.systems;
  const lines = [
    '## Beside node-cache (CoreDNS)',
    '',
    `CoreDNS ${r.version} (the release node-cache links) built from its Go module, and our agent, each running node-cache's`,
    'Corefile from manifests/nodelocaldns.yaml (four blocks: cluster.local with `success 9984 30` / `denial 9984 5`,',
    'in-addr.arpa, ip6.arpa and "." with `cache 30`; `force_tcp` to knot for the cluster zones), pinned to CPU 0, a fresh',
    'process per phase. RSS is the whole process tree, sampled every 100 ms.',
    '',
    `| | max qps | CPU µs/hit at ${NODECACHE_FIXED_QPS / 1000}k qps | avg latency ms | p99 latency ms | miss qps (TCP) | upstream connections |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...[['coredns (node-cache data path)', c], ['nodelocaldns-ts', o]].map(([n, s]) =>
      `| ${n} | ${k(s.hits.maxQps)} | ${f2(s.hits.cpuPerQueryUs)} | ${f2(s.hits.avgLatencyMs)} | ${f2(s.hits.p99LatencyMs)} | ${k(s.misses.qps)} | ${s.misses.upstreamConnections} |`,
    ),
    '',
    ...(r.tail
      ? [
          `Both again at ${NODECACHE_FIXED_QPS / 1000}k qps in ${r.tail.ours.rounds.length} alternating rounds, both up at once (bench/lib/tail-rounds.mjs); the p99 and CPU targets read these medians:`,
          '',
          '| | p99 ms (median) | p99.9 ms (median) | CPU µs/hit (median) | p99 ms by round | CPU µs/hit by round |',
          '|---|---:|---:|---:|---:|---:|',
          ...[['coredns (node-cache data path)', r.tail.coredns], ['nodelocaldns-ts', r.tail.ours]].map(([n, t]) =>
            `| ${n} | ${f2(t.p99)} | ${f2(t.p999)} | ${f2(t.cpuUs)} | ${t.rounds.map((x) => f2(x.p99)).join(' / ')} | ${t.rounds.map((x) => f2(x.cpuUs)).join(' / ')} |`,
          ),
          '',
        ]
      : []),
    ...(c.quiet && o.quiet
      ? [
          `CPU when quiet, ms of CPU per second over every thread (schedstat), each system scraped once first as Prometheus would:`,
          `idle for ${QUIET_SECONDS} s, then ${QUIET_SECONDS} s of ${QUIET_MISS_QPS} names a second not cached, each forwarded to knot over TCP. Most nodes spend most of their`,
          'time like this, so this is what periodic work (timers, probes, monitors) costs on every node of a cluster:',
          '',
          `| | idle | ${QUIET_MISS_QPS} misses a second |`,
          '|---|---:|---:|',
          `| coredns (node-cache data path) | ${f2(c.quiet.idleMsPerS)} | ${f2(c.quiet.missesMsPerS)} |`,
          `| nodelocaldns-ts | ${f2(o.quiet.idleMsPerS)} (${f2(o.quiet.idleMsPerS / c.quiet.idleMsPerS)}×) | ${f2(o.quiet.missesMsPerS)} (${f2(o.quiet.missesMsPerS / c.quiet.missesMsPerS)}×) |`,
          '',
        ]
      : []),
    `Memory (MiB). Idle: after start, one query answered. 10k: 10,000 names cached in cluster.local. Full: every cache full,`,
    `4 blocks × (${NODECACHE_CAPACITY.toLocaleString('en-US')} success + ${NODECACHE_CAPACITY.toLocaleString('en-US')} denial, NXDOMAIN and NODATA) asked once. Blackhole: the cluster zones' upstream accepts TCP and never`,
    `answers while ${BLACKHOLE_QPS.toLocaleString('en-US')} qps of distinct names arrive for ${BLACKHOLE_SECONDS} s. Zipf: ${r.zipfSeconds} s at 5,000 qps over 200,000 names (steady state).`,
    '',
    'In brackets, the anonymous part of the same RSS (RssAnon: heap, stacks, buffers), which a memory limit cannot reclaim;',
    'the rest is pages of the executable and its libraries, which the kernel drops and reads again at will.',
    '',
    '| | idle | 10k names | full caches (entries) | blackhole peak / final | Zipf peak / final |',
    '|---|---:|---:|---:|---:|---:|',
    ...[['coredns (node-cache data path)', c], ['nodelocaldns-ts', o]].map(([n, s]) =>
      `| ${n} | ${f1(s.idleMiB)} (${f1(s.idleAnonMiB)}) | ${f1(s.tenKMiB)} (${f1(s.tenKAnonMiB)}) | ${f1(s.fullMiB)} (${f1(s.fullAnonMiB)}) (${k(s.entries)}) | ${f1(s.blackhole.peakMiB)} / ${f1(s.blackhole.lastMiB)} | ${f1(s.zipf.peakMiB)} / ${f1(s.zipf.lastMiB)} |`,
    ),
    '',
    `Per cached entry (full caches minus idle, over the entries): CoreDNS ${k(((c.fullMiB - c.idleMiB) * 1048576) / c.entries)} B, ours ${k(((o.fullMiB - o.idleMiB) * 1048576) / o.entries)} B.`,
    "What bounds the full-cache row now is the entries: the agent gives back the node executable's boot-time pages",
    '(its idle RSS fell from ~62 to ~41 MiB that way, under CoreDNS\'s own idle), so 80k entries at ~700 B each are most',
    'of the figure; "≤ 0.5× CoreDNS" would need ~260 B per entry, which means entries in one compact slab instead of an',
    'object and a string each (bench/memory.md: where the agent\'s RSS goes, and what was tried).',
    '',
    `During the blackhole, queries answered of ${k(c.blackhole.sent)} sent: CoreDNS ${k(c.blackhole.completed)}, ours ${k(o.blackhole.completed)} (ours sheds misses past \`-max-pending\` with SERVFAIL at once); the ${k(o.blackhole.cachedSent)} cached names asked 5 s into it: CoreDNS answered ${k(c.blackhole.cachedAnswered)}, ours ${k(o.blackhole.cachedAnswered)} (NOERROR).`,
    '',
  ];
  return lines.join('\n');
}

/** Rows for the targets table: ratios of ours to CoreDNS. */
export function nodeCacheTargets(r, row) {
  if (!r || r.error) {
    row('beside node-cache', 'beside node-cache (CoreDNS)', r?.error ?? 'not run', undefined);
    return;
  }
  const { coredns: c, ours: o } = r.systems;
  const ratio = (a, b) => a / b;
  const full = ratio(o.fullMiB, c.fullMiB);
  row('beside node-cache', 'RSS, every cache full ≤ 0.5× CoreDNS', `${f2(full)}× (${f1(o.fullMiB)} vs ${f1(c.fullMiB)} MiB)`, full <= 0.5);
  const tenK = ratio(o.tenKMiB, c.tenKMiB);
  row('beside node-cache', 'RSS, 10k names cached ≤ 1.2× CoreDNS', `${f2(tenK)}× (${f1(o.tenKMiB)} vs ${f1(c.tenKMiB)} MiB)`, tenK <= 1.2);
  const hole = ratio(o.blackhole.peakMiB, c.blackhole.peakMiB);
  row('beside node-cache', 'peak RSS, blackholed upstream ≤ 0.5× CoreDNS, and bounded (-max-pending)', `${f2(hole)}× (${f1(o.blackhole.peakMiB)} vs ${f1(c.blackhole.peakMiB)} MiB)`, hole <= 0.5);
  // CPU per hit and p99: graded on the alternating rounds' medians when they ran, the single phases then context.
  const t = r.tail;
  const cpu = ratio(o.hits.cpuPerQueryUs, c.hits.cpuPerQueryUs);
  if (t) {
    const tCpu = ratio(t.ours.cpuUs, t.coredns.cpuUs);
    row('beside node-cache', 'CPU per hit ≤ 0.6× CoreDNS (median of alternating rounds)', `${f2(tCpu)}×`, tCpu <= 0.6);
  }
  row('beside node-cache', `${t ? '(context) ' : ''}CPU per hit ≤ 0.6× CoreDNS${t ? ' (one phase each)' : ''}`, `${f2(cpu)}×`, t ? undefined : cpu <= 0.6);
  const qps = ratio(o.hits.maxQps, c.hits.maxQps);
  row('beside node-cache', 'max qps ≥ 1.5× CoreDNS', `${f2(qps)}×`, qps >= 1.5);
  const p99 = `p99 at ${NODECACHE_FIXED_QPS / 1000}k qps ≤ CoreDNS`;
  if (t) row('beside node-cache', `${p99} (median of alternating rounds)`, `${f2(t.ours.p99)} vs ${f2(t.coredns.p99)} ms`, t.ours.p99 <= t.coredns.p99);
  row('beside node-cache', `${t ? '(context) ' : ''}${p99}${t ? ' (one phase each)' : ''}`, `${f2(o.hits.p99LatencyMs)} vs ${f2(c.hits.p99LatencyMs)} ms`, t ? undefined : o.hits.p99LatencyMs <= c.hits.p99LatencyMs);
  if (c.quiet && o.quiet) {
    row(
      'beside node-cache',
      `(context) CPU when quiet: idle, and ${QUIET_MISS_QPS} misses a second`,
      `${f2(o.quiet.idleMsPerS)} vs ${f2(c.quiet.idleMsPerS)} ms/s idle (${f2(o.quiet.idleMsPerS / c.quiet.idleMsPerS)}×), ${f2(o.quiet.missesMsPerS)} vs ${f2(c.quiet.missesMsPerS)} ms/s (${f2(o.quiet.missesMsPerS / c.quiet.missesMsPerS)}×)`,
      undefined,
    );
  }
  const miss = ratio(o.misses.qps, c.misses.qps);
  row('beside node-cache', 'miss qps (force_tcp) ≥ 1.2× CoreDNS', `${f2(miss)}× on ${o.misses.upstreamConnections} vs ${c.misses.upstreamConnections} connections`, miss >= 1.2);
}
