// The kube-dns ConfigMap as node-cache reads it: a mounted directory with the files
// `stubDomains` (JSON {"domain": ["ip[:port]", ...]}) and `upstreamNameservers` (JSON
// ["ip[:port]", ...], at most 3). A bad value throws SetupError('configmap') so the caller counts
// coredns_nodecache_setup_errors_total{errortype="configmap"} and keeps its previous config.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../errors.js';
import { parseHostPort } from './flags.js';

export const DEFAULT_KUBEDNS_DIR = '/etc/kube-dns';

export interface KubeDnsConfig {
  /** Sorted by domain, so the rendered Corefile (and its hash) is stable. */
  stubDomains: { domain: string; servers: string[] }[];
  upstreamNameservers: string[];
}

export function emptyKubeDnsConfig(): KubeDnsConfig {
  return { stubDomains: [], upstreamNameservers: [] };
}

/** -kubednscm, else /etc/kube-dns when it exists (node-cache), else none. */
export function kubeDnsDir(flagValue: string, defaultDir = DEFAULT_KUBEDNS_DIR): string | null {
  if (flagValue !== '') return flagValue;
  return existsSync(defaultDir) ? defaultDir : null;
}

/** A missing directory or missing files mean "not configured", as with an optional ConfigMap. */
export function readKubeDnsDir(dir: string): KubeDnsConfig {
  const read = (name: string): string | undefined => {
    const p = join(dir, name);
    try {
      return statSync(p).isFile() ? readFileSync(p, 'utf8') : undefined;
    } catch {
      return undefined;
    }
  };
  return parseKubeDnsData({ stubDomains: read('stubDomains'), upstreamNameservers: read('upstreamNameservers') }, dir);
}

export function parseKubeDnsData(data: { stubDomains?: string; upstreamNameservers?: string }, source: string): KubeDnsConfig {
  const bad = (msg: string): never => {
    throw new SetupError('configmap', `kube-dns ConfigMap ${source}: ${msg}`);
  };
  const json = (key: string, text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      return bad(`${key}: invalid JSON: ${(e as Error).message}`);
    }
  };
  const out = emptyKubeDnsConfig();
  if (data.stubDomains !== undefined) {
    const v = json('stubDomains', data.stubDomains);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) bad('stubDomains: want a JSON object {"domain": ["ip", ...]}');
    for (const [domain, servers] of Object.entries(v as Record<string, unknown>)) {
      if (!isDns1123Subdomain(domain)) bad(`stubDomains: invalid domain name: ${JSON.stringify(domain)}`);
      if (!Array.isArray(servers) || servers.length === 0) bad(`stubDomains: ${domain}: want a non-empty list of nameservers`);
      for (const s of servers as unknown[]) {
        if (typeof s !== 'string' || !parseHostPort(s) || parseHostPort(s)!.host === 'localhost') {
          bad(`stubDomains: ${domain}: invalid nameserver ${JSON.stringify(s)} (want ip[:port])`);
        }
      }
      out.stubDomains.push({ domain, servers: servers as string[] });
    }
    out.stubDomains.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  }
  if (data.upstreamNameservers !== undefined) {
    const v = json('upstreamNameservers', data.upstreamNameservers);
    if (!Array.isArray(v)) bad('upstreamNameservers: want a JSON list ["ip[:port]", ...]');
    const list = v as unknown[];
    if (list.length > 3) bad('upstreamNameserver cannot have more than three entries');
    for (const s of list) {
      if (typeof s !== 'string' || !parseHostPort(s) || parseHostPort(s)!.host === 'localhost') {
        bad(`upstreamNameservers: invalid nameserver ${JSON.stringify(s)} (want ip[:port])`);
      }
    }
    out.upstreamNameservers = list as string[];
  }
  return out;
}

/** Kubernetes' IsDNS1123Subdomain: lowercase labels of [a-z0-9-], alphanumeric at both ends. */
function isDns1123Subdomain(s: string): boolean {
  return s.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s);
}
