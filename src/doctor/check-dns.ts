// Real DNS over UDP and TCP: is the agent there, does each local IP answer, does each upstream,
// and does a big answer come back truncated over UDP and whole over TCP.
import { TYPE_NS, TYPE_SOA } from '../dns/constants.js';
import { describe, tcpExchange, udpExchange, type Exchange, type Query } from './dns-probe.js';
import type { Plan, UpstreamTarget } from './plan.js';
import { result, type CheckResult, type Status } from './types.js';
import { joinHostPort } from '../config/flags.js';

const STATUS_PROBE: Query = { name: '.', qtype: TYPE_NS, status: true };

export interface Reach {
  host: string;
  port: number;
  udp: Exchange;
  tcp: Exchange;
}

async function both(host: string, port: number, q: Query, timeoutMs: number): Promise<Reach> {
  const [udp, tcp] = await Promise.all([udpExchange(host, port, q, timeoutMs), tcpExchange(host, port, q, timeoutMs)]);
  return { host, port, udp, tcp };
}

/** Each local IP with a query the listener answers itself (OPCODE STATUS → NOTIMP): no upstream involved. */
export function probeLocalIps(plan: Plan): Promise<Reach[]> {
  return Promise.all(plan.localIps.map((ip) => both(ip, plan.port, STATUS_PROBE, plan.timeoutMs)));
}

/** A zone's SOA, ". NS" for the root (what the forwarder's health check asks): any reply is reachable. */
function upstreamQuery(u: UpstreamTarget): Query {
  const zone = u.zones.find((z) => z !== '.');
  return zone ? { name: zone, qtype: TYPE_SOA } : { name: '.', qtype: TYPE_NS };
}

export function probeUpstreams(plan: Plan): Promise<Reach[]> {
  return Promise.all(plan.upstreams.map((u) => both(u.host, u.port, upstreamQuery(u), plan.timeoutMs)));
}

const reachText = (r: Reach): string => `${joinHostPort(r.host, r.port)} udp ${describe(r.udp)}, tcp ${describe(r.tcp)}`;

export function checkLocalIps(plan: Plan, reach: Reach[], agentUp: boolean): CheckResult {
  const ip = plan.localIps[0] ?? '127.0.0.1';
  const command = `dig @${ip} -p ${plan.port} +opcode=status; dig @${ip} -p ${plan.port} +tcp +opcode=status`;
  if (!agentUp) return result('local-ips', 'skip', 'agent not running (see agent)', command);
  const bad = reach.filter((r) => !r.udp.ok || !r.tcp.ok);
  const evidence = reach.map(reachText).join('; ');
  if (bad.length === 0) return result('local-ips', 'ok', evidence, command);
  return result('local-ips', 'fail', evidence, command,
    `the agent runs but ${bad.map((r) => joinHostPort(r.host, r.port)).join(', ')} does not answer: check the address is on the node (ip addr), the agent's bind addresses, and filter rules (iptables -S INPUT)`);
}

function judgeUpstream(u: UpstreamTarget, r: Reach): Status {
  if (!r.udp.ok && !r.tcp.ok) return 'fail';
  if (!r.udp.ok) return u.tcpOnly ? 'warn' : 'fail';
  if (!r.tcp.ok) return u.tcpOnly ? 'fail' : 'warn';
  return 'ok';
}

export function checkUpstreams(plan: Plan, reach: Reach[]): CheckResult {
  const first = plan.upstreams[0];
  const q = first && upstreamQuery(first);
  const command = first && q ? `dig @${first.host} -p ${first.port} ${q.name} ${q.qtype === TYPE_SOA ? 'SOA' : 'NS'} +notcp; … +tcp` : 'grep forward Corefile';
  if (plan.upstreams.length === 0) return result('upstreams', 'skip', 'no forward in the Corefile', command);
  const statuses = plan.upstreams.map((u, i) => judgeUpstream(u, reach[i]!));
  const evidence = plan.upstreams.map((u, i) => `${reachText(reach[i]!)} [${u.zones.join(' ')}${u.tcpOnly ? ', agent uses TCP' : ''}]`).join('; ');
  const worst: Status = statuses.includes('fail') ? 'fail' : statuses.includes('warn') ? 'warn' : 'ok';
  if (worst === 'ok') return result('upstreams', 'ok', evidence, command);
  const udpOnlyLost = reach.some((r) => !r.udp.ok && r.tcp.ok);
  const tcpOnlyLost = reach.some((r) => r.udp.ok && !r.tcp.ok);
  const action = udpOnlyLost
    ? 'UDP to the upstream is dropped while TCP answers: a firewall, security group or NAT in the path; open UDP 53 (or force_tcp in the Corefile\'s forward)'
    : tcpOnlyLost
      ? 'TCP to the upstream fails: truncated answers cannot be fetched; open TCP 53'
      : 'the upstream does not answer: check it runs (kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide) and the path to it';
  return result('upstreams', worst, evidence, command, action);
}

/** A big answer through the agent: TC over UDP without EDNS (512 B), then the whole over TCP. */
export async function checkBigAnswer(plan: Plan, agentUp: boolean, upstreamsOk: boolean): Promise<CheckResult> {
  const ip = plan.localIps[0] ?? '127.0.0.1';
  const q: Query = { name: plan.bigName, qtype: plan.bigType };
  const command = `dig @${ip} -p ${plan.port} ${plan.bigName} ${plan.bigTypeName} +noedns; … +tcp`;
  if (!agentUp) return result('big-answer', 'skip', 'agent not running (see agent)', command);
  const udp = await udpExchange(ip, plan.port, q, plan.timeoutMs);
  if (!udp.ok && !upstreamsOk) return result('big-answer', 'skip', `udp ${describe(udp)}: an upstream is unreachable (see upstreams)`, command);
  if (!udp.ok) return result('big-answer', 'fail', `udp ${describe(udp)}`, command, 'the agent does not answer this name over UDP: check its log');
  if (udp.outcome !== 'NOERROR')
    return result('big-answer', 'skip', `udp ${describe(udp)}: no answer to test with`, command, 'pass --big-query "NAME TYPE" with an answer over 512 bytes');
  if (!udp.truncated) {
    if (udp.bytes > 512) return result('big-answer', 'fail', `udp ${describe(udp)}: over 512 B without EDNS and without TC`, command, 'clients without EDNS get answers they may drop; report it with the agent version');
    return result('big-answer', 'skip', `udp ${describe(udp)}: fits in 512 B, nothing to truncate`, command, 'pass --big-query "NAME TYPE" with an answer over 512 bytes');
  }
  const tcp = await tcpExchange(ip, plan.port, q, plan.timeoutMs);
  const evidence = `udp ${describe(udp)}; tcp ${describe(tcp)}`;
  if (tcp.ok && tcp.outcome === 'NOERROR' && tcp.answers > 0) return result('big-answer', 'ok', evidence, command);
  return result('big-answer', 'fail', evidence, command, 'clients retry a truncated answer over TCP and get nothing: check TCP to the agent and from it to the upstream (upstreams line)');
}
