// Tail latency and CPU per hit in alternating rounds. Every server is up at once (each pinned to
// CPU 0, idle while another is measured) and each round runs the fixed-rate phase on each of
// them in turn, the order rotated from round to round. The box's noise comes in bursts of seconds
// (another process on CPU 0, the hypervisor taking the vCPU away): measured one after another,
// one server can get a quiet 10 s and the next a noisy one, and their p99s then compare the
// bursts, not the servers (dnsdist's p99 at 40k qps measured 0.17 ms in one run and 4.2 ms minutes
// later on the same box). Medians over interleaved rounds compare like with like.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXED_QPS, PHASE_SECONDS, fixedRate, median, warm } from './measure.mjs';
import { cacheCounters } from './metrics.mjs';
import { cpuMicros } from './procs.mjs';

/**
 * Five, as the max-qps rounds: at 40k qps a server's p99 moved 0.15-0.39 ms between its own rounds
 * minutes apart (every server alike), more than the servers' medians differ, and a median of three
 * rounds let one noisy round of the three decide the row.
 */
export const TAIL_ROUNDS = 5;
/** The agent's TTL cap (node-cache's `cache 30`), and how long a phase may take end to end. */
const TTL_CAP_MS = 30_000;
const PHASE_MS = (PHASE_SECONDS + 3) * 1000;

/**
 * `servers`: [{ name, server }], already started. Returns per server the rounds (p99, p99.9 in
 * ms, CPU µs per query, qps, lost) and their medians.
 */
export async function measureTailRounds(servers, hitFile, dir, { rounds = TAIL_ROUNDS, qps = FIXED_QPS, log = () => {} } = {}) {
  const per = new Map(servers.map((s) => [s.name, []]));
  /** When a server's last warm-up stored the hit set (servers with /metrics: the agent). */
  const stored = new Map();
  const names = readFileSync(hitFile, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < servers.length; i++) {
      const { name, server } = servers[(i + r) % servers.length];
      // The agent caps TTLs at 30 s (node-cache's template), and a warm-up stores only what has
      // expired: names stored less than 30 s before a phase would expire inside it, all at once
      // (~9,000 misses in half a second: a burst of scavenges and a p99 over 1 ms, against C
      // servers that keep the zone's hour). So they are let expire first and stored again; the
      // misses each phase did see are counted from the server's own /metrics and reported.
      const at = stored.get(name);
      if (at !== undefined && Date.now() + PHASE_MS > at + TTL_CAP_MS) await sleep(at + TTL_CAP_MS + 1_500 - Date.now());
      let before = server.metrics ? await cacheCounters(server.metrics) : undefined;
      for (let tries = 0; ; tries++) {
        const warmStart = Date.now();
        const warmBefore = before;
        await warm(server, hitFile);
        before = server.metrics ? await cacheCounters(server.metrics) : undefined;
        const stores = warmBefore && before ? before.misses - warmBefore.misses : 0;
        if (stores > 0) stored.set(name, warmStart);
        // A warm-up that began as the names expired stored only some: wait them out, warm again.
        if (stores === 0 || stores >= names || tries === 2) break;
        await sleep(1_500);
      }
      const cpu0 = cpuMicros(server.pid);
      const fixed = await fixedRate(server, hitFile, join(dir, `tail-${server.port}.txt`), qps);
      const cpu1 = cpuMicros(server.pid);
      const after = before ? await cacheCounters(server.metrics) : undefined;
      const misses = before && after ? after.misses - before.misses : undefined;
      per.get(name).push({ p99: fixed.p99 * 1000, p999: fixed.p999 * 1000, cpuUs: (cpu1 - cpu0) / fixed.completed, qps: fixed.qps, lost: fixed.lost, misses });
      log(`tail round ${r + 1}/${rounds} at ${qps} qps, ${name}: p99 ${(fixed.p99 * 1000).toFixed(3)} ms`);
    }
  }
  return [...per].map(([name, rs]) => ({
    name,
    rounds: rs,
    p99: median(rs.map((x) => x.p99)),
    p999: median(rs.map((x) => x.p999)),
    cpuUs: median(rs.map((x) => x.cpuUs)),
  }));
}

/** The rounds as a table: medians first, then each round's p99 and CPU. */
export function tailRoundsTable(tail) {
  if (!tail?.length) return '';
  const unbound = tail.find((t) => t.name === 'unbound');
  const rows = [
    `| server | p99 ms (median) | p99.9 ms (median) | CPU µs/query (median) | × unbound | p99 ms by round | CPU µs/query by round |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const t of tail) {
    const x = unbound ? `${(t.cpuUs / unbound.cpuUs).toFixed(2)}×` : 'n/a';
    rows.push(`| ${t.name} | ${t.p99.toFixed(3)} | ${t.p999.toFixed(3)} | ${t.cpuUs.toFixed(2)} | ${x} | ${t.rounds.map((r) => r.p99.toFixed(3)).join(' / ')} | ${t.rounds.map((r) => r.cpuUs.toFixed(2)).join(' / ')} |`);
  }
  const counted = tail.filter((t) => t.rounds.every((r) => r.misses !== undefined));
  const notes = counted.map((t) => `${t.name}: cache misses during its phases, from its own /metrics: ${t.rounds.map((r) => r.misses).join(' / ')}.`);
  return [rows.join('\n'), ...notes].join('\n\n');
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
