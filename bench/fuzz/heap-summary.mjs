// Where a heap snapshot's bytes are (the harness writes one with --snapshot): self size by
// constructor or string kind, largest first, and what one cache entry costs: the CacheEntry
// object plus the strings and numbers only it points to, split into success and denial entries.
//   node bench/fuzz/heap-summary.mjs file.heapsnapshot [top]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const snap = JSON.parse(readFileSync(file, 'utf8'));
const meta = snap.snapshot.meta;
const NF = meta.node_fields.length;
const EF = meta.edge_fields.length;
const types = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const { nodes, edges, strings } = snap;
const iType = meta.node_fields.indexOf('type');
const iName = meta.node_fields.indexOf('name');
const iSize = meta.node_fields.indexOf('self_size');
const iEdges = meta.node_fields.indexOf('edge_count');
const eType = meta.edge_fields.indexOf('type');
const eName = meta.edge_fields.indexOf('name_or_index');
const eTo = meta.edge_fields.indexOf('to_node');
const count = nodes.length / NF;

const firstEdge = new Uint32Array(count + 1);
for (let i = 0, e = 0; i < count; i++) {
  firstEdge[i] = e;
  e += nodes[i * NF + iEdges] * EF;
}
firstEdge[count] = edges.length;
const inDegree = new Uint32Array(count);
for (let e = 0; e < edges.length; e += EF) inDegree[edges[e + eTo] / NF]++;

const label = (i) => {
  const t = types[nodes[i * NF + iType]];
  return t === 'object' || t === 'closure' ? `${t}:${strings[nodes[i * NF + iName]]}` : t;
};

const byLabel = new Map();
let total = 0;
for (let i = 0; i < count; i++) {
  const s = nodes[i * NF + iSize];
  total += s;
  const l = label(i);
  const cur = byLabel.get(l) ?? { bytes: 0, n: 0 };
  cur.bytes += s;
  cur.n++;
  byLabel.set(l, cur);
}
console.log(`total self size ${(total / 1048576).toFixed(1)} MiB in ${count} nodes`);
for (const [l, v] of [...byLabel].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(topArg ?? 25))) {
  console.log(`${(v.bytes / 1048576).toFixed(2).padStart(8)} MiB ${String(v.n).padStart(9)}  ${l}`);
}

// Per cache entry: its own size plus every node reachable only through it (in-degree 1), one level
// of strings/numbers/arrays deep, which is what an entry holds (data, key, boxed doubles).
const kindOf = (i) => {
  for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
    if (edgeTypes[edges[e + eType]] === 'property' && strings[edges[e + eName]] === 'kind') {
      const to = edges[e + eTo] / NF;
      return strings[nodes[to * NF + iName]];
    }
  }
  return '?';
};
const per = new Map();
for (let i = 0; i < count; i++) {
  if (types[nodes[i * NF + iType]] !== 'object' || strings[nodes[i * NF + iName]] !== 'CacheEntry') continue;
  let bytes = nodes[i * NF + iSize];
  for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
    const et = edgeTypes[edges[e + eType]];
    if (et === 'weak' || et === 'shortcut') continue;
    const to = edges[e + eTo] / NF;
    const tt = types[nodes[to * NF + iType]];
    if (inDegree[to] <= 2 && (tt === 'string' || tt === 'concatenated string' || tt === 'sliced string' || tt === 'number' || tt === 'array')) bytes += nodes[to * NF + iSize];
  }
  const k = kindOf(i);
  const cur = per.get(k) ?? { bytes: 0, n: 0 };
  cur.bytes += bytes;
  cur.n++;
  per.set(k, cur);
}
for (const [k, v] of per) console.log(`CacheEntry kind=${k}: ${v.n} entries, ${(v.bytes / v.n).toFixed(0)} B each (object + own strings/numbers)`);
