// Cache rules end to end against knot with zones written here and an injected clock: negative
// TTL = min(SOA TTL, MINIMUM) for NXDOMAIN and NODATA, success TTL cap, MINTTL served as CoreDNS
// does, the key's case/DO/CD handling, and the byte budget evicting large answers. Hits and misses
// are read from /metrics.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { encodeQuery, queryUdp, rawUdp, decode } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, type TestAgent } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';

const missing = knotMissing();

/** A zone whose SOA TTL (8) is below its MINIMUM (100): negatives live 8 s. */
function negZone(): string {
  return [
    '$ORIGIN neg.test.',
    '$TTL 300',
    '@ 8 IN SOA ns.neg.test. host.neg.test. 1 7200 1800 86400 100',
    '@ IN NS ns.neg.test.',
    'ns IN A 10.0.0.53',
    'host IN A 10.0.0.1',
    '',
  ].join('\n');
}

/** Records below the success MINTTL (5 s): `two` lives 2 s at knot, `slow` 60 s beside it. */
function shortZone(): string {
  return [
    '$ORIGIN short.test.',
    '$TTL 60',
    '@ IN SOA ns.short.test. host.short.test. 1 7200 1800 86400 60',
    '@ IN NS ns.short.test.',
    'ns IN A 10.0.0.53',
    'two 2 IN A 10.0.0.2',
    'two 2 IN A 10.0.0.3',
    'cname 60 IN CNAME two.short.test.',
    '',
  ].join('\n');
}

t.test('cache rules against knot', { skip: missing }, async (t) => {
  const knot = await startKnot({
    address: randomLoopback(),
    port: randomPort(),
    // cluster.local: SOA TTL 60, MINIMUM 12 → negatives live 12 s; records TTL 60.
    zones: { 'cluster.local': clusterZone({ ttl: 60, soaTtl: 60, soaMinimum: 12 }), 'neg.test': negZone(), 'short.test': shortZone() },
  });
  t.teardown(() => knot.stop());
  let now = 1_700_000_000_000;
  const start = async (cache: Record<string, unknown> = {}): Promise<TestAgent> => {
    const a = await startTestAgent({
      upstreams: [{ host: knot.address, port: knot.port }],
      zones: ['cluster.local.', 'neg.test.', 'short.test.'],
      cache,
      clock: () => now,
    });
    t.teardown(() => a.stop());
    return a;
  };
  const a = await start();
  const misses = (zone: string): Promise<number> => metricValue(a.metricsUrl, 'coredns_cache_misses_total', { zones: zone });
  const hits = (zone: string, type: string): Promise<number> => metricValue(a.metricsUrl, 'coredns_cache_hits_total', { zones: zone, type });

  t.test('NXDOMAIN and NODATA live min(SOA TTL, MINIMUM)', async (t) => {
    for (const [zone, name, type, life] of [
      ['cluster.local.', 'nope.prod.svc.cluster.local', 'A', 12], // MINIMUM 12 < SOA TTL 60
      ['cluster.local.', 'api.prod.svc.cluster.local', 'AAAA', 12], // NODATA
      ['neg.test.', 'nope.neg.test', 'A', 8], // SOA TTL 8 < MINIMUM 100
    ] as const) {
      const m0 = await misses(zone);
      const first = await queryUdp(a.host, a.port, name, type);
      t.equal(first?.answers?.length, 0, `${name} ${type}: no answers`);
      const base = now;
      now = base + (life - 1) * 1000;
      const h0 = await hits(zone, 'denial');
      const second = await queryUdp(a.host, a.port, name, type);
      t.equal(second?.rcode, first?.rcode, 'same rcode from the cache');
      t.equal((await hits(zone, 'denial')) - h0, 1, `${name} ${type}: a denial hit at ${life - 1} s`);
      now = base + (life + 1) * 1000;
      await queryUdp(a.host, a.port, name, type);
      t.equal((await misses(zone)) - m0, 2, `${name} ${type}: expired after ${life} s`);
    }
  });

  t.test('success answers capped at 30 s (node-cache `cache 30`)', async (t) => {
    const r = await queryUdp(a.host, a.port, 'txt.prod.svc.cluster.local', 'TXT');
    t.equal((r?.answers?.[0] as { ttl?: number } | undefined)?.ttl, 30, 'knot says 60, the cache serves 30');
    const m0 = await misses('cluster.local.');
    now += 29_000;
    const hit = await queryUdp(a.host, a.port, 'txt.prod.svc.cluster.local', 'TXT');
    t.equal((hit?.answers?.[0] as { ttl?: number } | undefined)?.ttl, 1, 'aged on the injected clock');
    now += 2_000;
    await queryUdp(a.host, a.port, 'txt.prod.svc.cluster.local', 'TXT');
    t.equal((await misses('cluster.local.')) - m0, 1, 'expired at 30 s');
  });

  t.test('a TTL raised to MINTTL is served to every record, counting down (CoreDNS)', async (t) => {
    // `cache { success 9984 30 5 }`: knot's 2 s becomes 5 s; CoreDNS writes the entry's remaining
    // TTL into every RR, so clients behind it re-ask every 5 s, not every 2 s.
    const b = await start({ successCapacity: 9984, successMaxTtl: 30, successMinTtl: 5 });
    const ttls = async (name: string): Promise<number[]> =>
      ((await queryUdp(b.host, b.port, name, 'A'))?.answers ?? []).map((r) => (r as { ttl?: number }).ttl ?? -1);
    const direct = await queryUdp(knot.address, knot.port, 'two.short.test', 'A');
    t.same(direct?.answers?.map((r) => (r as { ttl?: number }).ttl), [2, 2], 'knot serves 2 s');
    const base = now;
    const seen: number[][] = [await ttls('two.short.test')];
    for (let s = 1; s <= 4; s++) {
      now = base + s * 1000;
      seen.push(await ttls('two.short.test'));
    }
    t.same(seen, [[5, 5], [4, 4], [3, 3], [2, 2], [1, 1]], 'the miss, then hits at 1..4 s');
    now = base + 5000;
    const m0 = await metricValue(b.metricsUrl, 'coredns_cache_misses_total', { zones: 'short.test.' });
    t.same(await ttls('two.short.test'), [5, 5], 'expired at 5 s: asked again, 5 s once more');
    t.equal((await metricValue(b.metricsUrl, 'coredns_cache_misses_total', { zones: 'short.test.' })) - m0, 1, 'that was a miss');
    const base2 = now;
    t.same(await ttls('cname.short.test'), [5, 5, 5], 'a CNAME (60 s) and its targets (2 s): all 5 s');
    now = base2 + 3000;
    t.same(await ttls('cname.short.test'), [2, 2, 2], 'and all aged together');
  });

  t.test('case shares an entry; DO and CD do not', async (t) => {
    const m0 = await misses('cluster.local.');
    await queryUdp(a.host, a.port, 'alias.prod.svc.cluster.local', 'A', { edns: 1232 });
    const mixed = await rawUdp(a.host, a.port, encodeQuery('ALIAS.prod.SVC.cluster.LOCAL', 'A', { edns: 1232 }));
    t.equal(decode(mixed!).questions?.[0]?.name, 'ALIAS.prod.SVC.cluster.LOCAL', 'the client\'s case comes back');
    t.equal((await misses('cluster.local.')) - m0, 1, 'mixed case was a hit');
    await queryUdp(a.host, a.port, 'alias.prod.svc.cluster.local', 'A', { edns: 1232, do: true });
    t.equal((await misses('cluster.local.')) - m0, 2, 'DO is its own entry');
    const cd = encodeQuery('alias.prod.svc.cluster.local', 'A', { edns: 1232 });
    cd[3] = cd[3]! | 0x10;
    const cdReply = await rawUdp(a.host, a.port, cd);
    t.equal(decode(cdReply!).rcode, 'NOERROR');
    t.equal((await misses('cluster.local.')) - m0, 3, 'CD is its own entry');
  });

  t.test('the byte budget evicts large answers', async (t) => {
    const small = await start({ maxBytes: 4096 });
    const url = small.metricsUrl;
    const big = await queryUdp(small.host, small.port, 'big.prod.svc.cluster.local', 'A', { edns: 4096 });
    t.equal(big?.answers?.length, 120, 'the big answer (≈2 KiB wire) came through');
    for (const n of ['web', 'api', 'alias', 'txt', 'ns.dns']) await queryUdp(small.host, small.port, `${n}.prod.svc.cluster.local`.replace('ns.dns.prod.svc', 'ns.dns'), 'A');
    const evicted = await metricValue(url, 'coredns_cache_evictions_total', { zones: 'cluster.local.', type: 'success' });
    t.ok(evicted >= 1, `evictions counted (${evicted})`);
    const m0 = await metricValue(url, 'coredns_cache_misses_total', { zones: 'cluster.local.' });
    await queryUdp(small.host, small.port, 'big.prod.svc.cluster.local', 'A', { edns: 4096 });
    t.equal((await metricValue(url, 'coredns_cache_misses_total', { zones: 'cluster.local.' })) - m0, 1, 'the big answer was pushed out');
    const entries = await metricValue(url, 'coredns_cache_entries', { zones: 'cluster.local.', type: 'success' });
    t.ok(entries >= 1 && entries < 6, `entries bounded by bytes, not count (${entries})`);
  });
});
