// Two CoreDNS-like replicas (knot) behind the kube-dns-upstream ClusterIP, with kube-proxy's
// iptables chains (KUBE-SERVICES → KUBE-SVC → KUBE-SEP, random DNAT per connection) in a node
// namespace where the agent runs as on a node. The replica carrying the agent's upstream
// connection goes quiet (its packets dropped: no RST, no answer), while a pod sends a lookup of a
// fresh name every 40 ms with a 2 s timeout. Measured before hedging: about half of the lookups
// in the 2.5 s after the drop failed. The agent must lose none: a query unanswered past the
// hedge delay goes out again on another connection, which kube-proxy may send to the live one.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { KubeProxy } from '../support/kube-proxy.js';
import { until } from '../support/net.js';
import { joinNetns, makeNetns, netnsMissing, nsh } from '../support/netns.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const stream = fileURLToPath(new URL('../support/dns-stream.mjs', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping upstream replica e2e: ${skip}`);
t.setTimeout(180_000);

const LOCAL_IP = '169.254.20.10';
const UPSTREAM_IP = '10.96.0.11'; // kube-dns-upstream's ClusterIP
const NAME = 'prod.svc.cluster.local';

interface Result {
  sent: number;
  rcode: string | null;
  ms: number;
}

t.test('a replica behind the ClusterIP goes quiet under lookups: none fails', async (t) => {
  const node = makeNetns(t, 'node');
  const pod = makeNetns(t, 'pod');
  const replicas = [makeNetns(t, 'dns1'), makeNetns(t, 'dns2')];
  const podIps = replicas.map((r, i) => joinNetns(node, r, `10.212.${i + 1}.1/24`, `10.212.${i + 1}.2/24`).b);
  joinNetns(node, pod, '10.212.9.1/24', '10.212.9.2/24');
  nsh(node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  // A host-network process's packets to a ClusterIP need a route before OUTPUT's DNAT rewrites them.
  nsh(node, ['ip', 'route', 'add', '10.96.0.0/16', 'via', '10.212.1.2']);
  const knots = await Promise.all(
    replicas.map((r, i) => startKnot({ address: podIps[i]!, port: 53, zones: { 'cluster.local': clusterZone() }, prefix: ['ip', 'netns', 'exec', r] })),
  );
  t.teardown(() => Promise.all(knots.map((k) => k.stop())));
  new KubeProxy(node).sync([
    {
      namespace: 'kube-system',
      name: 'kube-dns-upstream',
      clusterIp: UPSTREAM_IP,
      ports: [{ name: 'dns', protocol: 'udp', port: 53 }, { name: 'dns-tcp', protocol: 'tcp', port: 53 }],
      endpoints: podIps,
    },
  ]);
  // The node's own resolver ("." upstream) is a replica too: nothing leaves the namespaces.
  mkdirSync(`/etc/netns/${node}`, { recursive: true });
  writeFileSync(`/etc/netns/${node}/resolv.conf`, `nameserver ${podIps[1]}\n`);
  t.teardown(() => rmSync(`/etc/netns/${node}`, { recursive: true, force: true }));

  const agent = spawn('ip', ['netns', 'exec', node, process.execPath, cli, '-localip', LOCAL_IP, '-upstream', `${UPSTREAM_IP}:53`,
    '-setupiptables=false', '-health-port', '8080', '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  agent.stderr!.on('data', (d) => (log += d));
  t.teardown(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); });
  const answers = () => nsh(pod, ['dig', `@${LOCAL_IP}`, `web.${NAME}`, 'A', '+short', '+time=1', '+tries=1'], false).out.trim() === '10.96.3.7';
  t.ok(await until(answers, 20_000), `the agent answers from the pod (log: ${log.slice(-400)})`);

  // Which replica the agent's upstream connection reached through the DNAT.
  const established = (): string[] =>
    nsh(node, ['conntrack', '-L', '-p', 'tcp', '--dport', '53', '-d', UPSTREAM_IP], false).out.split('\n').filter((l) => l.includes('ESTABLISHED'));
  const conns = established();
  t.ok(conns.length >= 1, 'the agent holds a TCP connection to the ClusterIP, DNATed by the KUBE-SEP chain');
  const quietIdx = podIps.findIndex((ip) => conns.some((l) => l.includes(`src=${ip} `)));
  t.ok(quietIdx >= 0, `it reached replica ${quietIdx + 1}`);
  const quiet = replicas[quietIdx]!;

  const q = spawn('ip', ['netns', 'exec', pod, process.execPath, stream,
    JSON.stringify({ servers: [LOCAL_IP], name: NAME, unique: true, intervalMs: 40, durationMs: 6_000, timeoutMs: 2_000 })],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (q.exitCode === null) q.kill('SIGKILL'); });
  let out = '';
  q.stdout!.on('data', (d) => (out += d));
  const done = new Promise((r) => q.once('exit', r));
  await new Promise((r) => setTimeout(r, 1_500));
  const quietAt = Date.now();
  for (const p of ['udp', 'tcp']) nsh(quiet, ['iptables-nft', '-I', 'INPUT', '-p', p, '--dport', '53', '-j', 'DROP']);
  await done;

  const results = out.trim().split('\n').map((l) => JSON.parse(l) as Result);
  const after = results.filter((r) => r.sent >= quietAt);
  const failed = after.filter((r) => r.rcode !== 'NXDOMAIN');
  const worst = after.reduce((m, r) => Math.max(m, r.ms), 0);
  const slow = after.filter((r) => r.ms > 500).length;
  t.ok(after.length >= 80, `${after.length} lookups after the replica went quiet`);
  t.same(failed, [], `every one answered by the live replica (slowest ${worst} ms, ${slow} over 500 ms)`);
  const metrics = nsh(node, ['curl', '-s', 'http://127.0.0.1:9253/metrics'], false).out;
  t.match(metrics, /nodelocaldns_upstream_hedges_total\{[^}]*\} [1-9]/, 'queries were hedged onto another connection');
  t.match(metrics, /nodelocaldns_upstream_blackholes_total\{[^}]*\} [1-9]/, 'the quiet connection was retired');
  agent.kill('SIGTERM');
});
