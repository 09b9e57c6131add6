// Issue 5 end to end: the agent in a `node` namespace in transparent mode (-localip
// <link-local>,<kube-dns ClusterIP>), kube-proxy emulated by DNAT to knot in `coredns`, clients
// in `pod`. Pod DNS to both addresses is answered by the agent without conntrack; rules and
// addresses come back after one sync interval; SIGTERM under a query stream loses nothing in
// lameduck, leaves no rule or address, and the ClusterIP is served by knot through the DNAT.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { conntrack53, makeMiniCluster, requestsFor } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { until } from '../support/net.js';
import { netnsMissing, nodeCacheLines, nsh } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const stream = fileURLToPath(new URL('../support/dns-stream.mjs', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)') ||
  (spawnSync('which', ['curl']).status === 0 ? false : 'curl not installed');
if (skip) t.plan(0, `skipping transparent-mode e2e: ${skip}`);
t.setTimeout(300_000);

const LAMEDUCK_MS = 2000;
const NAME = 'web.prod.svc.cluster.local';

function digShort(ns: string, server: string): string {
  return nsh(ns, ['dig', `@${server}`, NAME, 'A', '+short', '+time=2', '+tries=1'], false).out.trim();
}

for (const v6 of [false, true]) {
  t.test(`transparent mode, ${v6 ? 'IPv6' : 'IPv4'}`, { timeout: 240_000 }, async (t) => {
    const c = await makeMiniCluster(t, v6);
    const save = v6 ? 'ip6tables-nft-save' : 'iptables-nft-save';
    const srv = (ip: string) => (v6 ? `dns://[${ip}]:53` : `dns://${ip}:53`);
    const metricsUrl = 'http://127.0.0.1:9253/metrics';
    const pidfile = `/tmp/nodelocaldns-${c.node}.pid`;
    const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli,
      '-localip', `${c.localIp},${c.clusterIp}`, '-upstream', `${v6 ? `[${c.knot.address}]` : c.knot.address}:53`,
      '-health-port', '8080', '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353',
      '-syncinterval', '1s', '-lameduck', `${LAMEDUCK_MS}ms`, '-pidfile', pidfile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    agent.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => agent.once('exit', (code) => r(code)));
    t.teardown(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); nsh(c.node, ['rm', '-f', pidfile], false); });

    // 1. Serving, pidfile, then node-cache's rules for both addresses.
    const want = [...expectedRuleLines(c.localIp), ...expectedRuleLines(c.clusterIp)].sort();
    const rulesOk = () => JSON.stringify(nodeCacheLines(c.node, save).sort()) === JSON.stringify(want);
    t.ok(await until(rulesOk, 20_000), `rules installed (agent log: ${stderr.slice(-500)})`);
    t.ok(existsSync(pidfile), 'pidfile written before the rules');
    t.match(stderr, /"mode":"ifb"/, 'interface mode logged');

    const before = { local: requestsFor(c.node, metricsUrl, srv(c.localIp)), cluster: requestsFor(c.node, metricsUrl, srv(c.clusterIp)) };
    const ahosts = nsh(c.pod, ['getent', 'ahosts', NAME], false);
    // glibc asks A and AAAA in parallel from one socket; in the IPv6-only pod (AI_ADDRCONFIG) AAAA only.
    if (!v6) t.match(ahosts.out, /10\.96\.3\.7/, 'getent ahosts gets the A record');
    t.match(ahosts.out, /fd00::3:7/, 'getent ahosts gets the AAAA record');
    t.equal(digShort(c.pod, c.localIp), '10.96.3.7', 'dig at the local IP');
    t.equal(digShort(c.pod, c.clusterIp), '10.96.3.7', 'dig at the ClusterIP');
    const after = { local: requestsFor(c.node, metricsUrl, srv(c.localIp)), cluster: requestsFor(c.node, metricsUrl, srv(c.clusterIp)) };
    t.ok(after.local >= before.local + 1, `agent counted the query to the local IP (${before.local} → ${after.local})`);
    t.ok(after.cluster >= before.cluster + 3, `agent counted getent's two and dig's query to the ClusterIP (${before.cluster} → ${after.cluster})`);
    t.same(conntrack53(c.node, c.clusterIp), [], 'no conntrack entry for the ClusterIP');
    t.same(conntrack53(c.node, c.localIp), [], 'no conntrack entry for the local IP');

    // 2. Repairs within a sync interval (1 s; generous bound for a busy box).
    const tool = v6 ? 'ip6tables-nft' : 'iptables-nft';
    nsh(c.node, [tool, '-t', 'raw', '-D', 'PREROUTING', '-p', 'udp', '-d', c.clusterIp, '--dport', '53', '-m', 'socket', '-j', 'NOTRACK',
      '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack']);
    t.notOk(rulesOk(), 'rule deleted by hand');
    t.ok(await until(rulesOk, 10_000), 'rule back after a sync interval');
    const prefix = v6 ? '/128' : '/32';
    nsh(c.node, ['ip', 'addr', 'del', c.localIp + prefix, 'dev', 'nodelocaldns']);
    const hasAddr = () => nsh(c.node, ['ip', '-o', 'addr', 'show', 'dev', 'nodelocaldns'], false).out.includes(c.localIp + prefix);
    t.notOk(hasAddr(), 'address removed by hand');
    t.ok(await until(hasAddr, 10_000), 'address back after a sync interval');
    t.ok(await until(() => stderr.includes('iptables rules repaired'), 5_000), 'rule repair logged');
    t.ok(await until(() => stderr.includes('node interface repaired'), 5_000), 'address repair logged');

    // 3. SIGTERM under a steady, bounded query stream.
    const q = spawn('ip', ['netns', 'exec', c.pod, process.execPath, stream,
      JSON.stringify({ servers: [c.localIp, c.clusterIp], name: NAME, intervalMs: 50, durationMs: 9000, timeoutMs: 1000 })],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    t.teardown(() => { if (q.exitCode === null) q.kill('SIGKILL'); });
    let out = '';
    q.stdout!.on('data', (d) => (out += d));
    const qDone = new Promise((r) => q.once('exit', r));
    await new Promise((r) => setTimeout(r, 1500));
    const sigAt = Date.now();
    agent.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, LAMEDUCK_MS / 2));
    const health = nsh(c.node, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${v6 ? `[${c.localIp}]` : c.localIp}:8080/health`], false);
    const code = await exited;
    const exitAt = Date.now();
    await qDone;
    t.equal(code, 0, 'agent exits 0');
    t.equal(health.out, '200', 'health stays 200 in lameduck');
    const results = out.trim().split('\n').map((l) => JSON.parse(l) as { sent: number; server: string; rcode: string | null });
    const lameduck = results.filter((r) => r.sent >= sigAt && r.sent < sigAt + LAMEDUCK_MS - 200);
    t.ok(lameduck.length >= 20, `${lameduck.length} queries sent during lameduck`);
    t.same(lameduck.filter((r) => r.rcode !== 'NOERROR'), [], 'every query in lameduck answered');
    const toCluster = results.filter((r) => r.server === c.clusterIp);
    t.ok(toCluster.some((r) => r.sent > exitAt), 'the stream ran past the agent exit');
    t.same(toCluster.filter((r) => r.rcode !== 'NOERROR'), [], 'every query to the ClusterIP answered, before, during and after the stop');

    // After exit: nothing left; the ClusterIP is kube-dns again (knot through the DNAT, tracked).
    t.same(nodeCacheLines(c.node, save), [], 'no rule left');
    t.not(nsh(c.node, ['ip', 'link', 'show', 'nodelocaldns'], false).code, 0, 'interface removed');
    t.notMatch(nsh(c.node, ['ip', '-o', 'addr']).out, new RegExp(`${c.localIp.replace(/\./g, '\\.')}/`), 'no local IP left');
    t.equal(digShort(c.pod, c.clusterIp), '10.96.3.7', 'ClusterIP answered after the agent is gone');
    t.ok(conntrack53(c.node, c.clusterIp).length > 0, 'and that went through conntrack + DNAT to knot');
  });
}
