// `bind ADDRESS...` (CoreDNS plugin/bind). IP literals only: interface names would need the
// node's interface list at parse time, so they are refused with a clear error.
import type { Directive } from '../parser.js';
import { fail, isIpLiteral } from './util.js';

export function parseBind(d: Directive): string[] {
  if (d.block) fail(d.name, 'bind: the { except ... } block is not supported; list the addresses to bind instead');
  const out: string[] = [];
  for (const a of d.args) {
    if (a.text === '') continue; // an empty substitution (node-cache's __PILLAR__DNS__SERVER__ → "")
    const host = a.text.replace(/^\[(.*)\]$/, '$1');
    if (host.includes('__PILLAR__')) fail(a, `bind: ${a.text} is an unsubstituted __PILLAR__ variable`);
    if (!isIpLiteral(host)) fail(a, `bind: ${JSON.stringify(a.text)} is not an IP address (interface names are not supported)`);
    if (!out.includes(host)) out.push(host);
  }
  if (out.length === 0) fail(d.name, 'bind: wrong argument count: want at least 1 address');
  return out;
}
