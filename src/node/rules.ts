// node-cache's rules, per local IP, in its order and with its comments: NOTRACK so DNS to the
// agent never enters conntrack (no DNAT race, no table-full drops), ACCEPT because stateful
// filter rules no longer see those packets as ESTABLISHED. Each rule also has the line
// `iptables -S` prints for it, so listings can be counted (duplicates, flaky -C).
import { canonicalIp, familyOf, hostPrefix, type Family } from './ipaddr.js';

export const COMMENT_SKIP = 'NodeLocal DNS Cache: skip conntrack';
export const COMMENT_ALLOW = 'NodeLocal DNS Cache: allow DNS traffic';

export type Table = 'raw' | 'filter';

export interface Rule {
  family: Family;
  table: Table;
  chain: string;
  /** Arguments after `-t table -C|-I|-D chain`. */
  args: string[];
  /** The rule as `iptables -S` prints it, to count it in a listing. */
  saved: string;
}

function rule(family: Family, table: Table, chain: string, proto: 'tcp' | 'udp', dir: 's' | 'd', ip: string, port: number, target: 'NOTRACK' | 'ACCEPT'): Rule {
  const comment = target === 'NOTRACK' ? COMMENT_SKIP : COMMENT_ALLOW;
  const portFlag = dir === 'd' ? '--dport' : '--sport';
  return {
    family,
    table,
    chain,
    args: ['-p', proto, `-${dir}`, ip, portFlag, String(port), '-j', target, '-m', 'comment', '--comment', comment],
    saved: `-A ${chain} -${dir} ${canonicalIp(ip)}${hostPrefix(ip)} -p ${proto} -m ${proto} ${portFlag} ${port} -m comment --comment "${comment}" -j ${target}`,
  };
}

/** Twelve rules per IP: five UDP+TCP pairs and the two TCP health-port rules. */
export function nodeCacheRules(localIps: string[], dnsPort: number, healthPort: number): Rule[] {
  const out: Rule[] = [];
  for (const ip of localIps) {
    const f = familyOf(ip);
    for (const p of ['tcp', 'udp'] as const) out.push(rule(f, 'raw', 'PREROUTING', p, 'd', ip, dnsPort, 'NOTRACK'));
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

/** How many times each line of `wanted` occurs in an `iptables -S` listing. */
export function countSaved(listing: string, wanted: Rule[]): Map<string, number> {
  const counts = new Map<string, number>(wanted.map((r) => [r.saved, 0]));
  for (const line of listing.split('\n')) {
    const n = counts.get(line.trimEnd());
    if (n !== undefined) counts.set(line.trimEnd(), n + 1);
  }
  return counts;
}
