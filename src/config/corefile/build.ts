// Parsed Corefile → ServerBlockConfig[]: server keys become zones and ports, each directive goes
// through its parser, anything we do not implement is an error naming it (never ignored).
import { readFileSync } from 'node:fs';
import { ConfigError } from '../../errors.js';
import type { ServerBlockConfig } from '../types.js';
import { parseBind } from './directives/bind.js';
import { parseCache } from './directives/cache.js';
import { parseErrors } from './directives/errors.js';
import { parseForward, type ForwardContext } from './directives/forward.js';
import { parseHealth } from './directives/health.js';
import { parseLog } from './directives/log.js';
import { parseLoop } from './directives/loop.js';
import { parsePrometheus } from './directives/prometheus.js';
import { parseReady } from './directives/ready.js';
import { parseReload } from './directives/reload.js';
import { fail, zoneArg } from './directives/util.js';
import { where, type Token } from './lexer.js';
import { parseCorefileText, type ParseOptions, type ParsedCorefile, type RawServerBlock } from './parser.js';

export const SUPPORTED_DIRECTIVES = ['errors', 'cache', 'reload', 'loop', 'bind', 'forward', 'prometheus', 'health', 'ready', 'log'];

export interface CorefileOptions extends ParseOptions, ForwardContext {
  /** Port of keys without one (CoreDNS -dns.port; 53). */
  defaultPort?: number;
}

export interface CorefileResult {
  servers: ServerBlockConfig[];
  files: string[];
}

export function corefileFromText(text: string, file: string, opts: CorefileOptions = {}): CorefileResult {
  return build(parseCorefileText(text, file, opts), opts);
}

/** Files `forward` read (resolv.conf-style upstream lists) are part of the config too. */
function build(parsed: ParsedCorefile, opts: CorefileOptions): CorefileResult {
  const files = [...parsed.files];
  const read = opts.readFile ?? readOrNull;
  const readFile = (path: string): string | null => {
    const text = read(path);
    if (text !== null && !files.includes(path)) files.push(path);
    return text;
  };
  return { servers: buildServers(parsed.blocks, { ...opts, readFile }), files };
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export function buildServers(blocks: RawServerBlock[], opts: CorefileOptions = {}): ServerBlockConfig[] {
  const out: ServerBlockConfig[] = [];
  const seen = new Map<string, string>(); // "zone port" → where first declared
  for (const b of blocks) {
    const byPort = new Map<number, string[]>();
    for (const k of b.keys) {
      const { zone, port } = parseKey(k, opts.defaultPort ?? 53);
      const key = `${zone} ${port}`;
      const first = seen.get(key);
      if (first) fail(k, `zone ${zone} on port ${port} is already declared at ${first}`);
      seen.set(key, where(k));
      byPort.set(port, [...(byPort.get(port) ?? []), zone]);
    }
    const template = applyDirectives(b, opts);
    for (const [port, zones] of byPort) out.push({ ...structuredClone(template), zones, port });
  }
  if (out.length === 0) throw new ConfigError('<corefile>:0', 'no server blocks found');
  return out;
}

/** `zone`, `zone:port`, `dns://zone:port`, `.`, `:port`. */
function parseKey(k: Token, defaultPort: number): { zone: string; port: number } {
  let s = k.text;
  const scheme = /^([a-z0-9+.-]+):\/\//i.exec(s);
  if (scheme) {
    if (scheme[1]!.toLowerCase() !== 'dns') fail(k, `server ${s}: ${scheme[1]}:// servers are not supported (plain DNS only)`);
    s = s.slice(scheme[0].length);
  }
  if (s.includes('/')) fail(k, `server ${JSON.stringify(k.text)}: CIDR and path keys are not supported; write the reverse zone name`);
  let port = defaultPort;
  const colon = s.lastIndexOf(':');
  if (colon >= 0) {
    const p = s.slice(colon + 1);
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535) fail(k, `server ${JSON.stringify(k.text)}: invalid port ${JSON.stringify(p)}`);
    port = Number(p);
    s = s.slice(0, colon);
  }
  return { zone: zoneArg(k, 'server', s), port };
}

/** A server block with no zones, no bind address and every plugin off: what directives fill in. */
export function blankServerBlock(source: string): ServerBlockConfig {
  return {
    zones: [],
    port: 0,
    bind: [],
    cache: null,
    forward: null,
    log: { enabled: false },
    errors: { enabled: false, consolidate: [] },
    loop: false,
    reload: null,
    prometheus: null,
    health: null,
    ready: null,
    source,
  };
}

function applyDirectives(b: RawServerBlock, opts: CorefileOptions): ServerBlockConfig {
  const s = blankServerBlock(where(b.keys[0]!));
  const once = new Set<string>();
  for (const d of b.directives) {
    const name = d.name.text;
    if (name !== 'bind') {
      if (once.has(name)) fail(d.name, `${name} can only be used once per server block`);
      once.add(name);
    }
    switch (name) {
      case 'errors': s.errors = parseErrors(d); break;
      case 'cache': s.cache = parseCache(d); break;
      case 'reload': s.reload = parseReload(d); break;
      case 'loop': s.loop = parseLoop(d); break;
      case 'bind': for (const a of parseBind(d)) if (!s.bind.includes(a)) s.bind.push(a); break;
      case 'forward': s.forward = parseForward(d, opts); break;
      case 'prometheus': s.prometheus = parsePrometheus(d); break;
      case 'health': s.health = parseHealth(d); break;
      case 'ready': s.ready = parseReady(d); break;
      case 'log': s.log = parseLog(d); break;
      default:
        fail(d.name, `unknown or unsupported directive ${JSON.stringify(name)} (supported: ${SUPPORTED_DIRECTIVES.join(', ')})`);
    }
  }
  return s;
}
