// Deaths that run no handler, in a node namespace with kube-proxy's real chain layout (kube-dns's
// ClusterIP → KUBE-SVC-… → KUBE-SEP-… → knot in `coredns`) and a `pod` client streaming queries
// to both node-local addresses (transparent mode):
// 0. NOTRACK rules a killed node-cache left behind are removed.
// 1. SIGKILL of the serving process: src/supervise.sh starts a new one, the node setup stays in
//    place; the ClusterIP fails open to kube-dns meanwhile (every query sent from 1 s after the
//    kill answered), the local IP is answered again once the new agent serves.
// 2. SIGTERM to the supervisor: passed on, the agent tears down and its status is the supervisor's.
// 3. SIGKILL of supervisor and agent together: the ClusterIP fails open, kube-dns answers it
//    through kube-proxy's DNAT (every query sent from 5 s after the kill answered). The local IP
//    stays dark: no rule of ours may reference kube-proxy's chains, checked last.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { conntrack53 } from '../support/cluster-netns.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { KubeProxy } from '../support/kube-proxy.js';
import { until } from '../support/net.js';
import { joinNetns, makeNetns, netnsMissing, nodeCacheLines, nsh } from '../support/netns.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const supervisor = fileURLToPath(new URL('../../src/supervise.sh', import.meta.url));
const stream = fileURLToPath(new URL('../support/dns-stream.mjs', import.meta.url));
const probe = fileURLToPath(new URL('../../src/dns-probe.sh', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping crash-safety e2e: ${skip}`);
t.setTimeout(90_000);

const LOCAL_IP = '169.254.20.10';
const CLUSTER_IP = '10.96.0.10';
const NAME = 'web.prod.svc.cluster.local';

interface Result { sent: number; server: string; rcode: string | null; ms: number }

interface Supervised { proc: ChildProcess; exited: Promise<number | null>; log: () => string }

function supervise(node: string, knotAddr: string): Supervised {
  const proc = spawn('ip', ['netns', 'exec', node, 'sh', supervisor, process.execPath, cli,
    '-localip', `${LOCAL_IP},${CLUSTER_IP}`, '-upstream', `${knotAddr}:53`, '-health-port', '8080',
    '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353',
    '-syncinterval', '1s', '-lameduck', '300ms'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, exited, log: () => log };
}

/** The supervisor's one child (ip netns exec has exec'd into sh), or 0. */
function childOf(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ')[0] || 0);
  } catch {
    return 0;
  }
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? -1);
}

async function queryStream(pod: string, durationMs: number, during: () => Promise<void>): Promise<Result[]> {
  const q = spawn('ip', ['netns', 'exec', pod, process.execPath, stream,
    JSON.stringify({ servers: [LOCAL_IP, CLUSTER_IP], name: NAME, intervalMs: 25, durationMs, timeoutMs: 1000 })],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  q.stdout!.on('data', (d) => (out += d));
  const done = new Promise((r) => q.once('exit', r));
  try {
    await during();
    await done;
  } finally {
    if (q.exitCode === null) q.kill('SIGKILL');
  }
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Result);
}

/** Lost queries, and the first query sent after `at`: when it was sent and answered (ms after `at`). */
function summary(results: Result[], at: number): { lost: string; firstQuery: string } {
  const first = results.find((r) => r.sent >= at);
  const lost = results.filter((r) => r.rcode !== 'NOERROR');
  const when = lost.map((r) => `${r.server}@${r.sent - at}`).slice(0, 12).join(' ');
  return { lost: `${lost.length} of ${results.length} queries lost${lost.length ? ` (server@ms after the kill: ${when})` : ''}`, firstQuery: first ? `sent +${first.sent - at} ms, ${first.rcode ?? 'lost'} +${first.sent + first.ms - at} ms` : 'none sent' };
}

t.test('the node keeps DNS through deaths that run no handler', async (t) => {
  const node = makeNetns(t, 'node');
  const pod = makeNetns(t, 'pod');
  const coredns = makeNetns(t, 'coredns');
  const knotAddr = joinNetns(node, coredns, '10.213.1.1/24', '10.213.1.2/24').b;
  joinNetns(node, pod, '10.213.2.1/24', '10.213.2.2/24');
  nsh(node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  mkdirSync(`/etc/netns/${node}`, { recursive: true });
  writeFileSync(`/etc/netns/${node}/resolv.conf`, `nameserver ${knotAddr}\n`);
  t.teardown(() => rmSync(`/etc/netns/${node}`, { recursive: true, force: true }));
  const knot = await startKnot({ address: knotAddr, port: 53, zones: { 'cluster.local': clusterZone() }, prefix: ['ip', 'netns', 'exec', coredns] });
  t.teardown(() => knot.stop());
  const proxy = new KubeProxy(node);
  proxy.sync([{ namespace: 'kube-system', name: 'kube-dns', clusterIp: CLUSTER_IP, endpoints: [knotAddr],
    ports: [{ name: 'dns', protocol: 'udp', port: 53 }, { name: 'dns-tcp', protocol: 'tcp', port: 53 }] }]);
  const pids: number[] = [];
  t.teardown(() => { for (const p of pids) try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ } });

  // What a SIGKILLed node-cache leaves: its unconditional NOTRACK pair, which would defeat the
  // fail-open. The agent removes it.
  for (const p of ['udp', 'tcp'])
    nsh(node, ['iptables-nft', '-t', 'raw', '-I', 'PREROUTING', '-p', p, '-d', LOCAL_IP, '--dport', '53', '-j', 'NOTRACK', '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack']);
  let sup = supervise(node, knotAddr);
  pids.push(sup.proc.pid!);
  // node-cache's 12 rules per IP, PREROUTING's NOTRACK conditional on our socket.
  const lines = () => nodeCacheLines(node, 'iptables-nft-save');
  const installed = () => sup.log().includes('"msg":"iptables rules installed"') && lines().length === 24;
  t.ok(await until(installed, 20_000), `rules installed: ${sup.log().slice(-400)}`);
  t.same(lines().filter((l) => l.startsWith('raw: -A PREROUTING') && !l.includes(' -m socket ')), [], 'node-cache\'s unconditional NOTRACK removed');
  const dig = (server: string) => nsh(pod, ['dig', `@${server}`, NAME, 'A', '+short', '+time=1', '+tries=1'], false).out.trim();
  t.equal(dig(LOCAL_IP), '10.96.3.7', 'the agent answers the local IP');
  t.same(conntrack53(node, LOCAL_IP), [], 'with our socket bound, the queries are not tracked');
  const alive = () => nsh(node, ['bash', probe, LOCAL_IP, '53'], false).code === 0;
  t.ok(alive(), 'the liveness probe gets a reply through the bound socket');
  const rssSupervisor = rssKiB(sup.proc.pid!);
  t.ok(rssSupervisor > 0 && rssSupervisor < 5 * 1024, `supervisor RSS ${rssSupervisor} KiB`);

  // 1. SIGKILL of the serving process under a query stream.
  const first = childOf(sup.proc.pid!);
  t.ok(first > 0, 'the agent runs under the supervisor');
  let killAt = 0;
  const rulesBefore = lines().sort();
  let rulesDuringGap: string[] = [];
  const r1 = await queryStream(pod, 4000, async () => {
    await new Promise((r) => setTimeout(r, 1000));
    killAt = Date.now();
    process.kill(first, 'SIGKILL');
    rulesDuringGap = lines().sort();
  });
  const second = childOf(sup.proc.pid!);
  pids.push(second);
  t.ok(second > 0 && second !== first, 'a new agent was started');
  t.same(rulesDuringGap, rulesBefore, 'the rules stay while no agent runs');
  const toCluster1 = r1.filter((r) => r.server === CLUSTER_IP);
  const s1 = summary(toCluster1, killAt);
  const s1local = summary(r1.filter((r) => r.server === LOCAL_IP), killAt);
  t.same(toCluster1.filter((r) => r.sent >= killAt + 1000 && r.rcode !== 'NOERROR'), [], 'ClusterIP: every query sent from 1 s after the kill answered');
  t.same(r1.filter((r) => r.server === LOCAL_IP && r.sent >= killAt + 1000 && r.rcode !== 'NOERROR'), [], 'local IP: every query sent from 1 s after the kill answered (kube-dns through the fail-open chain, then the new agent)');
  t.ok(toCluster1.filter((r) => r.sent >= killAt + 1000).length >= 20, 'the stream ran on after the kill');
  const servedAfterKill = () => [...sup.log().matchAll(/"ts":"([^"]+)","level":"info","msg":"serving"/g)].map((m) => Date.parse(m[1]!)).find((ts) => ts >= killAt);
  t.ok(await until(() => servedAfterKill() !== undefined, 20_000), 'the new agent serves');
  const restartMs = servedAfterKill()! - killAt;
  // The new agent's sockets are bound before it logs `serving`.
  t.same(r1.filter((r) => r.server === LOCAL_IP && r.sent >= killAt + restartMs && r.rcode !== 'NOERROR'), [], 'local IP: every query sent after the new agent serves answered');
  const noticed = /"ts":"([^"]+)","level":"error","msg":"agent died by a signal/.exec(sup.log());
  t.ok(noticed, 'the supervisor logged the death');
  const noticedMs = Date.parse(noticed?.[1] ?? '') - killAt;
  t.ok(await until(() => /"msg":"iptables rules installed","backend":"[a-z]+","added":0,/.test(sup.log()), 10_000), 'the new agent found every rule in place');
  t.comment(`serving process SIGKILL: death logged by the supervisor after ${noticedMs} ms, new agent serving after ${restartMs} ms; ClusterIP: first query after the kill ${s1.firstQuery}, ${s1.lost}; local IP: ${s1local.lost}`);

  // 2. SIGTERM to the supervisor: the agent's clean stop, its status, no rule left.
  const termAt = Date.now();
  sup.proc.kill('SIGTERM');
  t.equal(await sup.exited, 0, 'supervisor exits with the agent\'s status');
  t.comment(`SIGTERM to exit, lameduck 300 ms and teardown: ${Date.now() - termAt} ms`);
  t.same(lines(), [], 'the agent tore the rules down');

  // 3. SIGKILL of everything.
  sup = supervise(node, knotAddr);
  pids.push(sup.proc.pid!);
  t.ok(await until(() => installed() && childOf(sup.proc.pid!) > 0, 20_000), 'started again');
  const agentPid = childOf(sup.proc.pid!);
  pids.push(agentPid);
  t.ok(await until(() => dig(LOCAL_IP) === '10.96.3.7', 10_000), 'serving again');
  const natSave = () => nsh(node, ['iptables-nft-save', '-t', 'nat']).out;
  t.ok(await until(() => /-A PREROUTING -d 169\.254\.20\.10\/32 -p udp .*-j NODELOCALDNS-FAILOPEN/.test(natSave()), 10_000), 'the link-local fail-open is hooked');
  t.match(natSave(), new RegExp(`-A NODELOCALDNS-FAILOPEN -p udp -j DNAT --to-destination ${knotAddr.replace(/\./g, '\\.')}:53`), 'to kube-dns\'s endpoint, copied from kube-proxy\'s KUBE-SEP chain');
  const r3 = await queryStream(pod, 6500, async () => {
    await new Promise((r) => setTimeout(r, 500));
    killAt = Date.now();
    process.kill(sup.proc.pid!, 'SIGKILL');
    process.kill(agentPid, 'SIGKILL');
  });
  const toCluster3 = r3.filter((r) => r.server === CLUSTER_IP);
  const s3 = summary(toCluster3, killAt);
  const s3local = summary(r3.filter((r) => r.server === LOCAL_IP), killAt);
  t.same(toCluster3.filter((r) => r.sent >= killAt + 5000 && r.rcode !== 'NOERROR'), [], 'ClusterIP: every query sent from 5 s after the kill answered');
  t.ok(toCluster3.filter((r) => r.sent >= killAt + 5000).length >= 20, 'the stream ran past 5 s after the kill');
  t.same(r3.filter((r) => r.server === LOCAL_IP && r.sent >= killAt + 5000 && r.rcode !== 'NOERROR'), [], 'local IP: every query sent from 5 s after the kill answered by kube-dns (fail-open chain)');
  t.equal(lines().length, 24, 'rules left behind, as by any death that runs no handler');
  t.notOk(alive(), 'the liveness probe fails with no agent');
  t.ok(conntrack53(node, CLUSTER_IP).some((l) => l.includes(`src=${knotAddr} `)), 'the ClusterIP was answered by kube-dns through kube-proxy\'s DNAT');
  // kube-proxy deletes a Service's chains when it loses its endpoints; a jump of ours into them
  // would make that iptables-restore, and every later one, fail (EBUSY). sync throws if it fails.
  t.doesNotThrow(() => proxy.sync([]), 'kube-proxy can still delete kube-dns\'s chains');
  t.comment(`supervisor and agent SIGKILL: ClusterIP: first query after the kill ${s3.firstQuery}, ${s3.lost}; local IP: ${s3local.lost}`);
});
