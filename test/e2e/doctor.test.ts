// `nodelocaldns doctor` on a node rig (node/pod/coredns namespaces, kube-proxy emulated, knot as
// kube-dns and as the node's resolver), the agent in transparent mode. First a healthy node: every
// check ok. Then one fault at a time, each undone before the next: the doctor names that fault on
// its own line (warn or fail) and every other check stays ok or skipped.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeMiniCluster } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { until } from '../support/net.js';
import { netnsMissing, nodeCacheLines, nsh } from '../support/netns.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping doctor e2e: ${skip}`);

interface Check { check: string; status: string; evidence: string; command: string; action: string }
interface Report { checks: Check[]; summary: Record<string, number>; elapsedMs: number }

t.test('doctor names each fault and nothing else', { timeout: 90_000 }, async (t) => {
  const c = await makeMiniCluster(t, false);
  // A node has a default route: without one, the node's own query to the ClusterIP is unroutable
  // before kube-proxy's OUTPUT DNAT could apply.
  nsh(c.node, ['ip', 'route', 'add', 'default', 'via', c.knot.address]);
  const dir = mkdtempSync(join(tmpdir(), 'doctor-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const search = 'search default.svc.cluster.local svc.cluster.local cluster.local';
  const goodPod = file('pod-good', `nameserver ${c.clusterIp}\n${search}\noptions ndots:5\n`);
  const agentFlags = ['-localip', `${c.localIp},${c.clusterIp}`, '-upstream', `${c.knot.address}:53`, '-health-port', '8080',
    '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353'];
  // -syncinterval 10m: the agent must not repair the rule the test deletes before the doctor looks.
  // -skipteardown: stopping it leaves rules and addresses behind, as a crash does.
  const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli, ...agentFlags, '-syncinterval', '10m', '-skipteardown'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => agent.once('exit', r));
  t.teardown(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); });
  t.ok(await until(() => nodeCacheLines(c.node, 'iptables-nft-save').length === 24, 20_000), `agent set the node up (log: ${stderr.slice(-300)})`);

  const doctorArgv = (extra: { pod?: string; nodeResolv?: string }): string[] => [process.execPath, cli, 'doctor', ...agentFlags,
    '--pod-resolv', extra.pod ?? goodPod, '--big-query', 'big.prod.svc.cluster.local A', ...(extra.nodeResolv ? ['--node-resolv', extra.nodeResolv] : [])];
  const doctor = (extra: { pod?: string; nodeResolv?: string } = {}): { code: number; report: Report; text: string } => {
    const r = nsh(c.node, [...doctorArgv(extra), '--json'], false, 20_000);
    let report: Report;
    try {
      report = JSON.parse(r.out) as Report;
    } catch {
      throw new Error(`doctor printed no JSON (exit ${r.code}): ${r.out} ${r.err}`);
    }
    return { code: r.code, report, text: r.out };
  };
  // The checks that are not ok or skipped, as { check: status }.
  const flagged = (r: Report): Record<string, string> =>
    Object.fromEntries(r.checks.filter((x) => x.status === 'warn' || x.status === 'fail').map((x) => [x.check, x.status]));
  const line = (r: Report, name: string): Check => r.checks.find((x) => x.check === name)!;

  // What the doctor could change: rules of every table, addresses and links, conntrack settings.
  const nodeState = (): string => [
    nsh(c.node, ['iptables-nft-save']).out.replace(/^#.*\n/gm, ''),
    // Links and addresses, not their DAD state (IPv6 link-local addresses leave "tentative" on their own).
    JSON.stringify((JSON.parse(nsh(c.node, ['ip', '-j', 'addr']).out) as { ifname: string; flags: string[]; addr_info: { local: string; prefixlen: number }[] }[])
      .map((l) => [l.ifname, l.flags, l.addr_info.map((a) => `${a.local}/${a.prefixlen}`)])),
    nsh(c.node, ['cat', '/proc/sys/net/netfilter/nf_conntrack_max']).out,
  ].join('\n');

  await t.test('healthy node: every check ok, exit 0, nothing changed', async (t) => {
    const before = nodeState();
    const { code, report, text } = doctor();
    t.equal(nodeState(), before, 'rules, addresses and conntrack settings as they were');
    t.equal(code, 0, 'exit 0');
    t.same(report.checks.map((x) => [x.check, x.status]), ['agent', 'local-ips', 'node-rules', 'conntrack', 'kube-proxy', 'upstreams', 'big-answer', 'loop', 'pod-resolv'].map((n) => [n, 'ok']), text);
    t.match(line(report, 'node-rules').evidence, /24\/24 NOTRACK\/ACCEPT rules/, 'counted the rules of both IPs');
    t.match(line(report, 'big-answer').evidence, /udp NOERROR TC .*; tcp NOERROR 120 answers/, 'TC over UDP, 120 records over TCP');
    t.match(line(report, 'kube-proxy').evidence, /iptables mode/);
    t.match(line(report, 'conntrack').evidence, /count \d+ of max \d+/, 'read the namespace\'s conntrack numbers');
    const human = nsh(c.node, doctorArgv({}), false, 20_000);
    t.equal(human.code, 0);
    const lines = human.out.trim().split('\n');
    t.equal(lines.length, 10, 'one line per check and a summary');
    t.match(lines.at(-1), /^9 checks in [\d.]+ s: 9 ok, 0 warn, 0 fail, 0 skip$/);
    t.comment(human.out);
  });

  await t.test('a NOTRACK rule missing', async (t) => {
    const rule = ['-p', 'udp', '-d', c.localIp, '--dport', '53', '-m', 'socket', '-j', 'NOTRACK', '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack'];
    nsh(c.node, ['iptables-nft', '-t', 'raw', '-D', 'PREROUTING', ...rule]);
    const { code, report } = doctor();
    nsh(c.node, ['iptables-nft', '-t', 'raw', '-I', 'PREROUTING', ...rule]);
    t.equal(code, 1, 'exit 1');
    t.same(flagged(report), { 'node-rules': 'fail' });
    t.match(line(report, 'node-rules').evidence, new RegExp(`23/24 .*missing: -A PREROUTING -d ${c.localIp}/32 -p udp`), 'names the rule');
  });

  const inCoredns = (op: '-I' | '-D', protos: string[]): void => {
    for (const p of protos) nsh(c.coredns, ['iptables-nft', op, 'INPUT', '-p', p, '--dport', '53', '-j', 'DROP']);
  };

  await t.test('an upstream that drops UDP but answers TCP', async (t) => {
    inCoredns('-I', ['udp']);
    const { code, report } = doctor();
    inCoredns('-D', ['udp']);
    t.equal(code, 1);
    t.same(flagged(report), { upstreams: 'fail' });
    t.match(line(report, 'upstreams').evidence, new RegExp(`${c.knot.address}:53 udp timeout after \\d+ ms, tcp NOERROR`));
    t.match(line(report, 'upstreams').action, /UDP to the upstream is dropped while TCP answers/);
  });

  await t.test('an upstream that blackholes', async (t) => {
    inCoredns('-I', ['udp', 'tcp']);
    const { code, report } = doctor();
    inCoredns('-D', ['udp', 'tcp']);
    t.equal(code, 1);
    t.same(flagged(report), { upstreams: 'fail' });
    t.match(line(report, 'upstreams').evidence, /udp timeout after \d+ ms, tcp timeout after \d+ ms/);
    t.ok(report.elapsedMs < 15_000, `bounded by the per-check budgets (${report.elapsedMs} ms)`);
  });

  await t.test('a pod resolv.conf with ndots:1', async (t) => {
    const { code, report } = doctor({ pod: file('pod-ndots', `nameserver ${c.clusterIp}\n${search}\noptions ndots:1\n`) });
    t.equal(code, 0, 'a warning only: exit 0');
    t.same(flagged(report), { 'pod-resolv': 'warn' });
    t.match(line(report, 'pod-resolv').evidence, /ndots:1 \(kubelet writes ndots:5\)/);
  });

  await t.test('a pod resolv.conf whose nameserver is not the agent', async (t) => {
    const { code, report } = doctor({ pod: file('pod-bypass', `nameserver ${c.knot.address}\n${search}\noptions ndots:5\n`) });
    t.equal(code, 1);
    t.same(flagged(report), { 'pod-resolv': 'fail' });
    t.match(line(report, 'pod-resolv').evidence, /no nameserver is the agent/);
  });

  await t.test('a forwarding loop: the node resolv.conf names the agent', async (t) => {
    const { code, report } = doctor({ nodeResolv: file('node-loop', `nameserver ${c.localIp}\n`) });
    t.equal(code, 1);
    t.same(flagged(report), { loop: 'fail' });
    t.match(line(report, 'loop').evidence, new RegExp(`forwarding loop: ${c.localIp.replace(/\./g, '\\.')} is the agent itself`));
  });

  await t.test('agent stopped with its rules and addresses left behind', async (t) => {
    agent.kill('SIGTERM');
    await exited;
    t.equal(nodeCacheLines(c.node, 'iptables-nft-save').length, 24, 'rules left behind (-skipteardown)');
    const { code, report } = doctor();
    t.equal(code, 1);
    t.same(flagged(report), { agent: 'fail' });
    t.match(line(report, 'agent').evidence, /not running: nothing listens on .* but 24 NOTRACK\/ACCEPT rules and addresses 169\.254\.20\.10, 10\.96\.0\.10 are still in place/);
    t.same(['local-ips', 'node-rules', 'big-answer'].map((n) => line(report, n).status), ['skip', 'skip', 'skip'], 'checks of the agent itself skipped');
  });

  await t.test('agent stopped and torn down: the doctor says what pods get then', async (t) => {
    for (const entry of nodeCacheLines(c.node, 'iptables-nft-save')) {
      const [table, rule] = entry.split(': -A ') as [string, string];
      const args = (rule.match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"|"$/g, ''));
      nsh(c.node, ['iptables-nft', '-t', table, '-D', ...args]);
    }
    nsh(c.node, ['ip', 'link', 'del', 'nodelocaldns']);
    const { code, report } = doctor();
    t.equal(code, 1, 'pods with the link-local nameserver get nothing: a failure');
    t.same(flagged(report), { agent: 'fail' });
    const agentLine = line(report, 'agent');
    t.match(agentLine.evidence, /not running, nothing of it left/);
    t.match(agentLine.evidence, new RegExp(`${c.clusterIp.replace(/\./g, '\\.')} udp [A-Z]+ `), 'the ClusterIP is answered by kube-dns through kube-proxy');
    t.match(agentLine.action, new RegExp(`nameserver is ${c.localIp.replace(/\./g, '\\.')} get no DNS`), 'only the link-local IP is silent');
    t.match(line(report, 'node-rules').evidence, /0\/24 NOTRACK\/ACCEPT rules/);
  });
});

// IPv6: udp6/TCP probes, ip6tables-save, /proc/net/udp6 and kube-proxy's chains in ip6tables only.
t.test('IPv6 node: healthy, then a NOTRACK rule missing', { timeout: 60_000 }, async (t) => {
  const c = await makeMiniCluster(t, true);
  nsh(c.node, ['ip', '-6', 'route', 'add', 'default', 'via', c.knot.address]);
  const agentFlags = ['-localip', `${c.localIp},${c.clusterIp}`, '-upstream', `[${c.knot.address}]:53`, '-health-port', '8080',
    '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353', '-syncinterval', '10m'];
  const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli, ...agentFlags], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  agent.stderr!.on('data', (d) => (stderr += d));
  t.teardown(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); });
  t.ok(await until(() => nodeCacheLines(c.node, 'ip6tables-nft-save').length === 24, 20_000), `agent set the node up (log: ${stderr.slice(-300)})`);
  const dir = mkdtempSync(join(tmpdir(), 'doctor6-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pod = join(dir, 'pod');
  writeFileSync(pod, `nameserver ${c.clusterIp}\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
  const run = (): Report => JSON.parse(nsh(c.node, [process.execPath, cli, 'doctor', ...agentFlags, '--pod-resolv', pod,
    '--big-query', 'big.prod.svc.cluster.local A', '--json'], false, 20_000).out) as Report;

  const healthy = run();
  const byStatus = (r: Report) => Object.fromEntries(r.checks.map((x) => [x.check, x.status]));
  t.same(byStatus(healthy), { agent: 'ok', 'local-ips': 'ok', 'node-rules': 'ok', conntrack: 'ok', 'kube-proxy': 'ok', upstreams: 'ok', 'big-answer': 'ok', loop: 'ok', 'pod-resolv': 'ok' },
    JSON.stringify(healthy.checks.filter((x) => x.status !== 'ok')));
  t.match(healthy.checks.find((x) => x.check === 'agent')!.evidence, `${c.localIp}:53, ${c.clusterIp}:53`, 'sockets found in /proc/net/udp6');

  const rule = ['-p', 'tcp', '-d', c.clusterIp, '--dport', '53', '-m', 'socket', '-j', 'NOTRACK', '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack'];
  nsh(c.node, ['ip6tables-nft', '-t', 'raw', '-D', 'PREROUTING', ...rule]);
  const missing = run();
  t.equal(missing.checks.find((x) => x.check === 'node-rules')!.status, 'fail');
  t.match(missing.checks.find((x) => x.check === 'node-rules')!.evidence, `missing: -A PREROUTING -d ${c.clusterIp}/128 -p tcp`);
});
