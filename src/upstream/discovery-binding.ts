// Applies the discovered upstream set to every forwarder that targets the upstream Service, now
// and after each reload (a reload builds new forwarders from the config, which name the Service
// IP; a periodic reconcile hands them the discovered set within `intervalMs`).
import { inClusterConfig, type InCluster } from '../config/in-cluster.js';
import type { UpstreamAddress } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { EndpointSliceDiscovery } from './discovery.js';
import type { Forwarder } from './forwarder.js';

export interface ForwarderSource {
  forwarders(): { forwarder: Forwarder }[];
}

export interface DiscoveryBinding {
  /** The discovered ready set, or null for the Service IP. */
  update(ready: UpstreamAddress[] | null): void;
  stop(): void;
}

export function bindDiscovery(source: ForwarderSource, isTarget: (f: Forwarder) => boolean, intervalMs = 1_000): DiscoveryBinding {
  let current: UpstreamAddress[] | null = null;
  const same = (f: Forwarder): boolean => {
    const want = current && current.length > 0 ? current : f.cfg.to;
    const have = f.activeAddresses;
    return have.length === want.length && want.every((a) => have.some((h) => h.host === a.host && h.port === a.port));
  };
  const apply = (): void => {
    for (const { forwarder } of source.forwarders()) if (isTarget(forwarder) && !same(forwarder)) forwarder.setUpstreams(current);
  };
  const timer = setInterval(apply, intervalMs);
  timer.unref();
  return {
    update(ready) {
      current = ready;
      apply();
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/**
 * -endpointslices: discover the pods behind `service` (node-cache's -upstreamsvc) and hand them
 * to the forwarders that name its ClusterIP (<SERVICE>_SERVICE_HOST). Not in a cluster: logged,
 * and the agent keeps using the Service IP.
 */
export function startEndpointSliceDiscovery(source: ForwarderSource, service: string, env: NodeJS.ProcessEnv, log: Logger): { stop(): Promise<void> } | null {
  let cluster: InCluster;
  try {
    cluster = inClusterConfig(env, service);
  } catch (err) {
    log.error('EndpointSlice discovery disabled, using the Service IP', { service, err });
    return null;
  }
  const { serviceHost, ...opts } = cluster;
  const binding = bindDiscovery(source, (f) => f.cfg.to.some((a) => a.host === serviceHost));
  const disc = new EndpointSliceDiscovery({ ...opts, dnsPort: 53, portName: 'dns-tcp', log, onChange: (ready) => binding.update(ready) });
  disc.start();
  return {
    async stop() {
      binding.stop();
      await disc.stop();
    },
  };
}
