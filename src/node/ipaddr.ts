// Address helpers shared by netif and iptables: family, the canonical spelling that `ip` and
// `iptables -S` print (so listings can be compared with what we asked for), the host prefix.
import { isIP } from 'node:net';

export type Family = 4 | 6;

export function familyOf(ip: string): Family {
  const f = isIP(ip);
  if (f !== 4 && f !== 6) throw new RangeError(`not an IP address: ${ip}`);
  return f;
}

/** IPv6 in RFC 5952 form (what the kernel tools print); IPv4 unchanged. */
export function canonicalIp(ip: string): string {
  if (familyOf(ip) === 4) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** "/32" or "/128": each local IP is a host address. */
export function hostPrefix(ip: string): string {
  return familyOf(ip) === 4 ? '/32' : '/128';
}

/** Addresses that are always local through `lo` already; we never add or remove them. */
export function isLoopback(ip: string): boolean {
  return familyOf(ip) === 4 ? ip.startsWith('127.') : canonicalIp(ip) === '::1';
}
