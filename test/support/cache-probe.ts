// Look inside a running agent's cache from a test: the key a query maps to, and the entry it
// holds (to wait for a background refresh to finish instead of sleeping).
import type { Agent } from '../../src/agent/agent.js';
import type { CacheEntry, DnsCache } from '../../src/cache/cache.js';
import { nameToWire } from '../../src/dns/wire.js';

const QTYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, TXT: 16, AAAA: 28, SRV: 33 };

/** The cache key of a query (same layout as dns/wire.ts makeKey: name, type, class, DO|CD). */
export function cacheKey(name: string, type: string, opts: { do?: boolean; cd?: boolean } = {}): string {
  const qtype = QTYPES[type];
  if (qtype === undefined) throw new RangeError(`unknown type ${type}`);
  const tail = Buffer.from([qtype >> 8, qtype & 0xff, 0, 1, (opts.do ? 1 : 0) | (opts.cd ? 2 : 0)]);
  return Buffer.concat([nameToWire(name), tail]).toString('latin1');
}

export function agentCache(agent: Agent, zones: string): DnsCache {
  const c = agent.caches().find((x) => x.zones === zones);
  if (!c) throw new Error(`no cache for ${zones}`);
  return c.cache;
}

export function entryOf(agent: Agent, zones: string, name: string, type: string): CacheEntry | undefined {
  return agentCache(agent, zones).get(cacheKey(name, type));
}
