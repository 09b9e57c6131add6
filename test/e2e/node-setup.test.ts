// NodeSetup against a real kernel: a namespace per test plays the node, a second one a pod.
// Rules must match node-cache's exactly, keep pod DNS out of conntrack, never duplicate, come
// back after being deleted by hand, and teardown must leave nothing.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import t from 'tap';
import { NodeSetup, type NodeSetupOptions, type SetupErrorType } from '../../src/node/setup.js';
import { silentLogger } from '../../src/observe/log.js';
import { until } from '../support/net.js';
import { joinNetns, makeNetns, netnsMissing, nodeCacheLines, nsh, udpEcho, udpPing } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const missing = netnsMissing();
if (missing) t.plan(0, `skipping node setup e2e: ${missing}`);

const LOCAL = '169.254.20.10';
const CLUSTER = '10.96.0.10';

function setup(ns: string, errors: SetupErrorType[], over: Partial<NodeSetupOptions> = {}): NodeSetup {
  return new NodeSetup({
    localIps: [LOCAL, CLUSTER], interfaceName: 'nodelocaldns', setupInterface: true, setupIptables: true,
    dnsPort: 53, healthPort: 8080, syncIntervalMs: 200, iptablesBackend: 'auto', log: silentLogger,
    onSetupError: (e) => errors.push(e), netns: ns, ...over,
  });
}

function addrs(ns: string, dev: string): string[] {
  const r = nsh(ns, ['ip', '-j', 'addr', 'show', 'dev', dev], false);
  if (r.code !== 0) return [];
  return (JSON.parse(r.out) as { addr_info: { local: string; prefixlen: number }[] }[])[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
}

function conntrackTo(ns: string, ip: string): number {
  const r = nsh(ns, ['conntrack', '-L', '-p', 'udp', '--orig-dst', ip], false);
  return r.out.split('\n').filter((l) => l.includes(`dst=${ip}`)).length;
}

t.test('install: interface, node-cache rules, pod traffic skips conntrack', async (t) => {
  const node = makeNetns(t, 'node');
  const pod = makeNetns(t, 'pod');
  const link = joinNetns(node, pod, '10.200.0.1/24', '10.200.0.2/24');
  // A stateful rule like kube-proxy's makes conntrack track this namespace's traffic.
  nsh(node, ['iptables-nft', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  const errors: SetupErrorType[] = [];
  const s = setup(node, errors);
  t.teardown(() => s.teardown());

  await s.ensureInterface();
  t.same(s.describe(), { interfaceMode: 'ifb', backend: 'pending' }, 'no dummy here: ifb fallback');
  t.same(addrs(node, 'nodelocaldns').filter((a) => !a.startsWith('fe80')).sort(), [`${CLUSTER}/32`, `${LOCAL}/32`]);
  t.same(nodeCacheLines(node, 'iptables-save'), [], 'no rules before installRules');

  await s.installRules();
  await s.installRules();
  await s.installRules();
  t.same(s.describe(), { interfaceMode: 'ifb', backend: 'nft' });
  const lines = nodeCacheLines(node, 'iptables-nft-save');
  t.same([...lines].sort(), [...expectedRuleLines(LOCAL), ...expectedRuleLines(CLUSTER)].sort(), 'exactly node-cache rules, once each');
  t.same(errors, []);

  await udpEcho(t, node, LOCAL, 53);
  await udpEcho(t, node, link.a, 53);
  t.ok(udpPing(pod, link.a, 53), 'control: node veth address answers');
  t.ok(conntrackTo(node, link.a) > 0, 'control: uncovered address is tracked');
  t.ok(udpPing(pod, LOCAL, 53), 'pod reaches the local IP on the fallback interface');
  t.equal(conntrackTo(node, LOCAL), 0, 'no conntrack entry for the local IP');
});

t.test('sync repairs rules, duplicates, addresses and the link', async (t) => {
  const node = makeNetns(t, 'node');
  const errors: SetupErrorType[] = [];
  const s = setup(node, errors);
  t.teardown(() => s.teardown());
  await s.ensureInterface();
  await s.installRules();
  s.startSync();
  const want = [...expectedRuleLines(LOCAL), ...expectedRuleLines(CLUSTER)].sort();
  const same = () => JSON.stringify(nodeCacheLines(node, 'iptables-nft-save').sort()) === JSON.stringify(want);

  nsh(node, ['iptables-nft', '-t', 'raw', '-D', 'PREROUTING', '-p', 'udp', '-d', LOCAL, '--dport', '53', '-m', 'socket', '-j', 'NOTRACK',
    '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack']);
  t.notOk(same(), 'rule deleted by hand');
  t.ok(await until(same, 10_000), 'rule is back');
  t.ok(await until(() => s.repairs.rules >= 1, 5_000), 'the repair is counted');

  const dup = ['-t', 'filter', '-I', 'INPUT', '-p', 'tcp', '-d', CLUSTER, '--dport', '53', '-j', 'ACCEPT',
    '-m', 'comment', '--comment', 'NodeLocal DNS Cache: allow DNS traffic'];
  nsh(node, ['iptables-nft', ...dup]);
  nsh(node, ['iptables-nft', ...dup]);
  t.notOk(same(), 'duplicates added by hand');
  t.ok(await until(same, 10_000), 'duplicates removed');
  t.ok(await until(() => s.repairs.duplicates >= 2, 5_000), 'removed duplicates are counted');

  nsh(node, ['ip', 'addr', 'del', `${CLUSTER}/32`, 'dev', 'nodelocaldns']);
  t.ok(await until(() => addrs(node, 'nodelocaldns').includes(`${CLUSTER}/32`), 10_000), 'address is back');
  t.ok(await until(() => s.repairs.addresses >= 1, 5_000), 'the repair is counted');

  nsh(node, ['ip', 'link', 'del', 'nodelocaldns']);
  t.ok(await until(() => addrs(node, 'nodelocaldns').length >= 2, 10_000), 'link recreated with its addresses');
  t.same(errors, []);
});

t.test('teardown removes every rule (duplicates too) and the interface, with DNS unreachable', async (t) => {
  const node = makeNetns(t, 'node');
  // `ip netns exec` mounts this over /etc/resolv.conf: any name lookup would hang for 15 s.
  mkdirSync(`/etc/netns/${node}`, { recursive: true });
  writeFileSync(`/etc/netns/${node}/resolv.conf`, 'nameserver 10.255.255.1\noptions timeout:5 attempts:3\n');
  t.teardown(() => rmSync(`/etc/netns/${node}`, { recursive: true, force: true }));
  const errors: SetupErrorType[] = [];
  const s = setup(node, errors);
  await s.ensureInterface();
  await s.installRules();
  s.startSync();
  for (let i = 0; i < 3; i++)
    nsh(node, ['iptables-nft', '-t', 'raw', '-A', 'OUTPUT', '-p', 'tcp', '-s', LOCAL, '--sport', '8080', '-j', 'NOTRACK',
      '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack']);
  nsh(node, ['iptables-nft', '-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9', '-j', 'NOTRACK']);
  const started = Date.now();
  await s.teardown();
  t.ok(Date.now() - started < 10_000, `teardown took ${Date.now() - started} ms: no lookup waited on DNS`);
  t.same(nodeCacheLines(node, 'iptables-nft-save'), [], 'no rule left');
  t.match(nsh(node, ['iptables-nft-save']).out, /--dport 9 -j NOTRACK/, 'a foreign rule is untouched');
  t.not(nsh(node, ['ip', 'link', 'show', 'nodelocaldns'], false).code, 0, 'interface removed');
  const before = nodeCacheLines(node, 'iptables-nft-save').length;
  await new Promise((r) => setTimeout(r, 600));
  t.equal(nodeCacheLines(node, 'iptables-nft-save').length, before, 'sync stopped: nothing re-added');
  t.same(errors, []);
});

t.test('disabled setup touches nothing', async (t) => {
  const node = makeNetns(t, 'node');
  const errors: SetupErrorType[] = [];
  const s = setup(node, errors, { setupInterface: false, setupIptables: false });
  await s.ensureInterface();
  await s.installRules();
  await s.teardown();
  t.same(s.describe(), { interfaceMode: 'disabled', backend: 'disabled' });
  t.same(nodeCacheLines(node, 'iptables-nft-save'), []);
  t.not(nsh(node, ['ip', 'link', 'show', 'nodelocaldns'], false).code, 0);
  t.same(errors, []);
});
