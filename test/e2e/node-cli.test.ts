// The agent binary's node-setup order and switches, in a namespace: serving fails → no rules and
// no interface; -skipteardown → rules and interface stay after a clean exit; no -localip (the
// embedded default) → the node is not touched at all.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeMiniCluster, type MiniCluster } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { until } from '../support/net.js';
import { netnsMissing, nodeCacheLines, nsh, udpEcho } from '../support/netns.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping node cli e2e: ${skip}`);
t.setTimeout(300_000);

interface Run { code: Promise<number | null>; stderr: () => string; kill: (sig: NodeJS.Signals) => void }

function runAgent(t: { teardown(fn: () => unknown): void }, c: MiniCluster, extra: string[]): Run {
  const child = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli, '-upstream', `${c.knot.address}:53`,
    '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { code, stderr: () => stderr, kill: (sig) => child.kill(sig) };
}

const linkExists = (c: MiniCluster) => nsh(c.node, ['ip', 'link', 'show', 'nodelocaldns'], false).code === 0;

t.test('serving fails: exit 1, no rules, interface removed', async (t) => {
  const c = await makeMiniCluster(t, false);
  await udpEcho(t, c.node, '0.0.0.0', 53); // port 53 taken: the agent cannot bind its addresses
  const a = runAgent(t, c, ['-localip', `${c.localIp},${c.clusterIp}`]);
  t.equal(await a.code, 1, 'exit status 1');
  t.match(a.stderr(), /could not start serving/);
  t.match(a.stderr(), /"mode":"ifb"/, 'the interface had been set up first');
  t.same(nodeCacheLines(c.node, 'iptables-save'), [], 'no rule was installed');
  t.notOk(linkExists(c), 'interface removed again');
});

t.test('-skipteardown: clean exit leaves rules and interface for the peer', async (t) => {
  const c = await makeMiniCluster(t, false);
  const a = runAgent(t, c, ['-localip', `${c.localIp},${c.clusterIp}`, '-skipteardown']);
  t.ok(await until(() => nodeCacheLines(c.node, 'iptables-save').length === 24, 30_000), `rules installed: ${a.stderr().slice(-300)}`);
  a.kill('SIGTERM');
  t.equal(await a.code, 0);
  t.equal(nodeCacheLines(c.node, 'iptables-save').length, 24, 'rules kept');
  t.ok(linkExists(c), 'interface kept');
  // The next agent (the HA peer or the restarted pod) adopts them without duplicating anything.
  const b = runAgent(t, c, ['-localip', `${c.localIp},${c.clusterIp}`]);
  t.ok(await until(() => /iptables rules installed/.test(b.stderr()), 30_000));
  t.match(b.stderr(), /"added":0/, 'nothing re-added');
  t.match(b.stderr(), /"reason":"link exists"/, 'existing link adopted');
  t.equal(nodeCacheLines(c.node, 'iptables-save').length, 24, 'no duplicates');
  b.kill('SIGTERM');
  t.equal(await b.code, 0);
  t.same(nodeCacheLines(c.node, 'iptables-save'), [], 'the second one tears down');
  t.notOk(linkExists(c));
});

t.test('embedded default (no -localip) does no node setup', async (t) => {
  const c = await makeMiniCluster(t, false);
  const a = runAgent(t, c, ['-dns.port', '5300']);
  t.ok(await until(() => /"msg":"serving"/.test(a.stderr()), 30_000), 'serving');
  await new Promise((r) => setTimeout(r, 500));
  t.same(nodeCacheLines(c.node, 'iptables-save'), []);
  t.notOk(linkExists(c));
  a.kill('SIGTERM');
  t.equal(await a.code, 0);
});
