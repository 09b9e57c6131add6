// The agent's node setup (node-cache's NOTRACK/ACCEPT rules and the local IPs on the node) and
// kube-proxy's mode, judged from NodeFacts.
import type { Flags } from '../config/flags.js';
import { binary } from '../node/backend.js';
import { countSaved, nodeCacheRules } from '../node/rules.js';
import { interfaceOf, type NodeFacts } from './node-facts.js';
import { result, type CheckResult } from './types.js';

export interface SetupInPlace {
  rules: { present: number; wanted: number; missing: string[]; duplicated: number };
  addrs: { present: string[]; missing: string[] };
}

export function setupInPlace(flags: Flags, facts: NodeFacts): SetupInPlace | Error {
  const localIps = flags.localip;
  const wanted = flags.setupiptables ? nodeCacheRules(localIps, flags.dnsPort || 53, flags.healthPort) : [];
  const missing: string[] = [];
  let present = 0;
  let duplicated = 0;
  for (const family of [4, 6] as const) {
    const mine = wanted.filter((r) => r.family === family);
    if (mine.length === 0) continue;
    const saved = facts.saved[family];
    if (saved instanceof Error) return saved;
    for (const [line, n] of countSaved(saved, mine)) {
      if (n === 0) missing.push(line);
      else present++;
      if (n > 1) duplicated += n - 1;
    }
  }
  if (facts.addrs instanceof Error) return facts.addrs;
  const addrs = facts.addrs;
  const onNode = flags.setupinterface ? localIps.filter((ip) => interfaceOf(addrs, ip) !== null) : [];
  const absent = flags.setupinterface ? localIps.filter((ip) => interfaceOf(addrs, ip) === null) : [];
  return { rules: { present, wanted: wanted.length, missing, duplicated }, addrs: { present: onNode, missing: absent } };
}

export function checkRules(flags: Flags, facts: NodeFacts, inPlace: SetupInPlace | Error, agentUp: boolean): CheckResult {
  const save = `${binary(facts.backend, 4)}-save | grep 'NodeLocal DNS Cache'; ip addr show ${flags.interfacename}`;
  if (inPlace instanceof Error) return result('node-rules', 'fail', `cannot read: ${inPlace.message}`, save, 'run the doctor as root or with NET_ADMIN (iptables-save needs it)');
  if (flags.localip.length === 0 || (!flags.setupiptables && !flags.setupinterface))
    return result('node-rules', 'skip', 'no -localip, or -setupiptables=false -setupinterface=false: the agent sets nothing up', save);
  const { rules, addrs } = inPlace;
  const evidence = `${facts.backend}: ${rules.present}/${rules.wanted} NOTRACK/ACCEPT rules, ${rules.duplicated} duplicate copies; addresses on the node: ${addrs.present.join(', ') || 'none'}${addrs.missing.length ? `, missing ${addrs.missing.join(', ')}` : ''}`;
  if (!agentUp) return result('node-rules', 'skip', `agent not running (see agent): ${evidence}`, save);
  if (rules.missing.length > 0 || addrs.missing.length > 0) {
    const lines = rules.missing.slice(0, 3).join(' ; ') + (rules.missing.length > 3 ? ` ; +${rules.missing.length - 3} more` : '');
    return result('node-rules', 'fail', `${evidence}${lines ? `; missing: ${lines}` : ''}`, save,
      'without NOTRACK, DNS to the agent goes through conntrack (insert races, table-full drops); the agent re-adds them every -syncinterval: check its log for "iptables rules incomplete" and setup_errors_total');
  }
  if (rules.duplicated > 0) return result('node-rules', 'warn', evidence, save, 'duplicates slow every packet down the chain; the agent removes them on its next sync, check it runs one');
  return result('node-rules', 'ok', evidence, save);
}

export function checkKubeProxy(flags: Flags, facts: NodeFacts): CheckResult {
  const command = `${binary(facts.backend, 4)}-save -t nat | grep -c KUBE-SERVICES; ip link show kube-ipvs0`;
  if (facts.saved[4] instanceof Error) return result('kube-proxy', 'skip', `cannot read: ${facts.saved[4].message}`, command, 'run the doctor as root or with NET_ADMIN');
  // Both families: an IPv6-only cluster has its Service chains in ip6tables alone.
  const iptablesMode = [facts.saved[4], facts.saved[6]].some((saved) => typeof saved === 'string' && /^:KUBE-SERVICES /m.test(saved));
  const ipvs = facts.addrs instanceof Error ? null : facts.addrs.get('kube-ipvs0') ?? null;
  if (ipvs) {
    const clash = flags.localip.filter((ip) => ipvs.includes(ip));
    if (clash.length > 0)
      return result('kube-proxy', 'fail', `IPVS mode: kube-ipvs0 holds ${clash.join(', ')}, also in -localip`, command,
        'in IPVS mode IPVS answers the ClusterIP before the agent: pass only the link-local IP in -localip and set kubelet --cluster-dns to it');
    return result('kube-proxy', 'ok', `IPVS mode: kube-ipvs0 with ${ipvs.length} addresses`, command);
  }
  if (iptablesMode) return result('kube-proxy', 'ok', `iptables mode (${facts.backend}): KUBE-SERVICES in the nat table`, command);
  return result('kube-proxy', 'warn', `no KUBE-SERVICES chain (${facts.backend}) and no kube-ipvs0: kube-proxy in nftables mode, a replacement (e.g. Cilium), or not running`, `${command}; nft list table ip kube-proxy`,
    'the ClusterIP path is not kube-proxy\'s iptables: with the agent in transparent mode, check that the replacement does not intercept the ClusterIP before the agent');
}

/** What of the agent's setup is on the node, in words; "" when nothing is. */
export function leftBehind(inPlace: SetupInPlace | Error): string {
  if (inPlace instanceof Error) return '';
  const parts = [];
  if (inPlace.rules.present > 0) parts.push(`${inPlace.rules.present} NOTRACK/ACCEPT rules`);
  if (inPlace.addrs.present.length > 0) parts.push(`addresses ${inPlace.addrs.present.join(', ')}`);
  return parts.join(' and ');
}
