// A miniature cluster in three namespaces for the transparent-mode test: `coredns` runs knot,
// `node` routes between the others and emulates kube-proxy (the kube-dns ClusterIP DNATed to
// knot, in KUBE-SERVICES like the real thing), `pod` is a client whose resolv.conf names the
// ClusterIP. Everything is deleted at t's teardown.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { clusterZone, startKnot, type Knot } from './knot.js';
import { joinNetns, makeNetns, nsh } from './netns.js';

export interface MiniCluster {
  node: string;
  pod: string;
  coredns: string;
  knot: Knot;
  v6: boolean;
  /** node-local-dns's link-local style address and the kube-dns ClusterIP. */
  localIp: string;
  clusterIp: string;
  /** iptables or ip6tables, -nft (kube-proxy's backend here). */
  tool: string;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

function resolvConf(t: Teardownable, ns: string, text: string): void {
  // `ip netns exec` bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, text);
  t.teardown(() => rmSync(`/etc/netns/${ns}`, { recursive: true, force: true }));
}

export async function makeMiniCluster(t: Teardownable, v6: boolean): Promise<MiniCluster> {
  const node = makeNetns(t, 'node');
  const pod = makeNetns(t, 'pod');
  const coredns = makeNetns(t, 'coredns');
  const a = v6
    ? { nc: 'fd00:210:1::1/64', cn: 'fd00:210:1::2/64', np: 'fd00:210:2::1/64', pn: 'fd00:210:2::2/64', local: 'fd00:a9fe::a', cluster: 'fd00:96::a' }
    : { nc: '10.210.1.1/24', cn: '10.210.1.2/24', np: '10.210.2.1/24', pn: '10.210.2.2/24', local: '169.254.20.10', cluster: '10.96.0.10' };
  const knotAddr = joinNetns(node, coredns, a.nc, a.cn).b;
  joinNetns(node, pod, a.np, a.pn);
  nsh(node, ['sysctl', '-qw', v6 ? 'net.ipv6.conf.all.forwarding=1' : 'net.ipv4.ip_forward=1']);

  const tool = v6 ? 'ip6tables-nft' : 'iptables-nft';
  const to = v6 ? `[${knotAddr}]:53` : `${knotAddr}:53`;
  nsh(node, [tool, '-t', 'nat', '-N', 'KUBE-SERVICES']);
  nsh(node, [tool, '-t', 'nat', '-A', 'PREROUTING', '-j', 'KUBE-SERVICES']);
  nsh(node, [tool, '-t', 'nat', '-A', 'OUTPUT', '-j', 'KUBE-SERVICES']);
  for (const p of ['udp', 'tcp'])
    nsh(node, [tool, '-t', 'nat', '-A', 'KUBE-SERVICES', '-d', a.cluster, '-p', p, '--dport', '53', '-j', 'DNAT', '--to-destination', to]);

  // The node's own resolver (the agent's "." upstream) is knot too: no traffic leaves the test.
  resolvConf(t, node, `nameserver ${knotAddr}\n`);
  resolvConf(t, pod, `nameserver ${a.cluster}\nsearch prod.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);

  const knot = await startKnot({ address: knotAddr, port: 53, zones: { 'cluster.local': clusterZone() }, prefix: ['ip', 'netns', 'exec', coredns] });
  t.teardown(() => knot.stop());
  return { node, pod, coredns, knot, v6, localIp: a.local, clusterIp: a.cluster, tool };
}

/** Sum of coredns_dns_requests_total for one listener, scraped inside the node namespace. */
export function requestsFor(node: string, metricsUrl: string, server: string): number {
  const r = nsh(node, [process.execPath, '-e', `fetch(${JSON.stringify(metricsUrl)}).then(r=>r.text()).then(t=>process.stdout.write(t))`], false);
  if (r.code !== 0) return -1;
  let sum = 0;
  for (const line of r.out.split('\n'))
    if (line.startsWith('coredns_dns_requests_total{') && line.includes(`server="${server}"`)) sum += Number(line.split(' ').pop());
  return sum;
}

/** conntrack entries in ns for UDP/TCP port 53 to ip. */
export function conntrack53(ns: string, ip: string): string[] {
  const fam = ip.includes(':') ? 'ipv6' : 'ipv4';
  const r = nsh(ns, ['conntrack', '-L', '-f', fam], false);
  return r.out.split('\n').filter((l) => l.includes(`dst=${ip} `) && l.includes('dport=53 '));
}
