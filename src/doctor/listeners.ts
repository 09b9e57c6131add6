// Is anything listening where the agent should? /proc/net/{udp,udp6} of this network namespace
// (the agent runs with hostNetwork, so the node's): a DNS reply alone cannot tell, since in
// transparent mode kube-proxy answers the ClusterIP from kube-dns once the agent is gone.
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { canonicalIp } from '../node/ipaddr.js';

/** "0100007F:0035" → ["127.0.0.1", 53]; IPv6 as 4 little-endian 32-bit words. */
export function decodeProcAddress(hex: string): { ip: string; port: number } {
  const [addr = '', port = '0'] = hex.split(':');
  const words = addr.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  const ip = bytes.length === 4
    ? bytes.join('.')
    : canonicalIp(Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(':'));
  return { ip, port: parseInt(port, 16) };
}

/** UDP sockets bound to port (address as the kernel shows it; wildcards as 0.0.0.0 / 0:0:..). */
export function udpListeners(port: number, proc = '/proc'): string[] {
  const out: string[] = [];
  for (const file of ['udp', 'udp6']) {
    let text = '';
    try {
      text = readFileSync(`${proc}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (!local) continue;
      const a = decodeProcAddress(local);
      if (a.port === port) out.push(a.ip);
    }
  }
  return out;
}

export function listensOn(ip: string, listeners: string[]): boolean {
  const wildcard = isIPv4(ip) ? '0.0.0.0' : '::';
  return listeners.includes(canonicalIp(ip)) || listeners.includes(wildcard);
}
