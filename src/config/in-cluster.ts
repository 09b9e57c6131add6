// Where the upstream Service's pods are listed from (-endpointslices): the API server, the
// namespace and the Service's ClusterIP, read from the pod's environment and service-account
// mount as client-go's in-cluster configuration reads them.
import { readFileSync } from 'node:fs';
import { DiscoveryError } from '../errors.js';
import { joinHostPort } from './flags.js';

export const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface InCluster {
  /** The Service's ClusterIP (<SERVICE>_SERVICE_HOST): the forwarders naming it get the pods. */
  serviceHost: string;
  apiServer: string; // https://host:port
  namespace: string;
  service: string;
  tokenFile: string; // re-read on every request (projected tokens rotate)
  caFile: string;
}

/** Throws DiscoveryError naming what is missing when not in a cluster. */
export function inClusterConfig(env: NodeJS.ProcessEnv, service: string, dir = SA_DIR): InCluster {
  const hostVariable = `${service.toUpperCase().replace(/-/g, '_')}_SERVICE_HOST`;
  const serviceHost = env[hostVariable];
  if (!serviceHost) throw new DiscoveryError(`${hostVariable} is unset`);
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new DiscoveryError('not in a cluster: KUBERNETES_SERVICE_HOST is unset');
  let namespace = 'kube-system';
  try {
    namespace = readFileSync(`${dir}/namespace`, 'utf8').trim() || namespace;
  } catch {
    // node-cache runs in kube-system; without the file that is the best guess
  }
  return { serviceHost, apiServer: `https://${joinHostPort(host, port)}`, namespace, service, tokenFile: `${dir}/token`, caFile: `${dir}/ca.crt` };
}
