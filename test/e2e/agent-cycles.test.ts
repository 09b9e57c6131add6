// Issue 5, item 4: 100 start/stop cycles of the real agent in transparent mode (a DaemonSet
// restarting again and again). Each start installs node-cache's rules exactly once; each SIGTERM
// (every other one while the rules are still being installed) leaves no rule, no duplicate, no
// address and no link behind, and the agent exits 0.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeMiniCluster } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { netnsMissing, nodeCacheLines, nsh, waitFor } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping agent start/stop cycles: ${skip}`);
const CYCLES = 100;
// Each cycle starts Node, detects the backend, installs 24 rules and tears them down: ~2 s here.
t.setTimeout(1_200_000);

t.test(`${CYCLES} agent start/stop cycles leave nothing behind`, { timeout: 1_200_000 }, async (t) => {
  const c = await makeMiniCluster(t, false);
  const want = JSON.stringify([...expectedRuleLines(c.localIp), ...expectedRuleLines(c.clusterIp)].sort());
  const lines = () => nodeCacheLines(c.node, 'iptables-save');
  const problems: string[] = [];
  const started = Date.now();
  for (let i = 0; i < CYCLES && problems.length < 5; i++) {
    const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli,
      '-localip', `${c.localIp},${c.clusterIp}`, '-upstream', `${c.knot.address}:53`,
      '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353',
      '-syncinterval', '200ms'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    const killer = setTimeout(() => agent.kill('SIGKILL'), 60_000);
    if (i % 2 === 1) {
      // Odd cycles: SIGTERM while the rules are still going in (a rollout that does not wait).
      if (!(await waitFor(() => lines().length > 0, 30_000))) problems.push(`cycle ${i}: no rule appeared; ${stderr.slice(-300)}`);
    } else if (!(await waitFor(() => JSON.stringify(lines().sort()) === want, 30_000))) {
      problems.push(`cycle ${i}: rules never matched exactly: ${lines().length} lines; ${stderr.slice(-300)}`);
    }
    agent.kill('SIGTERM');
    const code = await exited;
    clearTimeout(killer);
    if (code !== 0) problems.push(`cycle ${i}: exit ${code}; ${stderr.slice(-300)}`);
    const left = lines().length;
    if (left > 0) problems.push(`cycle ${i}: ${left} rules left`);
    if (nsh(c.node, ['ip', 'link', 'show', 'nodelocaldns'], false).code === 0) problems.push(`cycle ${i}: link left`);
  }
  t.comment(`${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.same(problems, [], 'every cycle: rules exactly once while running, nothing after exit 0');
  t.same(lines(), [], 'iptables-save: no leftover');
  t.same(nodeCacheLines(c.node, 'iptables-legacy-save'), [], 'nothing in legacy either');
  t.notMatch(nsh(c.node, ['ip', '-o', 'addr']).out, /169\.254\.20\.10|10\.96\.0\.10\//, 'no address left');
});
