// node-cache's rules, per local IP, in its order and with its comments: NOTRACK so DNS to the
// agent never enters conntrack (no DNAT race, no table-full drops), ACCEPT because stateful
// filter rules no longer see those packets as ESTABLISHED. Each rule also has the line
// `iptables -S` prints for it, so listings can be counted (duplicates, flaky -C).
//
// One departure, so that a dead agent (SIGKILL, OOM kill: no handler runs, nothing is torn down)
// does not take the node's DNS with it: the PREROUTING NOTRACK pair matches only while a socket
// of ours is bound to the address (`-m socket`: a socket lookup per packet, done in the raw table
// before conntrack). Without one, pods' packets are tracked again: to the kube-dns ClusterIP they
// meet kube-proxy's DNAT, to any other local IP the fail-open rule below sends them through
// kube-proxy's own service chain for kube-dns. node-cache leaves both dark until it is restarted.
import { createHash } from 'node:crypto';
import { canonicalIp, familyOf, hostPrefix, type Family } from './ipaddr.js';

export const COMMENT_SKIP = 'NodeLocal DNS Cache: skip conntrack';
export const COMMENT_ALLOW = 'NodeLocal DNS Cache: allow DNS traffic';
export const COMMENT_FAIL_OPEN = 'NodeLocal DNS Cache: fail open to kube-dns';

export type Table = 'raw' | 'filter' | 'nat';

export interface Rule {
  family: Family;
  table: Table;
  chain: string;
  /** Arguments after `-t table -C|-I|-D chain`. */
  args: string[];
  /** The rule as `iptables -S` prints it, to count it in a listing. */
  saved: string;
  /** A chain of kube-proxy's the rule jumps to: installed only while that chain exists. */
  needsChain?: string;
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

/** The Service whose kube-proxy chains a dead agent's traffic falls back to. */
export interface FailOpenService {
  namespace: string;
  name: string;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * kube-proxy's (iptables mode) chain for one service port: `KUBE-SVC-` and the first 16
 * characters of base32(sha256("namespace/name:portname" + protocol)). The kube-dns Service names
 * its ports `dns` (UDP) and `dns-tcp` (TCP) in every cluster add-on manifest.
 */
export function kubeServiceChain(svc: FailOpenService, portName: string, proto: 'udp' | 'tcp'): string {
  const digest = createHash('sha256').update(`${svc.namespace}/${svc.name}:${portName}${proto}`).digest();
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of digest) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return `KUBE-SVC-${out}`;
}

function failOpen(family: Family, proto: 'tcp' | 'udp', ip: string, port: number, svc: FailOpenService): Rule {
  const target = kubeServiceChain(svc, proto === 'udp' ? 'dns' : 'dns-tcp', proto);
  return {
    family,
    table: 'nat',
    chain: 'PREROUTING',
    args: ['-p', proto, '-d', ip, '--dport', String(port), '-j', target, '-m', 'comment', '--comment', COMMENT_FAIL_OPEN],
    saved: `-A PREROUTING -d ${canonicalIp(ip)}${hostPrefix(ip)} -p ${proto} -m ${proto} --dport ${port} -m comment --comment "${COMMENT_FAIL_OPEN}" -j ${target}`,
    needsChain: target,
  };
}

/**
 * Fourteen rules per IP: five UDP+TCP pairs (PREROUTING's NOTRACK pair conditional on our
 * socket), the two TCP health-port rules, and the nat pair that fails open to `failOpenTo`.
 */
export function nodeCacheRules(localIps: string[], dnsPort: number, healthPort: number, failOpenTo: FailOpenService): Rule[] {
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
    // Untracked packets skip the nat table: these see only what arrives while no socket is bound.
    for (const p of ['tcp', 'udp'] as const) out.push(failOpen(f, p, ip, dnsPort, failOpenTo));
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
