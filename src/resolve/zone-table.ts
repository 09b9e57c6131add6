// Longest-suffix zone match on the lowercased wire qname (label boundaries only). Besides the
// server block zones, the table holds the zones inside a block where its plugins decide
// differently: `cache ZONES` (cache only names under them) and `forward FROM { except ZONES }`
// (forward only names under FROM and not under an except zone). Both are resolved here, when
// the table is built, so the request path reads two fields of the route it already matched.
import type { DnsCache } from '../cache/cache.js';
import { nameToWire, type ParsedQuery } from '../dns/wire.js';
import type { ZoneStats } from './stats.js';
import type { BlockRuntime } from './block.js';

export interface Route {
  zone: string; // the server block zone, for labels: "cluster.local."
  /** The suffix this route matches: the block zone, or a cache/forward zone inside it. */
  suffix: string;
  zoneWire: Buffer;
  block: BlockRuntime;
  stats: ZoneStats;
  /** The block's cache when names here are under its `cache` zones, else null. */
  cache: DnsCache | null;
  /** Names here go to the block's `forward`; false: outside FROM or under an `except` zone. */
  forward: boolean;
  /** Matches the name itself only (a FROM inside an except zone, CoreDNS isAllowedDomain). */
  exact: boolean;
  /** A zone inside the block zone: a server block of exactly that zone takes its names. */
  inner: boolean;
}

export class ZoneTable {
  private readonly routes: Route[];

  constructor(routes: Route[]) {
    const zones = routes.filter((r) => !r.inner);
    this.routes = routes
      .filter((r) => !r.inner || !shadowed(r, zones))
      .sort((a, b) => b.zoneWire.length - a.zoneWire.length || Number(b.exact) - Number(a.exact) || Number(a.inner) - Number(b.inner));
  }

  get all(): readonly Route[] {
    return this.routes;
  }

  match(q: ParsedQuery): Route | null {
    const name = q.lowerName;
    const n = q.qnameLen;
    for (const r of this.routes) {
      const zlen = r.zoneWire.length;
      const off = n - zlen;
      if (off < 0 || (r.exact && off !== 0)) continue;
      if (zlen === 1) return r; // the root zone "."
      if (!isLabelStart(q, off)) continue;
      if (sameBytes(name, off, r.zoneWire, zlen)) return r;
    }
    return null;
  }
}

/**
 * The routes of one zone of `block`: the zone itself, plus each cache zone, FROM and except zone
 * inside it. A name's decisions follow from the longest of these it is under (a name is under a
 * cache or except zone exactly when that longest one is), so each route carries them precomputed.
 */
export function blockRoutes(block: BlockRuntime, zone: string, stats: ZoneStats): Route[] {
  const cfg = block.config;
  const fwd = cfg.forward;
  const cacheZones = cfg.cache && cfg.cache.zones.length > 0 ? cfg.cache.zones : cfg.zones;
  const points = new Set([zone]);
  for (const z of [...(cfg.cache?.zones ?? []), ...(fwd ? [fwd.from, ...fwd.except] : [])]) if (z !== zone && isUnder(z, zone)) points.add(z);
  const routes: Route[] = [];
  for (const p of points) {
    const cache = block.cache !== null && cacheZones.some((z) => isUnder(p, z)) ? block.cache : null;
    // Names strictly below p, and p itself unless it is FROM (always forwarded when reached).
    const below = fwd !== null && isUnder(p, fwd.from) && !fwd.except.some((e) => isUnder(p, e));
    const route = { zone, suffix: p, zoneWire: nameToWire(p), block, stats, cache, forward: below, exact: false, inner: p !== zone };
    routes.push(route);
    if (!below && fwd !== null && p === fwd.from) routes.push({ ...route, forward: true, exact: true });
  }
  return routes;
}

/** An inner zone of one block that a longer server block zone on the same listener owns. */
function shadowed(r: Route, zones: Route[]): boolean {
  return zones.some((z) => z.zone !== r.zone && isUnder(z.zone, r.zone) && isUnder(r.suffix, z.zone));
}

/** `name` equals `zone` or lies below it; both lowercase with the trailing dot. */
function isUnder(name: string, zone: string): boolean {
  return zone === '.' || name === zone || name.endsWith('.' + zone);
}

// A JS loop: zone names are a few dozen bytes, less than the cost of a call into Buffer.compare.
function sameBytes(a: Buffer, off: number, b: Buffer, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[off + i] !== b[i]) return false;
  return true;
}

function isLabelStart(q: ParsedQuery, off: number): boolean {
  const starts = q.labelStarts;
  const count = Math.min(q.labelCount, starts.length);
  for (let i = 0; i < count; i++) if (starts[i] === off) return true;
  return false;
}
