// The node's /etc/resolv.conf: the upstreams of "." in node-cache (__PILLAR__UPSTREAM__SERVERS__).
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { UpstreamAddress } from './types.js';

export function parseResolvConf(text: string): UpstreamAddress[] {
  const out: UpstreamAddress[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    const m = /^nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const host = m[1]!.replace(/%.*$/, ''); // drop an IPv6 zone index
    if (isIP(host)) out.push({ host, port: 53 });
  }
  return out;
}

export function readResolvConf(path = '/etc/resolv.conf'): UpstreamAddress[] {
  return parseResolvConf(readFileSync(path, 'utf8'));
}
