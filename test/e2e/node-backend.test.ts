// Backend choice (where kube-proxy's KUBE-* chains are), failure classification into the
// errortype labels, and the lo fallback for kernels with neither dummy nor ifb.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createRunner } from '../../src/node/exec.js';
import { NetIf } from '../../src/node/netif.js';
import { NodeSetup, type NodeSetupOptions, type SetupErrorType } from '../../src/node/setup.js';
import { silentLogger } from '../../src/observe/log.js';
import { joinNetns, makeNetns, netnsMissing, nodeCacheLines, nsh, udpEcho, udpPing } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const missing = netnsMissing();
if (missing) t.plan(0, `skipping node backend e2e: ${missing}`);

// A private xtables lock file: the lock test holds it, and legacy calls here never contend with
// other test files on /run/xtables.lock. Children inherit the environment.
const lockDir = mkdtempSync(join(tmpdir(), 'xtlock-'));
process.env.XTABLES_LOCKFILE = join(lockDir, 'xtables.lock');
writeFileSync(process.env.XTABLES_LOCKFILE, '');
t.teardown(() => rmSync(lockDir, { recursive: true, force: true }));

function setup(ns: string, errors: SetupErrorType[], over: Partial<NodeSetupOptions> = {}): NodeSetup {
  return new NodeSetup({
    localIps: ['169.254.20.10'], interfaceName: 'nodelocaldns', setupInterface: false, setupIptables: true,
    dnsPort: 53, healthPort: 8080, syncIntervalMs: 200, iptablesBackend: 'auto', log: silentLogger,
    onSetupError: (e) => errors.push(e), netns: ns, ...over,
  });
}

t.test('auto picks legacy when kube-proxy chains are there', async (t) => {
  const ns = makeNetns(t, 'bk');
  nsh(ns, ['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);
  const errors: SetupErrorType[] = [];
  const s = setup(ns, errors);
  await s.installRules();
  t.equal(s.describe().backend, 'legacy');
  t.same(nodeCacheLines(ns, 'iptables-legacy-save').sort(), expectedRuleLines('169.254.20.10').sort());
  t.same(nodeCacheLines(ns, 'iptables-nft-save'), [], 'nothing written through nft');
  await s.teardown();
  t.same(nodeCacheLines(ns, 'iptables-legacy-save'), []);
  t.same(errors, []);
});

t.test('auto picks nft when kube-proxy uses it, and when nobody has chains', async (t) => {
  const ns = makeNetns(t, 'bk');
  const empty = setup(ns, []);
  await empty.installRules();
  t.equal(empty.describe().backend, 'nft', 'default without KUBE-* chains');
  await empty.teardown();
  nsh(ns, ['iptables-nft', '-t', 'nat', '-N', 'KUBE-SERVICES']);
  nsh(ns, ['iptables-nft', '-t', 'nat', '-N', 'KUBE-POSTROUTING']);
  nsh(ns, ['iptables-legacy', '-t', 'nat', '-N', 'KUBE-STALE']);
  const s = setup(ns, []);
  await s.installRules();
  t.equal(s.describe().backend, 'nft', 'more KUBE-* lines in nft');
  t.same(nodeCacheLines(ns, 'iptables-legacy-save'), []);
  await s.teardown();
});

t.test('a kube-proxy ruleset of several MB is still read whole', async (t) => {
  const ns = makeNetns(t, 'bk');
  // 30,000 service rules in legacy (~3 MB of iptables-save), as on a big iptables-mode cluster.
  const lines = ['*nat', ':KUBE-SERVICES - [0:0]'];
  for (let i = 0; i < 30_000; i++)
    lines.push(`-A KUBE-SERVICES -d 10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}/32 -p tcp -m comment --comment "ns-${i}/svc-${i}:http cluster IP" -m tcp --dport 80 -j RETURN`);
  lines.push('COMMIT', '');
  const file = join(lockDir, `rules-${ns}`);
  writeFileSync(file, lines.join('\n'));
  nsh(ns, ['iptables-legacy-restore', '--noflush', file], true, 60_000);
  t.ok(nsh(ns, ['iptables-legacy-save']).out.length > 1024 * 1024, 'save output over 1 MB');
  const s = setup(ns, []);
  await s.installRules();
  t.equal(s.describe().backend, 'legacy');
  t.equal(nodeCacheLines(ns, 'iptables-legacy-save').length, 12);
  await s.teardown();
});

t.test('a forced backend wins over detection', async (t) => {
  const ns = makeNetns(t, 'bk');
  nsh(ns, ['iptables-nft', '-t', 'nat', '-N', 'KUBE-SERVICES']);
  const s = setup(ns, [], { iptablesBackend: 'legacy' });
  await s.installRules();
  t.equal(s.describe().backend, 'legacy');
  t.equal(nodeCacheLines(ns, 'iptables-legacy-save').length, 12);
  await s.teardown();
  t.same(nodeCacheLines(ns, 'iptables-legacy-save'), []);
});

t.test('a held xtables lock is counted as iptables_lock and ends the pass', async (t) => {
  const ns = makeNetns(t, 'lk');
  // flock keeps the lock in its child (sleep) too: it runs in its own process group, which is
  // killed as a whole by the group's pid.
  const holder = spawn('flock', [process.env.XTABLES_LOCKFILE!, 'sleep', '60'], { stdio: 'ignore', detached: true });
  const release = () => { try { process.kill(-holder.pid!, 'SIGKILL'); } catch { /* already gone */ } };
  t.teardown(release);
  await new Promise((r) => setTimeout(r, 300));
  const errors: SetupErrorType[] = [];
  const s = setup(ns, errors, { iptablesBackend: 'legacy' });
  await s.installRules();
  t.same(errors, ['iptables_lock'], 'one lock error: the pass stops instead of waiting 5 s per rule');
  release();
  await new Promise((r) => holder.once('exit', r));
  await s.installRules();
  t.same(errors, ['iptables_lock'], 'no further error once the lock is free');
  t.equal(nodeCacheLines(ns, 'iptables-legacy-save').length, 12);
  await s.teardown();
});

t.test('a rule iptables rejects is counted as iptables; the other rules still go in', async (t) => {
  const ns = makeNetns(t, 'er');
  const errors: SetupErrorType[] = [];
  const s = setup(ns, errors, { healthPort: 70000 });
  await s.installRules();
  t.same(errors, ['iptables', 'iptables'], 'the two health-port rules fail');
  t.equal(nodeCacheLines(ns, 'iptables-nft-save').length, 10);
  await s.teardown();
  t.same(nodeCacheLines(ns, 'iptables-nft-save'), []);
});

t.test('a link the kernel refuses to create is counted as interface_add', async (t) => {
  const ns = makeNetns(t, 'er');
  const errors: SetupErrorType[] = [];
  const s = setup(ns, errors, { setupIptables: false, setupInterface: true, interfaceName: 'name-longer-than-15' });
  await s.ensureInterface();
  t.same(errors, ['interface_add'], 'name longer than IFNAMSIZ');
  t.equal(s.describe().interfaceMode, 'pending');
});

t.test('without dummy or ifb: addresses on lo, reachable, removed exactly', async (t) => {
  const node = makeNetns(t, 'lo');
  const pod = makeNetns(t, 'lop');
  joinNetns(node, pod, '10.201.0.1/24', '10.201.0.2/24');
  joinNetns(node, pod, 'fd00:201::1/64', 'fd00:201::2/64');
  nsh(node, ['ip', 'addr', 'add', '192.0.2.7/32', 'dev', 'lo']);
  const netif = new NetIf(createRunner(node), 'nodelocaldns', ['169.254.20.10', 'fd00::10', '127.0.0.1'], silentLogger, ['dummy']);
  const r = await netif.ensure();
  t.equal(netif.mode, 'lo');
  t.same(r.added.sort(), ['169.254.20.10', 'fd00::10'], 'loopback addresses are never added');
  t.match(nsh(node, ['ip', '-o', 'addr', 'show', 'dev', 'lo']).out, /169\.254\.20\.10\/32 scope global lo:nodelocaldns/);
  t.same((await netif.ensure()).added, [], 'second ensure adds nothing');

  await udpEcho(t, node, '169.254.20.10', 53);
  await udpEcho(t, node, 'fd00::10', 53);
  t.ok(udpPing(pod, '169.254.20.10', 53), 'IPv4 on lo reachable from another namespace');
  t.ok(udpPing(pod, 'fd00::10', 53), 'IPv6 on lo reachable from another namespace');

  await netif.teardown();
  const left = nsh(node, ['ip', '-o', 'addr', 'show', 'dev', 'lo']).out;
  t.notMatch(left, /169\.254\.20\.10/);
  t.notMatch(left, /fd00::10/);
  t.match(left, /127\.0\.0\.1\/8/, 'loopback address kept');
  t.match(left, /192\.0\.2\.7\/32/, 'a foreign address on lo kept');
  t.match(left, /::1\/128/);
});
