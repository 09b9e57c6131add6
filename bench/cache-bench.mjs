#!/usr/bin/env node
// In-process micro-bench of the agent's cache (dist/cache), printed as markdown for
// RESULTS.md: hit cost at 1k / 100k / 1M entries, RSS and bytes per entry at 10k entries, and
// hit ratio on a Zipf stream against a CoreDNS-style random-eviction cache of the same capacity.
// Run with --expose-gc (run.mjs does), pinned to one CPU.
import { DnsCache } from '../dist/cache/cache.js';
import { defaultCacheConfig, nodeCacheCacheConfig } from '../dist/config/defaults.js';
import { ParsedQuery, parseQuery } from '../dist/dns/wire.js';
import { replyFromAnswer } from '../dist/dns/reply.js';
import { keyOf, preparedFor, queryFor, QueryWriter } from './lib/answers.mjs';
import { seededRandom, zipfStream } from './lib/zipf.mjs';
import { RandomEvictionCache } from './lib/random-eviction.mjs';

const gc = globalThis.gc ?? (() => {});
const MiB = 1024 * 1024;

function filledCache(entries) {
  const cache = new DnsCache({ ...defaultCacheConfig(), successCapacity: entries, maxBytes: 4096 * MiB }, () => 0);
  for (let i = 0; i < entries; i++) {
    if (!cache.insert(keyOf(queryFor(i)), preparedFor(i))) throw new Error(`entry ${i} was not cached`);
  }
  return cache;
}

// CPU time, not wall time: the bench box is shared, and a descheduled process would otherwise
// be charged for other processes' work.
function cpuNanos() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

// The handler's hit path without the socket: parse, key, lookup, freshness, reply copy.
function hitLoop(cache, stream, writer, q) {
  let bytes = 0;
  for (let i = 0; i < stream.length; i++) {
    const msg = writer.query(stream[i]);
    parseQuery(msg, q);
    const e = cache.lookup(q);
    if (e === undefined || 0 >= e.expiresAt) throw new Error('expected a hit');
    bytes += replyFromAnswer(e, msg, q, 0, q.udpPayload, true).length;
  }
  return bytes;
}

function uniformStream(entries, length) {
  const rand = seededRandom(entries);
  const stream = new Uint32Array(length);
  for (let i = 0; i < length; i++) stream[i] = Math.floor(rand() * entries);
  return stream;
}

/** Median CPU ns per hit over `stream` (indices of cached names). */
function hitCost(cache, stream) {
  const q = new ParsedQuery();
  const writer = new QueryWriter();
  hitLoop(cache, stream, writer, q); // warm-up: JIT and CPU caches
  const rounds = [];
  for (let r = 0; r < 5; r++) {
    const t0 = cpuNanos();
    hitLoop(cache, stream, writer, q);
    rounds.push((cpuNanos() - t0) / stream.length);
  }
  rounds.sort((a, b) => a - b);
  return rounds[2]; // median ns per hit
}

function memoryWith(entries) {
  preparedFor(0); // load and compile everything first, so the baseline is the bare process
  gc();
  const before = process.memoryUsage();
  const kept = filledCache(entries);
  gc();
  gc(); // a second collection: the backing stores of the arrays the store outgrew are freed after the first
  const after = process.memoryUsage();
  const heap = after.heapUsed + after.external - (before.heapUsed + before.external);
  return { baselineMiB: before.rss / MiB, rssMiB: after.rss / MiB, bytesPerEntry: heap / entries, kept };
}

function zipfHitRatios(distinct, length, capacity, s) {
  const stream = zipfStream(distinct, length, { s, seed: 1 });
  const keys = new Array(distinct);
  const answers = new Array(distinct);
  for (let i = 0; i < distinct; i++) {
    keys[i] = keyOf(queryFor(i));
    answers[i] = preparedFor(i);
  }
  const lru = new DnsCache({ ...nodeCacheCacheConfig(), successCapacity: capacity }, () => 0);
  const random = new RandomEvictionCache(capacity);
  let lruHits = 0;
  let randomHits = 0;
  for (let i = 0; i < stream.length; i++) {
    const k = stream[i];
    if (lru.get(keys[k]) !== undefined) lruHits++;
    else lru.insert(keys[k], answers[k]);
    if (random.access(k)) randomHits++;
  }
  return { lru: lruHits / length, random: randomHits / length, randomCapacity: random.capacity };
}

const mem = memoryWith(10_000);
const memFigures = { rssMiB: mem.rssMiB, baselineMiB: mem.baselineMiB, bytesPerEntry: mem.bytesPerEntry };
const memLine = `| 10k entries | ${mem.rssMiB.toFixed(1)} MiB (process before filling: ${mem.baselineMiB.toFixed(1)} MiB) | ${mem.bytesPerEntry.toFixed(0)} bytes |`;
mem.kept = null;

// Uniform access is the worst case for CPU caches at 1M entries; Zipf(1.0) is closer to real
// traffic, where the hot names stay in the CPU caches whatever the table size.
const costs = [1_000, 100_000, 1_000_000].map((n) => {
  gc();
  const cache = filledCache(n);
  return [n, hitCost(cache, uniformStream(n, 100_000)), hitCost(cache, zipfStream(n, 100_000, { s: 1.0, seed: n }))];
});
const [, baseUniform, baseZipf] = costs[0];

const CAP = 9984; // node-cache's template: success 9984
const zipf = [1.0, 0.8].map((s) => [s, zipfHitRatios(100_000, 1_000_000, CAP, s)]);

console.log(
  [
    'Hit cost: parse + key + lookup + reply copy (the handler\'s hit path without the socket; each query written into a',
    'reused buffer, as a fresh datagram would be), CPU time per hit, median',
    'of 5 rounds of 100k hits, names picked uniformly (worst case for CPU caches) or Zipf(1.0) (closer to real traffic):',
    '',
    '| cached entries | ns per hit, uniform | × 1k | ns per hit, Zipf | × 1k |',
    '|---:|---:|---:|---:|---:|',
    ...costs.map(
      ([n, u, z]) => `| ${n.toLocaleString('en')} | ${u.toFixed(0)} | ${(u / baseUniform).toFixed(2)}× | ${z.toFixed(0)} | ${(z / baseZipf).toFixed(2)}× |`,
    ),
    '',
    'Memory (one A answer per entry, ~60 B of wire; per entry = growth of V8 heap + external memory after GC / entries):',
    '',
    '| | process RSS | bytes per entry |',
    '|---|---:|---:|',
    memLine,
    '',
    `Hit ratio on a Zipf stream (1M queries over 100k names, same seed for both), capacity ${CAP} (node-cache's \`success 9984\`);`,
    'the random-eviction cache is CoreDNS\'s shape (256 shards, random victim in a full shard):',
    '',
    '| Zipf s | agent (true LRU) | random eviction | difference |',
    '|---:|---:|---:|---:|',
    ...zipf.map(([s, r]) => `| ${s.toFixed(1)} | ${(r.lru * 100).toFixed(2)} % | ${(r.random * 100).toFixed(2)} % | ${((r.lru - r.random) * 100).toFixed(2)} points |`),
  ].join('\n'),
);
// One machine-readable line for run.mjs's targets table.
console.log(`\nJSON ${JSON.stringify({ costs, mem: memFigures, zipf })}`);
