// The memory guard's levels against a real cache and pending bound, with the RSS reading and the
// clock given by the test: pressure stops admissions and lowers the pending bound, over the
// budget collects first and evicts only what the collection did not bring back, relief needs
// 2 s under 80 %.
import t from 'tap';
import { DnsCache } from '../../src/cache/cache.js';
import { defaultCacheConfig } from '../../src/config/defaults.js';
import { prepareAnswer } from '../../src/dns/answer.js';
import { createLogger } from '../../src/observe/log.js';
import { CACHE_RESERVE, LEVEL_OK, LEVEL_OVER, LEVEL_PRESSURE, MemoryGuard, QUIET_SAMPLE_INTERVAL_MS, SAMPLE_INTERVAL_MS, type GuardHooks } from '../../src/agent/memory-guard.js';
import { secondTick } from '../../src/observe/second-tick.js';
import { PendingBudget } from '../../src/resolve/pending-budget.js';
import { ParsedQuery, PARSE_OK, nameToWire, parseQuery, queryKey } from '../../src/dns/wire.js';
import { encodeQuery } from '../support/dnsclient.js';
import * as packet from 'dns-packet';

const Mi = 2 ** 20;
const BUDGET = { limit: 100 * Mi, source: 'test', budget: 100 * Mi, percent: 100 };

function answerFor(name: string) {
  const txt = { name, type: 'TXT', ttl: 300, data: 'x'.repeat(200) } as packet.Answer;
  const msg = packet.encode({ type: 'response', id: 1, flags: 0, questions: [{ name, type: 'A' }], answers: [{ name, type: 'A', ttl: 300, data: '10.0.0.1' }, txt, txt] });
  const p = prepareAnswer(msg, nameToWire(name), 1, 1);
  if (!p) throw new Error('prepareAnswer refused a well-formed answer');
  return p;
}

function setup(rssAfterGc: (rss: number) => number, budget = BUDGET, names = 1000) {
  const cache = new DnsCache({ ...defaultCacheConfig(), successCapacity: 100_000 }, () => 0);
  for (let i = 0; i < names; i++) {
    const a = answerFor(`n${i}.example`);
    cache.insert(keyOf(`n${i}.example`), a);
  }
  const pending = new PendingBudget(4096);
  const h = { rssNow: 0, heapUsed: 0, t: 0, gcs: 0, ended: 0, loop: 0 };
  const hooks: GuardHooks = {
    rss: () => h.rssNow,
    heap: () => ({ used: h.heapUsed, limit: 100 * Mi }),
    now: () => h.t,
    loopShare: () => h.loop,
    gc: () => {
      h.gcs++;
      h.rssNow = rssAfterGc(h.rssNow);
    },
    trim: () => 0,
    release: () => 0,
  };
  const g = new MemoryGuard(budget, () => [cache], pending, createLogger('error'), (n) => ((h.ended += n), n), hooks);
  return { cache, pending, h, g };
}

/** The cache key the handler makes for an A query of `name`. */
function keyOf(name: string): string {
  const q = new ParsedQuery();
  if (parseQuery(encodeQuery(name, 'A'), q) !== PARSE_OK) throw new Error('unparsable query');
  return queryKey(q);
}

t.test('pressure: no new keys, smaller pending bound, a give-back GC every 2 s; relief after 2 s under 80 %', async (t) => {
  const { cache, pending, h, g } = setup((r) => r);
  h.rssNow = 91 * Mi;
  g.sample();
  t.equal(g.level, LEVEL_PRESSURE);
  t.notOk(cache.admitting, 'the cache takes no new keys');
  t.equal(pending.squeezed, 512, 'pending bound down to an eighth');
  t.equal(cache.insert(keyOf('new.example'), answerFor('new.example')), null, 'a new key is not stored');
  t.ok(cache.insert(keyOf('n5.example'), answerFor('n5.example')), 'a key already held is replaced');
  pending.used = 512;
  t.notOk(pending.take(), 'a miss past the squeezed bound is refused');
  t.equal(pending.shedByMemory, 1, 'and counted as shed by memory');
  t.equal(h.gcs, 1, 'one collection to give memory back');
  h.t = 1_900;
  g.sample();
  t.equal(h.gcs, 1, 'not again within 2 s');
  h.rssNow = 82 * Mi;
  h.t = 5_000;
  g.sample();
  t.equal(g.level, LEVEL_PRESSURE, 'between 80 and 85 %: still pressure');
  t.equal(h.gcs, 2, 'and another give-back collection');
  h.rssNow = 70 * Mi;
  h.t = 6_000;
  g.sample();
  h.t = 7_900;
  g.sample();
  t.equal(g.level, LEVEL_PRESSURE, 'under 80 % for less than 2 s: still pressure');
  h.t = 8_000;
  g.sample();
  t.equal(g.level, LEVEL_OK, 'back to ok after 2 s under 80 %');
  t.ok(cache.admitting);
  t.equal(pending.squeezed, 4096);
});

t.test('over the budget: a collection that helps means no eviction', async (t) => {
  const { cache, h, g } = setup(() => 60 * Mi, BUDGET, 12_000);
  h.rssNow = 120 * Mi;
  g.sample();
  t.equal(h.gcs, 1, 'one full collection');
  t.equal(g.evictions, 0, 'nothing evicted: the collection brought RSS back under');
  t.equal(cache.entries('success'), 12_000);
  h.t = 500;
  h.rssNow = 120 * Mi;
  g.sample();
  t.equal(h.gcs, 1, 'no second collection within a second');
  t.ok(g.evictions > 0, 'evicts when it cannot collect');
});

t.test('over the budget: what the collection leaves over is evicted, LRU first, down to the reserve', async (t) => {
  const { cache, h, g } = setup((r) => r, BUDGET, 12_000); // the collection frees nothing
  const before = cache.bytes();
  t.ok(before > CACHE_RESERVE + 4 * Mi, `cache holds ${before} bytes`);
  t.ok(cache.get(keyOf('n0.example')), 'the oldest entry, used just now');
  h.rssNow = 92 * Mi; // pressure, under the budget
  g.sample();
  t.equal(g.evictions, 0, 'nothing evicted under the budget');
  h.rssNow = 100 * Mi + 1;
  h.t = 10;
  g.sample();
  t.equal(g.level, LEVEL_OVER);
  t.equal(h.gcs, 1, 'collected first');
  t.ok(g.evictions > 0, `${g.evictions} of 12000 entries evicted`);
  t.ok(cache.bytes() <= CACHE_RESERVE && cache.bytes() > CACHE_RESERVE - 2048, `${cache.bytes()} bytes left: the reserve`);
  t.ok(cache.get(keyOf('n0.example')), 'the recently used entry is kept');
  t.notOk(cache.get(keyOf('n1.example')), 'the least recently used is gone');
  t.ok(cache.get(keyOf('n11999.example')), 'the newest is kept');
  t.notOk(cache.admitting);
});

t.test('over the budget with a cache under the reserve: nothing evicted', async (t) => {
  const { cache, h, g } = setup((r) => r);
  h.rssNow = 120 * Mi;
  g.sample();
  t.equal(g.level, LEVEL_OVER);
  t.equal(g.evictions, 0);
  t.equal(cache.entries('success'), 1000);
});

t.test('the V8 heap near its limit is pressure too, whatever RSS is', async (t) => {
  const { cache, pending, h, g } = setup((r) => r);
  h.rssNow = 50 * Mi;
  h.heapUsed = 70 * Mi; // 82 % of HEAP_SHARE x 100 MiB: fine
  g.sample();
  t.equal(g.level, LEVEL_OK);
  h.heapUsed = 78 * Mi; // 92 %
  g.sample();
  t.equal(g.level, LEVEL_PRESSURE, 'heap at 92 % of 85 % of its limit');
  t.notOk(cache.admitting);
  t.equal(pending.squeezed, 512);
  h.heapUsed = 86 * Mi;
  g.sample();
  t.equal(g.level, LEVEL_OVER, 'heap past 85 % of its limit');
  t.equal(h.gcs, 1, 'collected');
});

t.test('over the budget: queries pending past the lowered bound are ended and counted', async (t) => {
  const { pending, h, g } = setup((r) => r);
  pending.used = 3000; // admitted before the pressure
  h.rssNow = 120 * Mi;
  g.sample();
  t.equal(h.ended, 3000 - 512, 'pending down to the squeezed bound');
  t.equal(pending.shedByMemory, 3000 - 512, 'counted as shed by memory');
});

t.test('no limit: the guard does nothing', async (t) => {
  const { h } = setup((r) => r);
  const g = new MemoryGuard({ limit: 0, source: 'none', budget: 0, percent: 75 }, () => [], new PendingBudget(), createLogger('error'), () => 0, { rss: () => 1e12, heap: () => ({ used: 1e12, limit: 1 }), now: () => 0, loopShare: () => 0, gc: () => h.gcs++, trim: null, release: null });
  g.sample();
  t.equal(g.level, LEVEL_OK);
  t.equal(h.gcs, 0);
});

t.test('the sampling pace: 250 ms while the loop works or memory is tight, the shared second while quiet', async (t) => {
  const { h, g } = setup((r) => r);
  t.teardown(() => g.stop());
  h.rssNow = 50 * Mi;
  g.start();
  t.equal(g.sampleMs, SAMPLE_INTERVAL_MS, 'starts at the quick pace');
  h.loop = 0.001;
  g.tick();
  t.equal(g.sampleMs, QUIET_SAMPLE_INTERVAL_MS, 'a quiet loop: once a second');
  const joined = secondTick.size;
  t.ok(secondTick.armed && joined >= 1, 'on the shared tick');
  h.loop = 0.2;
  g.tick();
  t.equal(g.sampleMs, SAMPLE_INTERVAL_MS, 'a busy loop: back to 250 ms');
  t.equal(secondTick.size, joined - 1, 'off the shared tick');
  h.loop = 0.001;
  h.rssNow = 90 * Mi;
  g.tick();
  t.equal(g.level, LEVEL_PRESSURE);
  t.equal(g.sampleMs, SAMPLE_INTERVAL_MS, 'under pressure the quick pace stays, however quiet the loop');
  g.stop();
  t.equal(g.sampleMs, 0, 'stopped');
});
