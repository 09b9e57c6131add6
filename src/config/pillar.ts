// node-cache's template rendering (cmd/node-cache/app/configmap.go updateCorefile): the
// node-local-dns ConfigMap's Corefile.base with __PILLAR__ variables → the Corefile to serve.
import { ConfigError } from '../errors.js';
import type { KubeDnsConfig } from './kubedns.js';

export const UPSTREAM_SERVERS = '__PILLAR__UPSTREAM__SERVERS__';
export const CLUSTER_DNS = '__PILLAR__CLUSTER__DNS__';
export const LOCAL_DNS = '__PILLAR__LOCAL__DNS__';
export const DNS_SERVER = '__PILLAR__DNS__SERVER__';
export const DNS_DOMAIN = '__PILLAR__DNS__DOMAIN__';
export const PROMETHEUS_ENDPOINT = '__PROMETHEUS__ENDPOINT__';

// Byte-exact copies of node-cache's blocks: the TCP→UDP swap only matches this indentation.
const UPSTREAM_TCP_BLOCK = `\n    forward . ${UPSTREAM_SERVERS} {\n            force_tcp\n    }\n`;
const UPSTREAM_UDP_BLOCK = `\n    forward . ${UPSTREAM_SERVERS}\n`;

export interface PillarInputs {
  base: string;
  localIps: string[];
  dnsPort: number;
  /** ClusterIP of -upstreamsvc, null when its env variable is missing or not an IP. */
  clusterDns: string | null;
  /** Env variable that should have held it, for the error message. */
  clusterDnsEnv: string;
  kubeDns: KubeDnsConfig;
  resolvConfPath: string;
  prometheusListenAddress: string;
  /** Our addition: a __PILLAR__DNS__DOMAIN__ nobody replaced at deploy time. */
  dnsDomain?: string;
  /** For errors: the template's path. */
  source: string;
}

/** node-cache's toSvcEnv: "kube-dns-upstream" → KUBE_DNS_UPSTREAM_SERVICE_HOST. */
export function serviceHostEnv(svc: string): string {
  return svc.replace(/-/g, '_').toUpperCase() + '_SERVICE_HOST';
}

export function renderCorefile(p: PillarInputs): string {
  let text = p.base;
  const upstream = p.kubeDns.upstreamNameservers.join(' ');
  if (upstream === '') {
    // No custom upstreams: forward reads the node's resolv.conf (over the client's protocol).
    text = text.split(UPSTREAM_SERVERS).join(p.resolvConfPath);
  } else {
    // Custom upstreams are reached over UDP: node-cache turns a force_tcp block into a plain one.
    text = text.split(UPSTREAM_TCP_BLOCK).join(UPSTREAM_UDP_BLOCK);
    text = text.split(UPSTREAM_SERVERS).join(upstream);
  }
  if (text.includes(CLUSTER_DNS)) {
    if (p.clusterDns === null) {
      throw new ConfigError(`${p.source}:${lineOf(text, CLUSTER_DNS)}`, `${CLUSTER_DNS} needs the upstream service's ClusterIP, but env ${p.clusterDnsEnv} is not set to an IP address`);
    }
    text = text.split(CLUSTER_DNS).join(p.clusterDns);
  }
  // `__PILLAR__LOCAL__DNS__:8080` (health) takes one address; node-cache pasted the whole list
  // there, which CoreDNS rejects with two local IPs. Ours: the first IP, like the liveness probe.
  text = text.split(LOCAL_DNS + ':').join((p.localIps[0] ?? '') + ':');
  text = text.split(LOCAL_DNS).join(p.localIps.join(' '));
  text = text.split(DNS_SERVER).join('');
  text = text.split(DNS_DOMAIN).join(p.dnsDomain ?? 'cluster.local');
  text = text.split(PROMETHEUS_ENDPOINT).join(p.prometheusListenAddress);
  return text + stubBlocks(p);
}

/** One block per stub domain, node-cache's stubDomainBlock, in domain order. */
function stubBlocks(p: PillarInputs): string {
  let out = '';
  for (const { domain, servers } of p.kubeDns.stubDomains) {
    out += `\n${domain}:${p.dnsPort} {\n    errors\n    cache 30\n    bind ${p.localIps.join(' ')}\n    forward . ${servers.join(' ')}\n}\n`;
  }
  return out;
}

function lineOf(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split('\n').length;
}
