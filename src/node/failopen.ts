// Fail-open for the link-local address when no process of ours runs (SIGKILL of the whole pod,
// OOM kill of the supervisor too). Pods whose only nameserver is 169.254.20.10 would otherwise
// get no DNS until the kubelet restarts us, after CrashLoopBackOff delays.
//
// A nat chain of our own DNATs the link-local address's port 53 to kube-dns's endpoints, copied
// from kube-proxy's iptables-mode chains at every sync (KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-…
// for the kube-dns ClusterIP among -localip). It needs no condition on our process: while our
// socket is bound, the raw table's NOTRACK (rules.ts, `-m socket`) keeps the packets out of
// conntrack, and untracked packets never reach the nat table. With no socket, they are tracked
// and DNATed. We copy the endpoints rather than jump to kube-proxy's chain: kube-proxy deletes
// that chain when kube-dns has no endpoints, and a reference from our rule makes its
// iptables-restore fail (EBUSY) for that and every later sync. The copy is as fresh as the last
// sync (-syncinterval) before we died.
import { canonicalIp, familyOf, hostPrefix, type Family } from './ipaddr.js';
import type { Rule } from './rules.js';

export const FAILOPEN_CHAIN = 'NODELOCALDNS-FAILOPEN';
// Not node-cache's comment: these rules are ours alone, and tools that count node-cache's rules by
// their comment (ours included) must not count them.
export const COMMENT_FAILOPEN = 'nodelocaldns fail-open: to kube-dns while no agent runs';

export interface KubeDnsEndpoints {
  udp: string[]; // ip:port as in kube-proxy's --to-destination
  tcp: string[];
}

/**
 * kube-dns's endpoints for the ClusterIPs in `clusterIps` (port `dnsPort`), read from an
 * `iptables-save -t nat` listing; empty lists when kube-proxy has no such chains (IPVS or
 * nftables mode, or kube-dns has no endpoints).
 */
export function kubeDnsEndpoints(natSave: string, clusterIps: string[], dnsPort: number): KubeDnsEndpoints {
  const lines = natSave.split('\n');
  const out: KubeDnsEndpoints = { udp: [], tcp: [] };
  const targets = new Set(clusterIps.map((ip) => `${canonicalIp(ip)}${hostPrefix(ip)}`));
  for (const proto of ['udp', 'tcp'] as const) {
    const svc = lines
      .filter((l) => l.startsWith('-A KUBE-SERVICES ') && l.includes(` -p ${proto} `) && new RegExp(` --dport ${dnsPort}( |$)`).test(l))
      .map((l) => ({ dest: / -d (\S+)/.exec(l)?.[1], chain: / -j (KUBE-SVC-\S+)/.exec(l)?.[1] }))
      .find((r) => r.dest !== undefined && targets.has(r.dest) && r.chain !== undefined)?.chain;
    if (!svc) continue;
    const seps = lines.filter((l) => l.startsWith(`-A ${svc} `)).map((l) => / -j (KUBE-SEP-\S+)/.exec(l)?.[1]).filter((c): c is string => c !== undefined);
    for (const sep of seps) {
      const to = lines.filter((l) => l.startsWith(`-A ${sep} `)).map((l) => / --to-destination (\S+)/.exec(l)?.[1]).find((d) => d !== undefined);
      if (to) out[proto].push(to);
    }
  }
  return out;
}

/**
 * `iptables-restore --noflush` input that (re)writes our chain: one rule per endpoint and
 * protocol, spread at random as kube-proxy spreads them (the i-th of n with probability 1/(n-i)).
 */
export function failOpenRestore(eps: KubeDnsEndpoints): string {
  const rules: string[] = [];
  for (const proto of ['udp', 'tcp'] as const) {
    const list = eps[proto];
    list.forEach((to, i) => {
      const left = list.length - i;
      const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(11)}` : '';
      rules.push(`-A ${FAILOPEN_CHAIN} -p ${proto}${pick} -j DNAT --to-destination ${to}`);
    });
  }
  return ['*nat', `:${FAILOPEN_CHAIN} - [0:0]`, ...rules, 'COMMIT', ''].join('\n');
}

/** The hooks: nat PREROUTING sends the link-local address's port `dnsPort` to our chain. */
export function failOpenHooks(linkLocalIps: string[], dnsPort: number): Rule[] {
  const out: Rule[] = [];
  for (const ip of linkLocalIps) {
    const family: Family = familyOf(ip);
    for (const p of ['tcp', 'udp'] as const) {
      out.push({
        family,
        table: 'nat',
        chain: 'PREROUTING',
        args: ['-p', p, '-d', ip, '--dport', String(dnsPort), '-j', FAILOPEN_CHAIN, '-m', 'comment', '--comment', COMMENT_FAILOPEN],
        saved: `-A PREROUTING -d ${canonicalIp(ip)}${hostPrefix(ip)} -p ${p} -m ${p} --dport ${dnsPort} -m comment --comment "${COMMENT_FAILOPEN}" -j ${FAILOPEN_CHAIN}`,
      });
    }
  }
  return out;
}
