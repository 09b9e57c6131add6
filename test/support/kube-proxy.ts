// kube-proxy's iptables mode for the tests: the one emulation the incident bench uses too.
export { KubeProxy, endpointChain, natTable, serviceChain } from '../../bench/lib/kube-proxy.mjs';
export type { ClusterService, ServicePort } from '../../bench/lib/kube-proxy.mjs';
