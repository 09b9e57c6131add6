// Is the agent running, and if not, what do pods on this node get? Running = a UDP socket on a
// local IP's DNS port in this namespace. Down with its rules and addresses left behind (a crash,
// an OOM kill, -skipteardown) is the worst case: the node still sends pods' DNS to a listener that
// is gone. Down and torn down: pods get whatever answers those IPs now (kube-dns through
// kube-proxy for the ClusterIP in transparent mode, nothing for a link-local IP).
import { leftBehind, type SetupInPlace } from './check-node.js';
import type { Reach } from './check-dns.js';
import { describe } from './dns-probe.js';
import { listensOn } from './listeners.js';
import type { Plan } from './plan.js';
import { result, type CheckResult } from './types.js';

export function agentListening(plan: Plan, listeners: string[]): string[] {
  return plan.localIps.filter((ip) => listensOn(ip, listeners));
}

export function checkAgent(plan: Plan, listening: string[], local: Reach[], inPlace: SetupInPlace | Error): CheckResult {
  const command = `ss -ulpn 'sport = :${plan.port}'; kubectl -n kube-system get pods -l k8s-app=node-local-dns -o wide`;
  if (listening.length > 0) return result('agent', 'ok', `UDP socket on ${listening.map((ip) => `${ip}:${plan.port}`).join(', ')} (/proc/net/udp)`, command);
  const nowAnswer = local.map((r) => `${r.host} udp ${describe(r.udp)}`).join('; ');
  const silent = local.filter((r) => !r.udp.ok).map((r) => r.host);
  const left = leftBehind(inPlace);
  if (left !== '')
    return result('agent', 'fail', `not running: nothing listens on ${plan.localIps.join(', ')} port ${plan.port}, but ${left} are still in place; pods asking them now get: ${nowAnswer}`, command,
      'pods on this node get no DNS: start the agent (kubectl -n kube-system rollout restart ds/node-local-dns; see why it stopped: kubectl logs --previous), or remove what it left (ip link del nodelocaldns; iptables-save | grep "NodeLocal DNS Cache")');
  if (silent.length > 0)
    return result('agent', 'fail', `not running, nothing of it left; pods asking its IPs now get: ${nowAnswer}`, command,
      `pods whose nameserver is ${silent.join(', ')} get no DNS: start the agent, or point kubelet --cluster-dns at kube-dns`);
  return result('agent', 'warn', `not running, nothing of it left; pods asking its IPs now get: ${nowAnswer}`, command,
    'pods fall back to kube-dns (no cache, DNS through conntrack again): start the agent');
}
