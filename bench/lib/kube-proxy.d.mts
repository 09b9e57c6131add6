// Types for kube-proxy.mjs (the tests import it from TypeScript).
export interface ServicePort {
  name: string; // the Service's port name, e.g. "dns", "dns-tcp"
  protocol: 'udp' | 'tcp';
  port: number;
}

export interface ClusterService {
  namespace: string;
  name: string;
  clusterIp: string;
  ports: ServicePort[];
  /** Ready endpoint IPs; each port's targetPort is its port. */
  endpoints: string[];
}

export function serviceChain(namespace: string, name: string, port: ServicePort): string;
export function endpointChain(namespace: string, name: string, port: ServicePort, endpoint: string): string;
export function natTable(services: ClusterService[]): string;

export class KubeProxy {
  constructor(ns: string, tool?: string, opts?: { flushUdp?: boolean });
  readonly ns: string;
  readonly tool: string;
  flushUdp: boolean;
  /** Rewrites the nat table; returns the [ClusterIP, endpoint] pairs that left. */
  sync(services: ClusterService[]): Array<[string, string]>;
}
