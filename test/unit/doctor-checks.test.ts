// The doctor's judgement on numbers and files it is given: conntrack fill and counters (a network
// namespace cannot lower nf_conntrack_max, so "nearly full" is shown with a /proc tree written
// here), pod resolv.conf quirks, the listener table read back from real sockets, and a plan made
// from the agent's flags without writing anything.
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { checkConntrack, judgeConntrack, sumConntrackCli, sumConntrackStats } from '../../src/doctor/check-conntrack.js';
import { judgePodResolv, parsePodResolv } from '../../src/doctor/check-pod-resolv.js';
import { decodeProcAddress, listensOn, udpListeners } from '../../src/doctor/listeners.js';
import { makePlan } from '../../src/doctor/plan.js';
import { FlagError } from '../../src/errors.js';
import { createRunner, type Runner } from '../../src/node/exec.js';
import { makeNetns, netnsMissing } from '../support/netns.js';

const STATS = [
  'entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart',
  '0003d090  00000000 00000000 00000000 00000005 00000000 00000000 00000000 00000000 00000010 00000001 00000000 00000000  00000000 00000000 00000000 00000000',
  '0003d090  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000002 00000003 00000000 00000000  00000000 00000000 00000000 00000000',
].join('\n');

function fakeProc(t: Test, count: number, max: number, stats: string | null): string {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-proc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'sys/net/netfilter'), { recursive: true });
  mkdirSync(join(dir, 'net/stat'), { recursive: true });
  writeFileSync(join(dir, 'sys/net/netfilter/nf_conntrack_count'), `${count}\n`);
  writeFileSync(join(dir, 'sys/net/netfilter/nf_conntrack_max'), `${max}\n`);
  if (stats !== null) writeFileSync(join(dir, 'net/stat/nf_conntrack'), stats + '\n');
  return dir;
}

t.test('conntrack statistics are summed over CPUs, from hex', async (t) => {
  const s = sumConntrackStats(STATS);
  t.equal(s.insert_failed, 18);
  t.equal(s.drop, 4);
  t.equal(s.invalid, 5);
});

t.test('conntrack: fill and counters decide', async (t) => {
  const quiet = { insertFailed: 0, drop: 0, earlyDrop: 0 };
  t.equal(judgeConntrack({ count: 1000, max: 262144, ...quiet }).status, 'ok');
  t.equal(judgeConntrack({ count: 200_000, max: 262144, ...quiet }).status, 'warn', '76% filling');
  t.equal(judgeConntrack({ count: 240_000, max: 262144, ...quiet }).status, 'fail', '92% nearly full');
  t.equal(judgeConntrack({ count: 10, max: 262144, insertFailed: 3, drop: 0, earlyDrop: 0 }).status, 'warn', 'insert_failed counted');
  t.equal(judgeConntrack({ count: 10, max: 262144, insertFailed: null, drop: null, earlyDrop: null }).status, 'ok', 'statistics unreadable alone is no finding');
});

t.test('conntrack nearly full, read from /proc', async (t) => {
  const r = await checkConntrack(fakeProc(t, 250_000, 262144, STATS));
  t.equal(r.status, 'fail');
  t.match(r.evidence, 'count 250000 of max 262144 (95.4%); insert_failed 18, drop 4, early_drop 0');
  t.match(r.action, /NOTRACK/);
  const noConntrackTool: Runner = (_cmd, _args, ms) => createRunner()('/nonexistent/conntrack', ['-S'], ms);
  t.equal((await checkConntrack(fakeProc(t, 5, 262144, null), noConntrackTool)).evidence, 'count 5 of max 262144 (0.0%); statistics unreadable');
  t.match((await checkConntrack('/nonexistent')).evidence, /not loaded/);
});

t.test('conntrack -S when /proc/net/stat/nf_conntrack is not there (no CONFIG_NF_CONNTRACK_PROCFS)', async (t) => {
  const cli = 'cpu=0   \tfound=0 invalid=7 insert=0 insert_failed=3 drop=1 early_drop=0 error=0 search_restart=0\n' +
    'cpu=1   \tfound=0 invalid=0 insert=0 insert_failed=2 drop=0 early_drop=4 error=0 search_restart=0\n';
  t.same([sumConntrackCli(cli).insert_failed, sumConntrackCli(cli).drop, sumConntrackCli(cli).early_drop, sumConntrackCli(cli).cpu], [5, 1, 4, undefined]);
  const missing = netnsMissing();
  if (missing) return t.skip(`real conntrack -S: ${missing}`);
  const ns = makeNetns(t, 'ctstat');
  const r = await checkConntrack(fakeProc(t, 5, 262144, null), createRunner(ns));
  t.equal(r.evidence, 'count 5 of max 262144 (0.0%); insert_failed 0, drop 0, early_drop 0', 'a fresh namespace\'s counters, over netlink');
});

const AGENT = ['169.254.20.10', '10.96.0.10'];
const SEARCH = 'search default.svc.cluster.local svc.cluster.local cluster.local';
const judge = (text: string, domain = 'cluster.local') => judgePodResolv(parsePodResolv(text), AGENT, domain);

t.test('pod resolv.conf as kubelet writes it is ok', async (t) => {
  t.equal(judge(`nameserver 10.96.0.10\n${SEARCH}\noptions ndots:5\n`).status, 'ok');
  t.equal(judge('nameserver 169.254.20.10\nsearch default.svc.k8s.example svc.k8s.example k8s.example\noptions ndots:5', 'k8s.example').status, 'ok', 'the cluster domain is the flag\'s');
});

t.test('pod resolv.conf quirks', async (t) => {
  const cases: [string, string, RegExp][] = [
    [`nameserver 10.96.0.10\n${SEARCH}\noptions ndots:2`, 'warn', /ndots:2 \(kubelet writes ndots:5\)/],
    [`nameserver 10.96.0.10\n${SEARCH}`, 'warn', /ndots:1 \(kubelet writes/],
    [`nameserver 10.0.0.2\n${SEARCH}\noptions ndots:5`, 'fail', /no nameserver is the agent/],
    [`${SEARCH}\noptions ndots:5`, 'fail', /no nameserver line/],
    [`nameserver 169.254.20.10\nnameserver 10.0.0.2\n${SEARCH}\noptions ndots:5`, 'warn', /10\.0\.0\.2 is not the agent: musl asks every nameserver/],
    [`nameserver 169.254.20.10\nnameserver 10.96.0.10\nnameserver 169.254.20.10\nnameserver 10.96.0.10\n${SEARCH}\noptions ndots:5`, 'warn', /4 nameservers: libc uses the first 3/],
    [`nameserver 10.96.0.10\n${SEARCH} a.example b.example c.example d.example\noptions ndots:5`, 'warn', /search has 7 domains/],
    [`nameserver 10.96.0.10\nsearch default.svc.cluster.local ${'x'.repeat(250)}.example svc.cluster.local cluster.local\noptions ndots:5`, 'warn', /characters/],
    [`nameserver 10.96.0.10\nsearch example.com\noptions ndots:5`, 'warn', /search lacks svc\.cluster\.local/],
  ];
  for (const [text, status, why] of cases) {
    const j = judge(text);
    t.equal(j.status, status, text.split('\n').join(' | '));
    t.match(j.evidence, why);
    t.not(j.action, '', 'says what to do');
  }
});

t.test('UDP listeners are read back from /proc/net for real sockets', async (t) => {
  const open = (type: 'udp4' | 'udp6', addr: string) => new Promise<Socket>((resolve) => {
    const s = createSocket(type);
    s.bind(0, addr, () => resolve(s));
  });
  const v4 = await open('udp4', '127.0.0.1');
  const v6 = await open('udp6', '::1').catch(() => null);
  t.teardown(() => { v4.close(); v6?.close(); });
  t.ok(listensOn('127.0.0.1', udpListeners(v4.address().port)), '127.0.0.1');
  t.notOk(listensOn('127.0.0.2', udpListeners(v4.address().port)), 'another address is not listened on');
  if (v6) t.ok(listensOn('::1', udpListeners(v6.address().port)), '::1');
  t.same(decodeProcAddress('0A14FEA9:0035'), { ip: '169.254.20.10', port: 53 });
  t.same(decodeProcAddress('00000000000000000000000001000000:0035'), { ip: '::1', port: 53 });
  t.same(decodeProcAddress('FEA900FD00000000000000000A000000:0035'), { ip: 'fd00:a9fe::a', port: 53 });
});

t.test('plan from the agent\'s flags: template rendered, nothing written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base = join(dir, 'Corefile.base');
  const conf = join(dir, 'Corefile');
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(base, readFileSync(new URL('../fixtures/upstream-Corefile.base', import.meta.url), 'utf8'));
  writeFileSync(resolv, 'nameserver 192.0.2.1\n');
  const plan = makePlan(['-localip', '169.254.20.10,10.96.0.10', '-basecorefile', base, '-conf', conf, '-upstreamsvc', 'kube-dns-upstream',
    '--node-resolv', resolv, '--json', '--timeout=700ms', '--pod-resolv', '/tmp/x'], { KUBE_DNS_UPSTREAM_SERVICE_HOST: '10.96.0.11' });
  t.notOk(existsSync(conf), '-conf not written');
  t.same(plan.localIps, ['169.254.20.10', '10.96.0.10']);
  t.same(plan.upstreams.map((u) => [u.host, u.tcpOnly]), [['10.96.0.11', true], ['192.0.2.1', false]], 'cluster DNS over TCP, the node resolver on the client\'s protocol');
  t.ok(plan.json);
  t.equal(plan.timeoutMs, 700);
  t.equal(plan.podResolv, '/tmp/x');
  const embedded = makePlan(['-localip', '169.254.20.10', '-upstream', '10.96.0.10', '--node-resolv', resolv], {});
  t.same([embedded.port, embedded.timeoutMs, embedded.json, embedded.bigName, embedded.bigTypeName], [53, 1500, false, '.', 'DNSKEY'], 'defaults');
  t.throws(() => makePlan(['--config', join(dir, 'nope')], {}), /cannot read the Corefile/, '--config is -conf');
  t.throws(() => makePlan(['-nosuchflag'], {}), FlagError);
  t.throws(() => makePlan(['--big-query', '. BOGUS', '--node-resolv', resolv], {}), FlagError);
});
