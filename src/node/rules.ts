// node-cache's rules, per local IP, in its order and with its comments: NOTRACK so DNS to the
// agent never enters conntrack (no DNAT race, no table-full drops), ACCEPT because stateful
// filter rules no longer see those packets as ESTABLISHED. Each rule also has the line
// `iptables -S` prints for it, so listings can be counted (duplicates, flaky -C).
//
// One departure, so that a dead agent (SIGKILL, OOM kill: no handler runs, nothing is torn down)
// does not take the ClusterIP with it: the PREROUTING NOTRACK pair matches only while a socket of
// ours is bound to the address (`-m socket`: a socket lookup per packet, done in the raw table
// before conntrack). Without one, pods' packets to the kube-dns ClusterIP are tracked again and
// meet kube-proxy's DNAT; node-cache leaves them untracked, delivered to no one.
// No rule of ours jumps to a kube-proxy chain (failopen.ts copies the endpoints instead): a reference makes kube-proxy's iptables-restore
// fail when it deletes that chain (a Service without endpoints), and with it every later sync.
import { canonicalIp, familyOf, hostPrefix, type Family } from './ipaddr.js';

export const COMMENT_SKIP = 'NodeLocal DNS Cache: skip conntrack';
export const COMMENT_ALLOW = 'NodeLocal DNS Cache: allow DNS traffic';

export type Table = 'raw' | 'filter' | 'nat';

export interface Rule {
  family: Family;
  table: Table;
  chain: string;
  /** Arguments after `-t table -C|-I|-D chain`. */
  args: string[];
  /** The rule as `iptables -S` prints it, to count it in a listing. */
  saved: string;
}

type Target = 'NOTRACK' | 'ACCEPT';

function rule(family: Family, table: Table, chain: string, proto: 'tcp' | 'udp', dir: 's' | 'd', ip: string, port: number, target: Target, onlyWithSocket = false): Rule {
  const comment = target === 'NOTRACK' ? COMMENT_SKIP : COMMENT_ALLOW;
  const portFlag = dir === 'd' ? '--dport' : '--sport';
  const socket = onlyWithSocket ? ['-m', 'socket'] : [];
  return {
    family,
    table,
    chain,
    args: ['-p', proto, `-${dir}`, ip, portFlag, String(port), ...socket, '-j', target, '-m', 'comment', '--comment', comment],
    saved: `-A ${chain} -${dir} ${canonicalIp(ip)}${hostPrefix(ip)} -p ${proto} -m ${proto} ${portFlag} ${port}${onlyWithSocket ? ' -m socket' : ''} -m comment --comment "${comment}" -j ${target}`,
  };
}

/** Twelve rules per IP: five UDP+TCP pairs (PREROUTING's conditional on our socket) and the two TCP health-port rules. */
export function nodeCacheRules(localIps: string[], dnsPort: number, healthPort: number): Rule[] {
  const out: Rule[] = [];
  for (const ip of localIps) {
    const f = familyOf(ip);
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'raw', 'PREROUTING', p, 'd', ip, dnsPort, 'NOTRACK', true));
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'filter', 'INPUT', p, 'd', ip, dnsPort, 'ACCEPT'));
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'raw', 'OUTPUT', p, 's', ip, dnsPort, 'NOTRACK'));
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'filter', 'OUTPUT', p, 's', ip, dnsPort, 'ACCEPT'));
    // hostNetwork clients: locally generated queries never pass PREROUTING.
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'raw', 'OUTPUT', p, 'd', ip, dnsPort, 'NOTRACK'));
    // the kubelet's liveness probe to the health port, both directions.
    out.push(rule(f, 'raw', 'OUTPUT', 'tcp', 'd', ip, healthPort, 'NOTRACK'));
    out.push(rule(f, 'raw', 'OUTPUT', 'tcp', 's', ip, healthPort, 'NOTRACK'));
  }
  return out;
}

/**
 * node-cache's own PREROUTING NOTRACK pair, without `-m socket`: left by a node-cache (or an
 * older agent) that was killed, it would keep untracking pods' queries after we die too.
 */
export function unconditionalNotrack(localIps: string[], dnsPort: number): Rule[] {
  return localIps.flatMap((ip) => (['tcp', 'udp'] as const).map((p) => rule(familyOf(ip), 'raw', 'PREROUTING', p, 'd', ip, dnsPort, 'NOTRACK')));
}

/** How many times each line of `wanted` occurs in an `iptables -S` listing. */
export function countSaved(listing: string, wanted: Rule[]): Map<string, number> {
  const counts = new Map<string, number>(wanted.map((r) => [r.saved, 0]));
  for (const line of listing.split('\n')) {
    const n = counts.get(line.trimEnd());
    if (n !== undefined) counts.set(line.trimEnd(), n + 1);
  }
  return counts;
}
