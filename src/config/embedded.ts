// The configuration used when neither -basecorefile nor -conf exists: enough to run the agent
// on a laptop (127.0.0.1:5353) or on a node with only flags (-localip, -upstream), without a
// Corefile. It is the typed equivalent of node-cache's template with the pillars filled in.
import { defaultForwardConfig, nodeCacheCacheConfig } from './defaults.js';
import { parseHostPort, type Flags } from './flags.js';
import type { AgentConfig, ServerBlockConfig, UpstreamAddress } from './types.js';

export const EMBEDDED_SOURCE = '<embedded>';
export const EMBEDDED_PORT = 5353; // unprivileged, so a developer can run it without root
export const CLUSTER_ZONES = ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'];

export function embeddedConfig(flags: Flags, resolvConfNameservers: UpstreamAddress[]): AgentConfig {
  const hasLocal = flags.localip.length > 0;
  const bind = hasLocal ? [...flags.localip] : ['127.0.0.1'];
  const port = flags.dnsPort || (hasLocal ? 53 : EMBEDDED_PORT);
  const prometheus = prometheusAddress(flags.prometheusListenAddress, hasLocal);
  const health = { host: bind[0]!, port: flags.healthPort, lameduckMs: flags.lameduckMs };

  const block = (zones: string[], to: UpstreamAddress[], forceTcp: boolean): ServerBlockConfig => {
    const forward = defaultForwardConfig('.', to);
    forward.forceTcp = forceTcp;
    return {
      zones,
      port,
      bind: [...bind],
      cache: nodeCacheCacheConfig(30),
      forward,
      log: { enabled: false },
      errors: { enabled: true, consolidate: [] },
      loop: true,
      reload: null, // nothing on disk to re-read
      prometheus: prometheus && { ...prometheus },
      health: null,
      ready: null,
      source: `${EMBEDDED_SOURCE}:${zones.join(',')}`,
    };
  };

  const servers: ServerBlockConfig[] = [];
  const upstream = flags.upstream.map((s) => parseHostPort(s)).filter((a) => a !== null);
  if (upstream.length > 0) {
    // One block per zone, as node-cache's template: cluster names over TCP to the cluster DNS.
    for (const zone of CLUSTER_ZONES) servers.push(block([zone], upstream, true));
  }
  // "." stays on the client's protocol: a UDP-only node resolver must keep working.
  servers.push(block(['.'], resolvConfNameservers, false));
  servers[0]!.health = health;
  return { servers, corefileText: '' };
}

/** ":9253" listens on loopback when the agent itself only listens on loopback. */
function prometheusAddress(addr: string, hasLocal: boolean): { host: string; port: number } | null {
  if (addr === '') return null;
  const hp = parseHostPort(addr, true, 9253);
  if (!hp) return null; // parseFlags already rejected malformed values
  if (hp.host === '' && !hasLocal) return { host: '127.0.0.1', port: hp.port };
  return hp;
}
