// IPv6 and dual-stack local IPs: ip6tables rules with node-cache's shape, /128 addresses
// reachable from another namespace without conntrack, teardown leaves nothing in either family.
import t from 'tap';
import { NodeSetup, type SetupErrorType } from '../../src/node/setup.js';
import { silentLogger } from '../../src/observe/log.js';
import { until } from '../support/net.js';
import { joinNetns, makeNetns, netnsMissing, nodeCacheLines, nsh, udpEcho, udpPing } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const missing = netnsMissing();
if (missing) t.plan(0, `skipping node setup IPv6 e2e: ${missing}`);

function setup(ns: string, localIps: string[], errors: SetupErrorType[]): NodeSetup {
  return new NodeSetup({
    localIps, interfaceName: 'nodelocaldns', setupInterface: true, setupIptables: true,
    dnsPort: 53, healthPort: 8080, syncIntervalMs: 200, iptablesBackend: 'auto', log: silentLogger,
    onSetupError: (e) => errors.push(e), netns: ns,
  });
}

function conntrackTo(ns: string, ip: string): number {
  const r = nsh(ns, ['conntrack', '-f', 'ipv6', '-L', '-p', 'udp', '--orig-dst', ip], false);
  return r.out.split('\n').filter((l) => l.includes(`dst=${ip}`)).length;
}

t.test('IPv6: ip6tables rules, /128 addresses, no conntrack, repair, teardown', async (t) => {
  const node = makeNetns(t, 'node6');
  const pod = makeNetns(t, 'pod6');
  const link = joinNetns(node, pod, 'fd00:200::1/64', 'fd00:200::2/64');
  nsh(node, ['ip6tables-nft', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  const errors: SetupErrorType[] = [];
  // Written non-canonically on purpose: listings print fd00::a, and they must still match.
  const s = setup(node, ['fd00:0::a', 'fd00::53:10'], errors);
  t.teardown(() => s.teardown());
  await s.ensureInterface();
  await s.installRules();
  await s.installRules();

  const want = [...expectedRuleLines('fd00::a'), ...expectedRuleLines('fd00::53:10')].sort();
  const lines = () => nodeCacheLines(node, 'ip6tables-nft-save').sort();
  t.same(lines(), want, 'node-cache rules in ip6tables, once each');
  t.same(nodeCacheLines(node, 'iptables-nft-save'), [], 'nothing in IPv4 tables');
  const a = nsh(node, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'nodelocaldns']).out;
  t.match(a, /fd00::a\/128/);
  t.match(a, /fd00::53:10\/128/);

  await udpEcho(t, node, 'fd00::a', 53);
  await udpEcho(t, node, link.a, 53);
  t.ok(udpPing(pod, link.a, 53), 'control: veth address answers');
  t.ok(conntrackTo(node, link.a) > 0, 'control: uncovered address is tracked');
  t.ok(udpPing(pod, 'fd00::a', 53), 'pod reaches the IPv6 local IP');
  t.equal(conntrackTo(node, 'fd00::a'), 0, 'no conntrack entry for it');

  s.startSync();
  nsh(node, ['ip6tables-nft', '-t', 'filter', '-D', 'OUTPUT', '-p', 'udp', '-s', 'fd00::a', '--sport', '53', '-j', 'ACCEPT',
    '-m', 'comment', '--comment', 'NodeLocal DNS Cache: allow DNS traffic']);
  t.not(JSON.stringify(lines()), JSON.stringify(want));
  t.ok(await until(() => JSON.stringify(lines()) === JSON.stringify(want), 10_000), 'IPv6 rule is back');
  nsh(node, ['ip', 'addr', 'del', 'fd00::a/128', 'dev', 'nodelocaldns']);
  t.ok(await until(() => /fd00::a\/128/.test(nsh(node, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'nodelocaldns']).out), 10_000), 'IPv6 address is back');

  await s.teardown();
  t.same(nodeCacheLines(node, 'ip6tables-nft-save'), []);
  t.not(nsh(node, ['ip', 'link', 'show', 'nodelocaldns'], false).code, 0);
  t.same(errors, []);
});

t.test('dual-stack list: each family in its own tool', async (t) => {
  const node = makeNetns(t, 'node46');
  const errors: SetupErrorType[] = [];
  const s = setup(node, ['169.254.20.10', 'fd00::10'], errors);
  t.teardown(() => s.teardown());
  await s.ensureInterface();
  await s.installRules();
  t.same(nodeCacheLines(node, 'iptables-nft-save').sort(), expectedRuleLines('169.254.20.10').sort());
  t.same(nodeCacheLines(node, 'ip6tables-nft-save').sort(), expectedRuleLines('fd00::10').sort());
  const a = nsh(node, ['ip', '-o', 'addr', 'show', 'dev', 'nodelocaldns']).out;
  t.match(a, /169\.254\.20\.10\/32/);
  t.match(a, /fd00::10\/128/);
  await s.teardown();
  t.same(nodeCacheLines(node, 'iptables-nft-save'), []);
  t.same(nodeCacheLines(node, 'ip6tables-nft-save'), []);
  t.same(errors, []);
});
