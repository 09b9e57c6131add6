// Where a heap snapshot's bytes are (the harness writes one with --snapshot): self size by
// constructor or string kind, largest first, and what one cache entry costs: the CacheEntry
// object plus the strings and numbers only it points to.
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

// Per cache entry: its own size plus the strings and numbers only it points to (data, key, the
// boxed store time). The kind is a small integer, which a snapshot does not show as an edge:
// bench/fuzz/entry-bytes.mjs splits success from denial.
let entries = 0;
let entryBytes = 0;
for (let i = 0; i < count; i++) {
  if (types[nodes[i * NF + iType]] !== 'object' || strings[nodes[i * NF + iName]] !== 'CacheEntry') continue;
  entries++;
  entryBytes += nodes[i * NF + iSize];
  for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += EF) {
    const et = edgeTypes[edges[e + eType]];
    if (et === 'weak' || et === 'shortcut') continue;
    const to = edges[e + eTo] / NF;
    const tt = types[nodes[to * NF + iType]];
    if (inDegree[to] <= 2 && (tt === 'string' || tt === 'concatenated string' || tt === 'sliced string' || tt === 'number')) entryBytes += nodes[to * NF + iSize];
  }
}
if (entries > 0) console.log(`CacheEntry: ${entries} entries, ${(entryBytes / entries).toFixed(0)} B each (object + own strings/numbers; Map and LRU slots not included)`);
