// `forward FROM TO... { options }` (CoreDNS plugin/forward). TO is ip[:port], dns://ip[:port],
// or a resolv.conf-style file whose nameservers are used (node-cache writes /etc/resolv.conf
// there). At most 15 upstreams. TLS upstreams are refused: this agent speaks plain DNS only.
import { readFileSync } from 'node:fs';
import { defaultForwardConfig } from '../../defaults.js';
import { parseHostPort } from '../../flags.js';
import { parseResolvConf } from '../../resolvconf.js';
import type { ForwardConfig, UpstreamAddress } from '../../types.js';
import type { Token } from '../lexer.js';
import type { Directive } from '../parser.js';
import { argCount, durationArg, fail, intArg, isIpLiteral, zoneArg } from './util.js';

export const MAX_UPSTREAMS = 15;

export interface ForwardContext {
  /** Reads a resolv.conf-style file named as an upstream; null when it does not exist. */
  readFile?: (path: string) => string | null;
}

export function parseForward(d: Directive, ctx: ForwardContext = {}): ForwardConfig {
  const args = argCount(d, 2, Infinity);
  const from = zoneArg(args[0]!, 'forward FROM');
  const to: UpstreamAddress[] = [];
  const readFile = ctx.readFile ?? readOrNull;
  for (const t of args.slice(1)) to.push(...upstream(t, readFile));
  if (to.length > MAX_UPSTREAMS) fail(args[MAX_UPSTREAMS + 1] ?? args[args.length - 1]!, `forward: more than ${MAX_UPSTREAMS} upstreams configured (${to.length})`);
  const f = defaultForwardConfig(from, to);
  for (const sub of d.block ?? []) {
    if (sub.block) fail(sub.name, `forward: ${sub.name.text} takes no { } block`);
    option(f, sub);
  }
  if (f.forceTcp && f.preferUdp) fail(d.name, 'forward: force_tcp and prefer_udp can not both be set');
  return f;
}

function upstream(t: Token, readFile: (p: string) => string | null): UpstreamAddress[] {
  let s = t.text;
  const scheme = /^([a-z0-9+.-]+):\/\//i.exec(s);
  if (scheme) {
    if (scheme[1]!.toLowerCase() !== 'dns') fail(t, `forward: ${scheme[1]}:// upstreams are not supported (plain DNS only): ${s}`);
    s = s.slice(scheme[0].length);
  }
  if (s.includes('__PILLAR__')) fail(t, `forward: ${s} is an unsubstituted __PILLAR__ variable`);
  const hp = parseHostPort(s);
  if (hp && isIpLiteral(hp.host)) {
    if (hp.port === 0) fail(t, `forward: port 0 is not a valid upstream port: ${s}`);
    return [hp];
  }
  const text = scheme ? null : readFile(s);
  if (text === null) fail(t, `forward: not an IP address or file: ${JSON.stringify(t.text)}`);
  const servers = parseResolvConf(text);
  if (servers.length === 0) fail(t, `forward: no nameservers found in ${s}`);
  return servers;
}

function option(f: ForwardConfig, sub: Directive): void {
  const name = sub.name.text;
  switch (name) {
    case 'except':
      f.except.push(...argCount(sub, 1, Infinity).map((z) => zoneArg(z, 'forward except')));
      return;
    case 'force_tcp':
      argCount(sub, 0, 0);
      f.forceTcp = true;
      return;
    case 'prefer_udp':
      argCount(sub, 0, 0);
      f.preferUdp = true;
      return;
    case 'expire':
      f.expireMs = durationArg(argCount(sub, 1, 1)[0]!, 'forward expire');
      return;
    case 'max_fails':
      f.maxFails = intArg(argCount(sub, 1, 1)[0]!, 'forward max_fails', 0);
      return;
    case 'health_check':
      healthCheck(f, sub);
      return;
    case 'policy': {
      const p = argCount(sub, 1, 1)[0]!;
      if (p.text !== 'random' && p.text !== 'round_robin' && p.text !== 'sequential') {
        fail(p, `forward policy: unknown policy ${JSON.stringify(p.text)} (random, round_robin, sequential)`);
      }
      f.policy = p.text;
      return;
    }
    case 'max_concurrent':
      f.maxConcurrent = intArg(argCount(sub, 1, 1)[0]!, 'forward max_concurrent', 0);
      return;
    case 'tls':
    case 'tls_servername':
      fail(sub.name, `forward: ${name} is not supported (this agent forwards plain DNS over UDP/TCP only)`);
      return;
    default:
      fail(sub.name, `forward: unknown or unsupported option ${JSON.stringify(name)}`);
  }
}

/** health_check DURATION [no_rec] [domain FQDN] */
function healthCheck(f: ForwardConfig, sub: Directive): void {
  const a = argCount(sub, 1, 4);
  f.healthCheckMs = durationArg(a[0]!, 'forward health_check');
  for (let i = 1; i < a.length; i++) {
    const t = a[i]!;
    if (t.text === 'no_rec') f.healthCheckNoRec = true;
    else if (t.text === 'domain') {
      const z = a[++i];
      if (!z) fail(t, 'forward health_check: domain needs a name');
      f.healthCheckDomain = zoneArg(z, 'forward health_check domain');
    } else fail(t, `forward health_check: unknown option ${JSON.stringify(t.text)} (no_rec, domain FQDN)`);
  }
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // missing, a directory, unreadable: "not an IP address or file"
  }
}
