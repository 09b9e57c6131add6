// Max qps with the batching client in alternating rounds: each round starts every server afresh
// in turn (the order rotated from round to round) and runs one batching-client phase on it. One
// phase per server compares two 10 s draws of this box's noise: seven back-to-back agent/unbound
// pairs read 1.12× to 1.38× (bench/hot-path.md), and a run's single pair landed anywhere in that
// range. The target reads the median of the rounds' ratios, each taken between phases seconds apart.
import { measureBatchMax, median } from './measure.mjs';
import { stop } from './procs.mjs';

export const MAX_ROUNDS = 5;

/**
 * `candidates`: [[name, start]], `start()` resolving to a started server; the first is the
 * baseline the ratios are taken against. Returns per server its rounds (qps, lost, CPU shares),
 * the median qps and, but for the baseline, the rounds' ratios to it and their median.
 */
export async function measureMaxRounds(candidates, hitFile, clientPath, { rounds = MAX_ROUNDS, log = () => {} } = {}) {
  const per = new Map(candidates.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < candidates.length; i++) {
      const [name, start] = candidates[(i + r) % candidates.length];
      const server = await start();
      try {
        const m = await measureBatchMax(server, hitFile, clientPath);
        per.get(name).push(m);
        log(`max qps round ${r + 1}/${rounds}, ${name}: ${Math.round(m.qps)} qps (server ${Math.round(m.serverCpuShare * 100)} % busy)`);
      } finally {
        await stop(server.child);
      }
    }
  }
  const base = per.get(candidates[0][0]);
  return [...per].map(([name, rs], i) => {
    const ratios = i === 0 ? undefined : rs.map((m, r) => m.qps / base[r].qps);
    return { name, rounds: rs, qps: median(rs.map((m) => m.qps)), ratios, ratio: ratios && median(ratios) };
  });
}

/** The rounds as a table: median qps, median ratio to the baseline, then each round. */
export function maxRoundsTable(maxRounds) {
  if (!maxRounds?.length) return '';
  const base = maxRounds[0].name;
  const rows = [
    `| server | max qps (median) | × ${base} (median of the rounds' ratios) | qps by round | × ${base} by round | server CPU busy by round |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const t of maxRounds) {
    rows.push(
      `| ${t.name} | ${Math.round(t.qps)} | ${t.ratio === undefined ? '1' : `${t.ratio.toFixed(2)}×`} | ${t.rounds.map((m) => Math.round(m.qps)).join(' / ')} | ${t.ratios ? t.ratios.map((x) => x.toFixed(2)).join(' / ') : 'n/a'} | ${t.rounds.map((m) => `${Math.round(m.serverCpuShare * 100)} %`).join(' / ')} |`,
    );
  }
  return rows.join('\n');
}
