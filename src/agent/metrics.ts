// The agent's own series: panics, the plugins each server block enables, node setup errors and
// reloads (CoreDNS core/dnsserver, plugin/reload, node-cache's setup counter).
import { reloadVersionInfo } from '../config/hash.js';
import type { AgentConfig, ServerBlockConfig } from '../config/types.js';
import { family, type Family, type Labels } from '../observe/exposition.js';

export const SETUP_ERROR_TYPES = ['iptables', 'iptables_lock', 'interface_add', 'interface_check', 'configmap'];

export interface AgentMetricsSource {
  readonly config: AgentConfig | null;
  readonly setupErrors: Record<string, number>;
  readonly reloadFailed: number;
  readonly panics: number;
  plugins(): { server: string; zone: string; name: string }[];
}

export function agentMetrics(src: AgentMetricsSource): Family[] {
  // Like CoreDNS, only when the reload plugin is in use; hashed once per configuration.
  let hashed: { cfg: AgentConfig; labels: Labels } | null = null;
  return [
    family('coredns_panics_total', 'A metrics that counts the number of panics.', 'counter', () => [{ labels: {}, value: src.panics }]),
    family('coredns_plugin_enabled', 'A metric that indicates whether a plugin is enabled on per server and zone basis.', 'gauge', () =>
      src.plugins().map((p) => ({ labels: { server: p.server, zone: p.zone, view: '', name: p.name }, value: 1 })),
    ),
    family('coredns_nodecache_setup_errors_total', 'The number of errors during periodic network setup for node-cache', 'counter', () =>
      Object.entries(src.setupErrors).map(([errortype, value]) => ({ labels: { errortype }, value })),
    ),
    family('coredns_reload_version_info', "A metric with a constant '1' value labeled by hash, and value which type of hash generated.", 'gauge', () => {
      const cfg = src.config;
      if (!cfg || !cfg.servers.some((s) => s.reload)) return [];
      if (hashed?.cfg !== cfg) hashed = { cfg, labels: reloadVersionInfo(cfg) };
      return [{ labels: hashed.labels, value: 1 }];
    }),
    family('coredns_reload_failed_total', 'Counter of the number of failed reload attempts.', 'counter', () => [{ labels: {}, value: src.reloadFailed }]),
  ];
}

const PLUGIN_NAMES = ['errors', 'cache', 'forward', 'log', 'loop', 'reload', 'prometheus', 'health', 'ready'] as const;

/** coredns_plugin_enabled of one server block: every plugin its config turns on, per server and zone. */
export function enabledPlugins(cfg: ServerBlockConfig, servers: string[]): { server: string; zone: string; name: string }[] {
  const names = PLUGIN_NAMES.filter((n) => {
    const v = (cfg as unknown as Record<string, unknown>)[n];
    return v !== null && v !== false && !(typeof v === 'object' && v !== null && 'enabled' in v && !(v as { enabled: boolean }).enabled);
  });
  return servers.flatMap((server) => cfg.zones.flatMap((zone) => names.map((name) => ({ server, zone, name }))));
}
