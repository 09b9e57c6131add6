// Tail latency and CPU per hit in alternating rounds. Every server is up at once (each pinned to
// CPU 0, idle while another is measured) and each round runs the fixed-rate phase on each of
// them in turn, the order rotated from round to round. The box's noise comes in bursts of seconds
// (another process on CPU 0, the hypervisor taking the vCPU away): measured one after another,
// one server can get a quiet 10 s and the next a noisy one, and their p99s then compare the
// bursts, not the servers (dnsdist's p99 at 40k qps measured 0.17 ms in one run and 4.2 ms minutes
// later on the same box). Medians over interleaved rounds compare like with like.
import { join } from 'node:path';
import { FIXED_QPS, fixedRate, median, warm } from './measure.mjs';
import { cpuMicros } from './procs.mjs';

export const TAIL_ROUNDS = 3;

/**
 * `servers`: [{ name, server }], already started. Returns per server the rounds (p99, p99.9 in
 * ms, CPU µs per query, qps, lost) and their medians.
 */
export async function measureTailRounds(servers, hitFile, dir, { rounds = TAIL_ROUNDS, qps = FIXED_QPS, log = () => {} } = {}) {
  const per = new Map(servers.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < servers.length; i++) {
      const { name, server } = servers[(i + r) % servers.length];
      // The agent caps TTLs at 30 s (node-cache's template): warm right before each phase.
      await warm(server, hitFile);
      const cpu0 = cpuMicros(server.pid);
      const fixed = await fixedRate(server, hitFile, join(dir, `tail-${server.port}.txt`), qps);
      const cpu1 = cpuMicros(server.pid);
      per.get(name).push({ p99: fixed.p99 * 1000, p999: fixed.p999 * 1000, cpuUs: (cpu1 - cpu0) / fixed.completed, qps: fixed.qps, lost: fixed.lost });
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
  return rows.join('\n');
}
