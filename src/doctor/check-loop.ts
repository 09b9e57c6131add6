// Forwarding loops the way they happen on nodes: the node's resolv.conf (the agent's "."
// upstreams, and what dnsPolicy Default pods such as CoreDNS get) names the agent itself, or an
// upstream in the Corefile is one of the agent's own addresses. 127.0.0.53 (systemd-resolved's
// stub) is the classic CoreDNS loop: inside a pod it is the pod's own loopback.
import { readResolvConf } from '../config/resolvconf.js';
import type { Plan } from './plan.js';
import { result, type CheckResult } from './types.js';

const RESOLVED_STUB = '127.0.0.53';

export function checkLoop(plan: Plan): CheckResult {
  const command = `cat ${plan.nodeResolv}; grep -n forward ${plan.flags.conf || 'Corefile'}`;
  let nameservers: string[];
  try {
    nameservers = readResolvConf(plan.nodeResolv).map((a) => a.host);
  } catch (e) {
    return result('loop', 'warn', `cannot read ${plan.nodeResolv}: ${(e as Error).message}`, command, 'pass --node-resolv FILE (the node\'s resolv.conf)');
  }
  const selfNs = nameservers.filter((ns) => plan.localIps.includes(ns));
  const selfUp = plan.upstreams.filter((u) => plan.localIps.includes(u.host) && u.port === plan.port);
  const read = `${plan.nodeResolv}: nameserver ${nameservers.join(', ') || '-'}; upstreams ${plan.upstreams.map((u) => `${u.host}:${u.port}`).join(', ') || '-'}`;
  if (selfNs.length > 0 || selfUp.length > 0)
    return result('loop', 'fail', `forwarding loop: ${[...new Set([...selfNs, ...selfUp.map((u) => u.host)])].join(', ')} is the agent itself [${read}]`, command,
      'the agent forwards to itself (queries circle until they time out; CoreDNS\'s loop plugin stops on it): point the node\'s resolv.conf and the forward lines at the real resolvers, and kubelet --resolv-conf at a file without the agent');
  if (nameservers.includes(RESOLVED_STUB))
    return result('loop', 'warn', `${RESOLVED_STUB} (systemd-resolved stub) in ${plan.nodeResolv} [${read}]`, command,
      'in pods with dnsPolicy Default (CoreDNS) it is the pod\'s own loopback: a loop; set kubelet --resolv-conf=/run/systemd/resolve/resolv.conf');
  return result('loop', 'ok', read, command);
}
