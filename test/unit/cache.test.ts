// DnsCache rules on real wire answers (encoded with dns-packet, prepared by dns/answer.ts) with
// an injected clock: TTL clamps, RFC 2308 denials, SERVFAIL, disable, keepttl, byte budget, LRU.
import t from 'tap';
import * as packet from 'dns-packet';
import { DnsCache, C_EVICT_DENIAL, C_EVICT_SUCCESS, MAX_SERVFAIL_TTL } from '../../src/cache/cache.js';
import { canRefresh, recordHit, shouldPrefetch, REFRESH_RETRY_MS } from '../../src/cache/policy.js';
import { defaultCacheConfig, nodeCacheCacheConfig } from '../../src/config/defaults.js';
import type { CacheConfig } from '../../src/config/types.js';
import { KIND_DENIAL, KIND_SERVFAIL, KIND_SUCCESS, prepareAnswer, type PreparedAnswer } from '../../src/dns/answer.js';
import type { PackedAnswer } from '../../src/dns/packed.js';
import { replyFromAnswer } from '../../src/dns/reply.js';
import { ParsedQuery, PARSE_OK, nameToWire, parseQuery, queryKey } from '../../src/dns/wire.js';
import { encodeQuery } from '../support/dnsclient.js';

const QNAME = 'a.example';
const NOERROR = 0;
const SERVFAIL = 2;
const NXDOMAIN = 3;
const REFUSED = 5;

function soa(ttl: number, minimum: number): packet.Answer {
  return {
    name: 'example', type: 'SOA', ttl,
    data: { mname: 'ns.example', rname: 'host.example', serial: 1, refresh: 60, retry: 60, expire: 600, minimum },
  } as packet.Answer;
}

function a(ttl: number, ip = '10.0.0.1'): packet.Answer {
  return { name: QNAME, type: 'A', ttl, data: ip };
}

function prepared(rcode: number, answers: packet.Answer[] = [], authorities: packet.Answer[] = [], tc = false): PreparedAnswer {
  const msg = packet.encode({
    type: 'response', id: 4242, flags: rcode | (tc ? packet.TRUNCATED_RESPONSE : 0),
    questions: [{ name: QNAME, type: 'A' }], answers, authorities,
  });
  const p = prepareAnswer(msg, nameToWire(QNAME), 1, 1);
  if (!p) throw new Error('prepareAnswer refused a well-formed answer');
  return p;
}

/** The TTLs a client gets from `e`, `elapsedSec` after it was stored. */
function servedTtls(e: PackedAnswer, elapsedSec = 0): number[] {
  const query = encodeQuery(QNAME, 'A');
  const q = new ParsedQuery();
  if (parseQuery(query, q) !== PARSE_OK) throw new Error('parse failed');
  const reply = packet.decode(replyFromAnswer(e, query, q, elapsedSec, 0xffff, true));
  return [...(reply.answers ?? []), ...(reply.authorities ?? [])].map((r) => (r as { ttl?: number }).ttl ?? -1);
}

function origTtls(e: PackedAnswer): number[] {
  return Array.from({ length: e.ttlCount }, (_, i) => e.origTtl(i));
}

function makeCache(cfg: Partial<CacheConfig> = {}, base: CacheConfig = defaultCacheConfig()): { cache: DnsCache; clock: { now: number } } {
  const clock = { now: 5_000_000 };
  return { cache: new DnsCache({ ...base, ...cfg }, () => clock.now), clock };
}

t.test('success TTL = min over records, clamped to [MINTTL, TTL]', async (t) => {
  const { cache, clock } = makeCache();
  const e = cache.insert('k1', prepared(NOERROR, [a(300), a(120, '10.0.0.2')]))!;
  t.equal(e.kind, KIND_SUCCESS);
  t.equal(e.ttl, 120, 'minimum of the records');
  t.equal(e.expiresAt, clock.now + 120_000, 'expiry from the injected clock');
  t.same(servedTtls(e), [120, 120], 'served TTLs capped to the entry TTL');
  t.same(origTtls(e), [300, 120], 'original TTLs kept');
  const raised = cache.insert('k2', prepared(NOERROR, [a(1), a(60, '10.0.0.2')]))!;
  t.equal(raised.ttl, 5, 'raised to MINTTL 5');
  t.same(servedTtls(raised), [5, 5], 'every record served with the entry TTL, the 1 s one too (CoreDNS)');
  t.same(servedTtls(raised, 3), [2, 2], 'aged together');
  t.equal(cache.insert('k3', prepared(NOERROR, [a(100_000)]))!.ttl, 3600, 'capped at 3600 by default');
  const nc = makeCache({}, nodeCacheCacheConfig(30)).cache;
  t.equal(nc.insert('k', prepared(NOERROR, [a(300)]))!.ttl, 30, 'node-cache `cache 30` caps at 30');
  const custom = makeCache({ successMinTtl: 60, successMaxTtl: 90 }).cache;
  t.equal(custom.insert('k', prepared(NOERROR, [a(10)]))!.ttl, 60, 'success MINTTL option');
  t.equal(custom.insert('k', prepared(NOERROR, [a(1000)]))!.ttl, 90, 'success TTL option');
});

t.test('denial TTL is min(SOA TTL, SOA MINIMUM) (RFC 2308), clamped', async (t) => {
  const { cache } = makeCache();
  const nx = cache.insert('nx', prepared(NXDOMAIN, [], [soa(60, 10)]))!;
  t.equal(nx.kind, KIND_DENIAL);
  t.equal(nx.ttl, 10, 'MINIMUM below the SOA TTL wins');
  t.same(servedTtls(nx), [10], 'the SOA is served with the entry TTL');
  t.equal(cache.insert('nx2', prepared(NXDOMAIN, [], [soa(8, 100)]))!.ttl, 8, 'SOA TTL below MINIMUM wins');
  t.equal(cache.insert('nx3', prepared(NXDOMAIN, [], [soa(2, 100)]))!.ttl, 5, 'raised to denial MINTTL');
  t.equal(cache.insert('nx4', prepared(NXDOMAIN, [], [soa(99_999, 99_999)]))!.ttl, 1800, 'denial max 1800 by default');
  const nodata = cache.insert('nodata', prepared(NOERROR, [], [soa(40, 20)]))!;
  t.equal(nodata.kind, KIND_DENIAL, 'NOERROR without answers is a denial (NODATA)');
  t.equal(nodata.ttl, 20);
  t.equal(cache.insert('bare', prepared(NXDOMAIN)), null, 'NXDOMAIN without SOA is not cached');
  t.equal(cache.insert('bare2', prepared(NOERROR)), null, 'NODATA without SOA is not cached');
  t.equal(cache.entries('denial'), 5);
  const custom = makeCache({ denialMinTtl: 30, denialMaxTtl: 45 }).cache;
  t.equal(custom.insert('k', prepared(NXDOMAIN, [], [soa(10, 10)]))!.ttl, 30, 'denial MINTTL option');
  t.equal(custom.insert('k', prepared(NXDOMAIN, [], [soa(900, 900)]))!.ttl, 45, 'denial TTL option');
});

t.test('SERVFAIL cached for `servfail`, at most 300 s; other errors and truncation never', async (t) => {
  const sf = makeCache().cache.insert('k', prepared(SERVFAIL))!;
  t.equal(sf.kind, KIND_SERVFAIL);
  t.equal(sf.ttl, 5, 'default 5 s');
  t.equal(makeCache({ servfailTtl: 3600 }).cache.insert('k', prepared(SERVFAIL))!.ttl, MAX_SERVFAIL_TTL, 'capped at 300 s');
  t.equal(makeCache({ servfailTtl: 0 }).cache.insert('k', prepared(SERVFAIL)), null, 'servfail 0: not cached');
  t.equal(makeCache().cache.insert('k', prepared(REFUSED)), null, 'REFUSED not cached');
  t.equal(makeCache().cache.insert('k', prepared(NOERROR, [a(60)], [], true)), null, 'truncated not cached');
  const stale = makeCache({ serveStale: { durationMs: 60_000, mode: 'immediate' } }).cache;
  const s = stale.insert('k', prepared(SERVFAIL))!;
  t.equal(s.staleUntil, s.expiresAt, 'a SERVFAIL is never served stale');
  const ok = stale.insert('k2', prepared(NOERROR, [a(60)]))!;
  t.equal(ok.staleUntil, ok.expiresAt + 60_000, 'an answer stays servable for serve_stale DURATION');
});

t.test('disable success / denial', async (t) => {
  const ns = makeCache({ disableSuccess: true }).cache;
  t.equal(ns.insert('k', prepared(NOERROR, [a(60)])), null, 'success disabled');
  t.ok(ns.insert('d', prepared(NXDOMAIN, [], [soa(60, 60)])), 'denial still cached');
  t.equal(ns.entries('success'), 0);
  const nd = makeCache({ disableDenial: true }).cache;
  t.equal(nd.insert('d', prepared(NXDOMAIN, [], [soa(60, 60)])), null, 'denial disabled');
  t.ok(nd.insert('k', prepared(NOERROR, [a(60)])), 'success still cached');
  t.ok(nd.insert('s', prepared(SERVFAIL)), 'SERVFAIL still cached under its own rule');
});

t.test('keepttl serves the upstream TTLs', async (t) => {
  const e = makeCache({ keepTtl: true }, nodeCacheCacheConfig(30)).cache.insert('k', prepared(NOERROR, [a(300), a(120, '10.0.0.2')]))!;
  t.equal(e.ttl, 30, 'still expires by the cache rules');
  t.same(servedTtls(e), [300, 120], 'but serves the original TTLs');
});

t.test('one key lives in one partition', async (t) => {
  const { cache } = makeCache();
  cache.insert('k', prepared(NOERROR, [a(60)]));
  cache.insert('k', prepared(NXDOMAIN, [], [soa(60, 60)]));
  t.equal(cache.entries('success'), 0);
  t.equal(cache.entries('denial'), 1);
  t.equal(cache.get('k')!.kind, KIND_DENIAL);
});

t.test('true LRU: the least recently used entry goes, and is counted', async (t) => {
  const { cache } = makeCache({ successCapacity: 2, denialCapacity: 2 });
  cache.insert('k1', prepared(NOERROR, [a(60)]));
  cache.insert('k2', prepared(NOERROR, [a(60)]));
  cache.get('k1');
  cache.insert('k3', prepared(NOERROR, [a(60)]));
  t.ok(cache.get('k1'), 'recently used k1 kept');
  t.notOk(cache.get('k2'), 'k2 evicted');
  t.ok(cache.get('k3'));
  t.equal(cache.counters[C_EVICT_SUCCESS], 1, 'one success eviction');
  for (const k of ['d1', 'd2', 'd3', 'd4']) cache.insert(k, prepared(NXDOMAIN, [], [soa(60, 60)]));
  t.equal(cache.counters[C_EVICT_DENIAL], 2, 'denial evictions counted separately');
  t.equal(cache.entries('denial'), 2);
});

t.test('the byte budget bounds memory whatever the answer sizes', async (t) => {
  const budget = 16 * 1024;
  const { cache } = makeCache({ maxBytes: budget });
  const many = Array.from({ length: 60 }, (_, i) => a(60, `10.1.${i >> 8}.${i & 0xff}`)); // ~1 KiB answer
  const n = 100;
  for (let i = 0; i < n; i++) cache.insert(`big${i}`, prepared(NOERROR, many));
  const kept = cache.entries('success');
  t.ok(cache.bytes() <= budget, `bytes ${cache.bytes()} ≤ ${budget}`);
  t.ok(kept > 0 && kept < n, `${kept} of ${n} big answers kept`);
  t.equal(cache.counters[C_EVICT_SUCCESS], n - kept, 'every entry pushed out was counted');
  t.ok(cache.get(`big${n - 1}`), 'the newest is kept');
  t.notOk(cache.get('big0'), 'the oldest went first');
});

t.test('key: qname case-insensitive; qtype, DO and CD distinguish', async (t) => {
  const key = (msg: Buffer): string => {
    const q = new ParsedQuery();
    if (parseQuery(msg, q) !== PARSE_OK) throw new Error('parse failed');
    return queryKey(q);
  };
  const base = key(encodeQuery('Web.Example', 'A', { edns: 1232 }));
  t.equal(key(encodeQuery('wEB.eXAMPLE', 'A', { edns: 1232 })), base, 'case does not matter');
  t.equal(key(encodeQuery('web.example', 'A')), base, 'EDNS without DO keys the same');
  t.not(key(encodeQuery('web.example', 'AAAA', { edns: 1232 })), base, 'qtype');
  t.not(key(encodeQuery('web.example', 'A', { edns: 1232, do: true })), base, 'DO');
  const cd = encodeQuery('web.example', 'A', { edns: 1232 });
  cd[3] = cd[3]! | 0x10;
  t.not(key(cd), base, 'CD');
});

t.test('prefetch and refresh policy on the injected clock', async (t) => {
  const cfg = { ...defaultCacheConfig(), prefetch: { amount: 2, durationMs: 10_000, percentage: 10 } };
  const clock = { now: 1_000_000 };
  const cache = new DnsCache(cfg, () => clock.now);
  const e = cache.insert('k', prepared(NOERROR, [a(100)]))!;
  const age = (): number => e.ageAt(clock.now); // the policy takes the entry's age, as the hit path computes it
  recordHit(e, ((clock.now += 1000), age()), cfg);
  recordHit(e, ((clock.now += 1000), age()), cfg);
  t.equal(e.hits, 2);
  t.notOk(shouldPrefetch(e, age(), cfg), '98 s left of 100: too early');
  clock.now = e.storedAt + 90_000;
  t.ok(shouldPrefetch(e, age(), cfg), '10 s left ≤ 10%');
  recordHit(e, age(), cfg);
  t.equal(e.hits, 1, 'a gap ≥ DURATION restarts the count');
  t.notOk(shouldPrefetch(e, age(), cfg), 'no longer popular');
  t.ok(canRefresh(e, age()));
  e.refreshFailedAt = clock.now;
  t.notOk(canRefresh(e, age() + REFRESH_RETRY_MS - 1), 'no refresh within 30 s of a failure');
  t.ok(canRefresh(e, age() + REFRESH_RETRY_MS));
  e.refreshing = true;
  t.notOk(canRefresh(e, age() + REFRESH_RETRY_MS), 'one refresh in flight per key');
});

t.test('hit and failure times: relative to storedAt, whole ms, clamped after 12.4 days', async (t) => {
  const clock = { now: 1_700_000_000_000.25 }; // a monotonic clock has fractions of a ms
  const cache = new DnsCache(defaultCacheConfig(), () => clock.now);
  const e = cache.insert('k', prepared(NOERROR, [a(100)]))!;
  t.equal(e.lastHitAt, e.storedAt, 'a new entry was last "hit" when stored');
  t.equal(e.refreshFailedAt, Number.NEGATIVE_INFINITY, 'no failed refresh yet');
  e.lastHitAt = e.storedAt + 1234.9;
  t.equal(e.lastHitAt, e.storedAt + 1234, 'kept to the ms below');
  e.lastHitAt = e.storedAt - 5000;
  t.equal(e.lastHitAt, e.storedAt - 5000, 'earlier than storedAt (carried over from a refreshed entry)');
  e.refreshFailedAt = e.storedAt;
  t.equal(e.refreshFailedAt, e.storedAt, 'a failure at age 0 is not "none"');
  e.refreshFailedAt = Number.NEGATIVE_INFINITY;
  t.equal(e.refreshFailedAt, Number.NEGATIVE_INFINITY);
  const days = (n: number): number => n * 86_400_000;
  e.lastHitAt = e.storedAt + days(20);
  t.equal(e.lastHitAt, e.storedAt + 2 ** 30 - 1, 'clamped at 2^30 - 1 ms');
  e.lastHitAt = e.storedAt - days(20);
  t.equal(e.lastHitAt, e.storedAt - (2 ** 30 - 1));
  t.equal(e.ageAt(e.storedAt + 1234.9), 1234, "an entry's age is whole ms");
  t.equal(e.ageAt(e.storedAt + days(20)), 2 ** 30 - 1, 'and clamped the same way');
});

t.test('no entry outlives the ages the policy can count (12.4 days)', async (t) => {
  const clock = { now: 1_000_000 };
  const cfg = { ...defaultCacheConfig(), successMaxTtl: 30 * 86_400, serveStale: { durationMs: 30 * 86_400_000, mode: 'immediate' as const } };
  const cache = new DnsCache(cfg, () => clock.now);
  const e = cache.insert('k', prepared(NOERROR, [a(20 * 86_400)]))!;
  t.ok(e.ttl * 1000 < 2 ** 30 - 1, `TTL capped (${e.ttl} s)`);
  t.ok(e.lifetimeMs < 2 ** 30 - 1, 'TTL + serve_stale window capped');
  t.ok(e.ttl * 1000 + e.staleMs === e.lifetimeMs);
});

t.test('disable success|denial ZONES only covers those zones', async (t) => {
  const keyOf = (name: string): string => {
    const q = new ParsedQuery();
    t.equal(parseQuery(encodeQuery(name, 'A'), q), PARSE_OK);
    return queryKey(q);
  };
  const { cache } = makeCache({ disableSuccess: true, disableSuccessZones: ['example.'] });
  t.equal(cache.insert(keyOf('a.example'), prepared(NOERROR, [a(60)])), null, 'under the disabled zone: not cached');
  t.equal(cache.insert(keyOf('example'), prepared(NOERROR, [a(60)])), null, 'the zone apex too');
  t.not(cache.insert(keyOf('a.other'), prepared(NOERROR, [a(60)])), null, 'another zone is still cached');
  t.not(cache.insert(keyOf('a.notexample'), prepared(NOERROR, [a(60)])), null, 'a label boundary, not a string suffix');
  const nd = makeCache({ disableDenial: true, disableDenialZones: ['other.'] }).cache;
  t.not(nd.insert(keyOf('a.example'), prepared(NXDOMAIN, [], [soa(60, 60)])), null, 'denials elsewhere still cached');
});
