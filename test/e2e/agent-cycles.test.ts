// Start/stop cycles of the real agent binary in transparent mode (a DaemonSet restarting again
// and again), for each way it is stopped: SIGTERM, SIGINT and SIGQUIT, each twice after the rules
// are all in and twice while they are still going in (a rollout that does not wait). Each start
// installs node-cache's rules exactly once; each stop exits 0 and leaves no rule, duplicate,
// address, link or process behind. Leftovers of one cycle would be adopted, then removed, by the
// next, so the rules and the link are checked every cycle; addresses and processes at the end.
// Leaks inside one long-lived process (sockets, fds, timers): node-cycles.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeMiniCluster } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { until } from '../support/net.js';
import { netnsMissing, nodeCacheLines, nsh, sh } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping agent start/stop cycles: ${skip}`);
const STOPS = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;
// Each cycle starts Node, detects the backend, installs 24 rules and tears them down: ~3 s here.
// A hundred cycles took 5-18 minutes of a 2-core machine; these twelve cover the same paths.
const CYCLES = STOPS.length * 4;
t.setTimeout(300_000);

t.test(`${CYCLES} agent start/stop cycles leave nothing behind`, async (t) => {
  const c = await makeMiniCluster(t, false);
  const want = JSON.stringify([...expectedRuleLines(c.localIp), ...expectedRuleLines(c.clusterIp)].sort());
  const lines = () => nodeCacheLines(c.node, 'iptables-save');
  const problems: string[] = [];
  const started = Date.now();
  for (let i = 0; i < CYCLES && problems.length < 5; i++) {
    const signal = STOPS[i % STOPS.length]!;
    const midInstall = i % (STOPS.length * 2) >= STOPS.length;
    const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli,
      '-localip', `${c.localIp},${c.clusterIp}`, '-upstream', `${c.knot.address}:53`,
      '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353',
      '-syncinterval', '200ms'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    const killer = setTimeout(() => agent.kill('SIGKILL'), 60_000);
    if (midInstall) {
      if (!(await until(() => lines().length > 0, 30_000))) problems.push(`cycle ${i}: no rule appeared; ${stderr.slice(-300)}`);
    } else if (!(await until(() => JSON.stringify(lines().sort()) === want, 30_000))) {
      problems.push(`cycle ${i}: rules never matched exactly: ${lines().length} lines; ${stderr.slice(-300)}`);
    }
    agent.kill(signal);
    const code = await exited;
    clearTimeout(killer);
    if (code !== 0) problems.push(`cycle ${i} (${signal}${midInstall ? ' mid-install' : ''}): exit ${code}; ${stderr.slice(-300)}`);
    const left = lines().length;
    if (left > 0) problems.push(`cycle ${i}: ${left} rules left`);
    if (nsh(c.node, ['ip', 'link', 'show', 'nodelocaldns'], false).code === 0) problems.push(`cycle ${i}: link left`);
  }
  t.comment(`${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.same(problems, [], 'every cycle: rules exactly once while running, nothing after exit 0');
  t.same(lines(), [], 'iptables-save: no leftover');
  t.same(nodeCacheLines(c.node, 'iptables-legacy-save'), [], 'nothing in legacy either');
  t.notMatch(nsh(c.node, ['ip', '-o', 'addr']).out, /169\.254\.20\.10|10\.96\.0\.10\//, 'no address left');
  t.equal(sh(['ip', 'netns', 'pids', c.node]).out.trim(), '', 'no process left in the node namespace (agent, ip, iptables)');
});
