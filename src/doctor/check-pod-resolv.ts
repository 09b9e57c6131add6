// A pod's resolv.conf against what kubelet writes for dnsPolicy ClusterFirst on a node with the
// agent: the agent's IPs as nameservers, `<ns>.svc.<domain> svc.<domain> <domain>` first in
// search, ndots:5. glibc and musl read at most 3 nameservers; musl queries all of them at once
// (so a second, non-agent nameserver takes part in every lookup) and ignores single-request*.
import { readFileSync } from 'node:fs';
import { result, type CheckResult, type Status } from './types.js';

export interface PodResolv {
  nameservers: string[];
  search: string[];
  options: string[];
}

export function parsePodResolv(text: string): PodResolv {
  const out: PodResolv = { nameservers: [], search: [], options: [] };
  for (const raw of text.split('\n')) {
    const [key, ...rest] = raw.replace(/[#;].*$/, '').trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.nameservers.push(rest[0]);
    // The last search/domain line wins in both libcs.
    else if (key === 'search' || key === 'domain') out.search = rest;
    else if (key === 'options') out.options.push(...rest);
  }
  return out;
}

const KUBELET_NDOTS = 5;
const LIBC_NAMESERVERS = 3;
// glibc before 2.26 and kubelet before 1.28 stop at 6 domains; musl reads at most 255 characters.
const SEARCH_DOMAINS = 6;
const SEARCH_CHARS = 255;

export function judgePodResolv(r: PodResolv, localIps: string[], dnsDomain: string): { status: Status; evidence: string; action: string } {
  const problems: { status: Status; what: string; fix: string }[] = [];
  const ours = r.nameservers.filter((ns) => localIps.includes(ns));
  const others = r.nameservers.filter((ns) => !localIps.includes(ns));
  if (r.nameservers.length === 0) problems.push({ status: 'fail', what: 'no nameserver line', fix: 'check the pod\'s dnsPolicy/dnsConfig' });
  else if (ours.length === 0)
    problems.push({ status: 'fail', what: `no nameserver is the agent (${localIps.join(', ')}): queries bypass the cache`, fix: 'set kubelet --cluster-dns to the agent\'s IP, or run the agent in transparent mode (kube-dns ClusterIP in -localip)' });
  else if (others.length > 0)
    problems.push({ status: 'warn', what: `nameserver ${others.join(', ')} is not the agent: musl asks every nameserver at once, glibc falls over to it`, fix: 'list only the agent\'s IPs (transparent mode makes the ClusterIP the agent too)' });
  if (r.nameservers.length > LIBC_NAMESERVERS)
    problems.push({ status: 'warn', what: `${r.nameservers.length} nameservers: libc uses the first ${LIBC_NAMESERVERS}`, fix: 'trim dnsConfig.nameservers' });
  const ndotsOpt = r.options.find((o) => o.startsWith('ndots:'));
  const ndots = ndotsOpt ? Number(ndotsOpt.slice(6)) : 1;
  if (ndots !== KUBELET_NDOTS)
    problems.push({ status: 'warn', what: `ndots:${ndots} (kubelet writes ndots:${KUBELET_NDOTS}): names with ${ndots} or more dots, e.g. svc.ns, go out as absolute names before the search list`, fix: 'remove the ndots override from dnsConfig, or use fully qualified names with a trailing dot' });
  const domain = dnsDomain.replace(/\.$/, '');
  for (const want of [`svc.${domain}`, domain])
    if (!r.search.includes(want)) problems.push({ status: 'warn', what: `search lacks ${want}: short Service names do not resolve`, fix: 'check dnsPolicy (ClusterFirst) and kubelet --cluster-domain' });
  if (r.search.length > SEARCH_DOMAINS || r.search.join(' ').length > SEARCH_CHARS)
    problems.push({ status: 'warn', what: `search has ${r.search.length} domains, ${r.search.join(' ').length} characters: older glibc and musl drop what is past ${SEARCH_DOMAINS} domains / ${SEARCH_CHARS} characters`, fix: 'shorten dnsConfig.searches or the node\'s search list' });
  const read = `nameserver ${r.nameservers.join(',') || '-'}; search ${r.search.length} (${r.search.join(' ') || '-'}); ${ndotsOpt ?? 'ndots:1 (default)'}`;
  if (problems.length === 0) return { status: 'ok', evidence: read, action: '' };
  const status: Status = problems.some((p) => p.status === 'fail') ? 'fail' : 'warn';
  return { status, evidence: `${problems.map((p) => p.what).join('; ')} [${read}]`, action: problems.map((p) => p.fix).join('; ') };
}

export function checkPodResolv(path: string | null, localIps: string[], dnsDomain: string): CheckResult {
  const command = 'kubectl exec POD -- cat /etc/resolv.conf';
  if (path === null) return result('pod-resolv', 'skip', 'no --pod-resolv FILE given', command, 'save a pod\'s resolv.conf and pass --pod-resolv FILE');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return result('pod-resolv', 'fail', `cannot read ${path}: ${(e as Error).message}`, command);
  }
  const j = judgePodResolv(parsePodResolv(text), localIps, dnsDomain);
  return result('pod-resolv', j.status, j.evidence, command, j.action);
}
