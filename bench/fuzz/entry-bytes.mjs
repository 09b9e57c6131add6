// Bytes one cache entry costs, success (one A record) and denial (NXDOMAIN with the zone's SOA,
// what the fuzz burst fills the cache with): V8 heap + external growth after a full GC, divided by
// the entries, for a cache filled the way the agent fills it (DnsCache.insert of a
// prepared upstream answer), beside the entry's wire bytes.
//   node --expose-gc bench/fuzz/entry-bytes.mjs [entries]
import dnsPacket from 'dns-packet';
import { DnsCache } from '../../dist/cache/cache.js';
import { nodeCacheCacheConfig } from '../../dist/config/defaults.js';
import { prepareAnswer } from '../../dist/dns/answer.js';
import { nameToWire } from '../../dist/dns/wire.js';
import { keyOf } from '../lib/answers.mjs';

if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const N = Number(process.argv[2] ?? 9984);
const SOA = { name: 'cluster.local', type: 'SOA', ttl: 5, data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 } };

function answer(name, denial, i) {
  const question = { type: 'A', name };
  const msg = dnsPacket.encode({
    type: 'response',
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (denial ? 3 : 0),
    questions: [question],
    answers: denial ? [] : [{ name, type: 'A', ttl: 30, data: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }],
    authorities: denial ? [SOA] : [],
  });
  const query = dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [question] });
  const a = prepareAnswer(msg, nameToWire(name + '.'), 1, 1);
  if (!a) throw new Error('answer rejected');
  return { key: keyOf(query), a, wire: msg.length };
}

function measure(denial) {
  const cfg = { ...nodeCacheCacheConfig(30), successCapacity: N, denialCapacity: N };
  let cache = new DnsCache(cfg);
  gc();
  gc();
  const before = process.memoryUsage();
  // The upstream answers are dropped before the second reading: only what the cache keeps counts.
  const items = Array.from({ length: N }, (_, i) => answer(`u${i}.x${i % 97}.svc.cluster.local`, denial, i));
  for (const it of items) cache.insert(it.key, it.a);
  const wire = items.reduce((n, it) => n + it.wire, 0) / N;
  const keyLen = items.reduce((n, it) => n + it.key.length, 0) / N;
  items.length = 0;
  gc();
  gc();
  const after = process.memoryUsage();
  const grown = after.heapUsed + after.external - (before.heapUsed + before.external);
  if (cache.entries(denial ? 'denial' : 'success') !== N) throw new Error('not every entry was cached');
  return { kind: denial ? 'denial' : 'success', entries: N, wireBytes: Math.round(wire), keyBytes: Math.round(keyLen), bytesPerEntry: Math.round(grown / N) };
}

for (const denial of [false, true]) console.log(JSON.stringify(measure(denial)));
