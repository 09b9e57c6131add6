// kube-proxy's iptables mode, emulated in a network namespace: the chain layout and names
// kube-proxy writes (KUBE-SERVICES → KUBE-SVC-<hash> → KUBE-SEP-<hash>, one `statistic --mode
// random` rule per endpoint, DNAT in the endpoint chain), written whole with iptables-restore
// --noflush on every sync, as kube-proxy does. Chain hashes are kube-proxy's: the first 16
// characters of base32(sha256(servicePortName + protocol [+ endpoint])), servicePortName being
// "namespace/name:port-name" (pkg/proxy/iptables/proxier.go servicePortChainName,
// servicePortEndpointChainName). Shared by the tests (test/support/kube-proxy.ts) and the
// incident bench (bench/incidents/).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (standard alphabet), without padding: what Go's base32.StdEncoding starts with. */
function base32(bytes) {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = ((value << 8) | b) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function hash16(text) {
  return base32(createHash('sha256').update(text).digest()).slice(0, 16);
}

export function serviceChain(namespace, name, port) {
  return `KUBE-SVC-${hash16(`${namespace}/${name}:${port.name}${port.protocol}`)}`;
}

export function endpointChain(namespace, name, port, endpoint) {
  return `KUBE-SEP-${hash16(`${namespace}/${name}:${port.name}${port.protocol}${endpoint}:${port.port}`)}`;
}

/** The nat table kube-proxy would write for `services` (iptables-restore input). */
export function natTable(services) {
  const chains = ['KUBE-SERVICES'];
  const rules = [];
  for (const s of services) {
    const full = `${s.namespace}/${s.name}`;
    for (const p of s.ports) {
      const svc = serviceChain(s.namespace, s.name, p);
      chains.push(svc);
      rules.push(`-A KUBE-SERVICES -d ${s.clusterIp}/32 -p ${p.protocol} -m comment --comment "${full}:${p.name} cluster IP" -m ${p.protocol} --dport ${p.port} -j ${svc}`);
      s.endpoints.forEach((ip, i) => {
        const sep = endpointChain(s.namespace, s.name, p, ip);
        chains.push(sep);
        const left = s.endpoints.length - i;
        const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(11)}` : '';
        rules.push(`-A ${svc} -m comment --comment "${full}:${p.name} -> ${ip}:${p.port}"${pick} -j ${sep}`);
        rules.push(`-A ${sep} -p ${p.protocol} -m comment --comment "${full}:${p.name}" -m ${p.protocol} -j DNAT --to-destination ${ip}:${p.port}`);
      });
    }
  }
  return ['*nat', ...chains.map((c) => `:${c} - [0:0]`), ...rules, 'COMMIT', ''].join('\n');
}

function nsRun(ns, argv, input) {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...argv], { input, encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} in ${ns}: ${r.stderr}`);
  return r.stdout;
}

/**
 * kube-proxy in `ns`: hooks KUBE-SERVICES from PREROUTING (pods) and OUTPUT (host-network
 * processes such as the node cache), then writes the services. `sync` rewrites them, as after
 * an EndpointSlice change; chains of endpoints that left are deleted. With `flushUdp` (what
 * kube-proxy's iptables mode does), UDP conntrack entries DNATed to an endpoint that left are
 * deleted after the rewrite; without it they live on until their timeout, as IPVS mode's stale
 * UDP entries did in the field.
 */
export class KubeProxy {
  constructor(ns, tool = 'iptables-nft', { flushUdp = true } = {}) {
    this.ns = ns;
    this.tool = tool;
    this.flushUdp = flushUdp;
    this.written = new Set();
    this.endpoints = new Map(); // clusterIp → endpoints last written
    nsRun(ns, [tool, '-t', 'nat', '-N', 'KUBE-SERVICES']);
    nsRun(ns, [tool, '-t', 'nat', '-A', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
    nsRun(ns, [tool, '-t', 'nat', '-A', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
  }

  sync(services) {
    const table = natTable(services);
    const now = new Set(table.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]));
    const gone = [...this.written].filter((c) => !now.has(c));
    // Declaring a chain in the input flushes it; chains no longer wanted are flushed, then deleted.
    const input = table.replace('COMMIT', [...gone.map((c) => `:${c} - [0:0]`), ...gone.map((c) => `-X ${c}`), 'COMMIT'].join('\n'));
    nsRun(this.ns, [`${this.tool}-restore`, '--noflush'], input);
    this.written = now;
    const stale = [];
    for (const s of services) {
      const before = this.endpoints.get(s.clusterIp) ?? [];
      for (const ip of before) if (!s.endpoints.includes(ip)) stale.push([s.clusterIp, ip]);
      this.endpoints.set(s.clusterIp, [...s.endpoints]);
    }
    if (this.flushUdp) {
      for (const [svc, ep] of stale) {
        // kube-proxy: conntrack -D --orig-dst <ClusterIP> --dst-nat <endpoint> -p udp
        spawnSync('ip', ['netns', 'exec', this.ns, 'conntrack', '-D', '--orig-dst', svc, '--dst-nat', ep, '-p', 'udp'], { stdio: 'ignore', timeout: 15_000 });
      }
    }
    return stale;
  }
}
