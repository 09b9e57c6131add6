// Longest-suffix zone match on the lowercased wire qname (label boundaries only).
import { nameToWire, type ParsedQuery } from '../dns/wire.js';
import type { ZoneStats } from '../observe/stats.js';
import type { BlockRuntime } from './block.js';

export interface Route {
  zone: string; // "cluster.local."
  zoneWire: Buffer;
  block: BlockRuntime;
  stats: ZoneStats;
}

export class ZoneTable {
  private readonly routes: Route[];

  constructor(routes: Route[]) {
    this.routes = [...routes].sort((a, b) => b.zoneWire.length - a.zoneWire.length);
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
      if (off < 0) continue;
      if (zlen === 1) return r; // the root zone "."
      if (!isLabelStart(q, off)) continue;
      if (sameBytes(name, off, r.zoneWire, zlen)) return r;
    }
    return null;
  }
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

export function zoneWire(zone: string): Buffer {
  return nameToWire(zone);
}
