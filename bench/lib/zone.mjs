// The data the bench serves: one cluster.local zone for knot with `names` A records under
// bench.svc.cluster.local (the cache-hit set) and a wildcard under miss.svc.cluster.local, so
// the miss path can ask an unbounded number of unique names without a huge zone file.
import { writeFileSync } from 'node:fs';

export const HIT_SUFFIX = 'bench.svc.cluster.local';
export const MISS_SUFFIX = 'miss.svc.cluster.local';

export function clusterZone(names) {
  const lines = [
    '$ORIGIN cluster.local.',
    // A long TTL so the C servers keep every hit name for the whole run; the agent caps it at
    // 30 s (node-cache's template), which is why run.mjs re-warms before every measured phase.
    '$TTL 3600',
    '@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 3600',
    '@ IN NS ns.dns.cluster.local.',
    'ns.dns IN A 10.96.0.10',
    'kubernetes.default.svc IN A 10.96.0.1',
    `*.${MISS_SUFFIX}. IN A 10.250.0.1`,
  ];
  for (let i = 0; i < names; i++) lines.push(`n${i}.bench.svc IN A 10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`);
  return lines.join('\n') + '\n';
}

/** dnsperf input: every hit name once, A queries. */
export function writeHitQueries(path, names) {
  const lines = [];
  for (let i = 0; i < names; i++) lines.push(`n${i}.${HIT_SUFFIX} A`);
  writeFileSync(path, lines.join('\n') + '\n');
}

/** dnsperf input: `count` names never asked before (the tag keeps runs apart). */
export function writeMissQueries(path, count, tag) {
  const lines = [];
  for (let i = 0; i < count; i++) lines.push(`u${i}-${tag}.${MISS_SUFFIX} A`);
  writeFileSync(path, lines.join('\n') + '\n');
}
