// Max qps with the batching client in alternating rounds: each round starts every server afresh
// in turn (the order rotated from round to round) and runs one batching-client phase on it. One
// phase per server compares two 10 s draws of this box's noise: back-to-back agent/unbound pairs
// have read from 1.12× to 1.38× (bench/hot-path.md). The target reads the median of the rounds'
// ratios, each taken within one round, between phases seconds apart.
import { measureBatchMax, median } from './measure.mjs';
import { stop } from './procs.mjs';

export const MAX_ROUNDS = 5;

/**
 * `candidates`: [[name, start]], `start()` resolving to a started server; the first is the
 * baseline the ratios are taken against. Returns per server its rounds (qps, lost, CPU shares;
 * null for a phase that failed, logged), the median qps and, but for the baseline, the ratios
 * of the rounds where both phases ran, and their median.
 */
export async function measureMaxRounds(candidates, hitFile, clientPath, { rounds = MAX_ROUNDS, log = () => {} } = {}) {
  const per = new Map(candidates.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < candidates.length; i++) {
      const [name, start] = candidates[(i + r) % candidates.length];
      let server;
      let m = null;
      try {
        server = await start();
        m = await measureBatchMax(server, hitFile, clientPath);
        log(`max qps round ${r + 1}/${rounds}, ${name}: ${Math.round(m.qps)} qps (server ${Math.round(m.serverCpuShare * 100)} % busy)`);
      } catch (e) {
        // One lost warm-up query or a slow start costs this phase, not the rounds before it.
        log(`max qps round ${r + 1}/${rounds}, ${name} failed: ${e.message.split('\n')[0]}`);
      } finally {
        if (server) await stop(server.child);
      }
      per.get(name).push(m);
    }
  }
  const base = per.get(candidates[0][0]);
  return [...per].map(([name, rs], i) => {
    const ran = rs.filter((m) => m !== null);
    const ratios = i === 0 ? undefined : rs.map((m, r) => (m && base[r] ? m.qps / base[r].qps : null));
    const paired = ratios?.filter((x) => x !== null) ?? [];
    return { name, rounds: rs, qps: ran.length ? median(ran.map((m) => m.qps)) : undefined, ratios, ratio: paired.length ? median(paired) : undefined };
  });
}

/** The rounds as a table: median qps, median ratio to the baseline, then each round. */
export function maxRoundsTable(maxRounds) {
  if (!maxRounds?.length) return '';
  const base = maxRounds[0].name;
  const each = (xs, fmt) => xs.map((x) => (x === null ? 'failed' : fmt(x))).join(' / ');
  const rows = [
    `| server | max qps (median) | × ${base} (median of the rounds' ratios) | qps by round | × ${base} by round | server CPU busy by round |`,
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const t of maxRounds) {
    const ratio = t.ratios === undefined ? '1.00×' : t.ratio === undefined ? 'n/a' : `${t.ratio.toFixed(2)}×`;
    rows.push(
      `| ${t.name} | ${t.qps === undefined ? 'n/a' : Math.round(t.qps)} | ${ratio} | ${each(t.rounds, (m) => Math.round(m.qps))} | ${t.ratios ? each(t.ratios, (x) => x.toFixed(2)) : 'n/a'} | ${each(t.rounds, (m) => `${Math.round(m.serverCpuShare * 100)} %`)} |`,
    );
  }
  return rows.join('\n');
}
