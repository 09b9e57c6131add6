// The parts of a discovery.k8s.io/v1 EndpointSlice we read, and the rule that turns slices into
// the set of addresses to send queries to (KEP-1672 conditions).
import type { UpstreamAddress } from '../config/types.js';

export interface EndpointSlice {
  metadata: { name: string; resourceVersion?: string };
  addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null } }[] | null;
}

/**
 * Ready, not terminating endpoints (ready unset means ready, as the API documents), on the
 * slice's port named `portName` or else `defaultPort`. Terminating endpoints are left out: the
 * forwarder stops sending to them and lets what is in flight finish. Sorted, deduplicated.
 */
export function readySet(slices: EndpointSlice[], portName: string, defaultPort: number): UpstreamAddress[] {
  const seen = new Map<string, UpstreamAddress>();
  for (const s of slices) {
    if (s.addressType === 'FQDN') continue;
    const port = s.ports?.find((p) => p.name === portName)?.port ?? defaultPort;
    for (const e of s.endpoints ?? []) {
      const c = e.conditions ?? {};
      if (c.ready === false || c.terminating === true) continue;
      for (const host of e.addresses) seen.set(`${host}|${port}`, { host, port });
    }
  }
  return [...seen.values()].sort((a, b) => (a.host === b.host ? a.port - b.port : a.host < b.host ? -1 : 1));
}
