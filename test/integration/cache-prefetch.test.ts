// Prefetch through a real agent: a popular entry (AMOUNT hits, no gap ≥ DURATION) is refreshed
// in the background once its remaining TTL ≤ PERCENT% — upstream sees a query without any client
// miss. knot's TTL is 20 s; the cache's clock is injected, so nothing sleeps for TTLs.
import t, { type Test } from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { queryUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, type TestAgent } from '../support/agent.js';
import { entryOf } from '../support/cache-probe.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';

const missing = knotMissing();
const ZONE = 'cluster.local.';
const WEB = 'web.prod.svc.cluster.local';
const API = 'api.prod.svc.cluster.local';

t.test('prefetch against knot', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 20 }) } });
  t.teardown(() => knot.stop());
  const faulty = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => faulty.close());
  let now = 1_700_000_000_000;
  const base = now;
  const at = (sec: number): number => (now = base + sec * 1000);

  const start = async (t: Test, durationMs: number): Promise<TestAgent> => {
    at(0);
    const a = await startTestAgent({
      upstreams: [{ host: faulty.host, port: faulty.port }],
      zones: [ZONE],
      cache: { prefetch: { amount: 3, durationMs, percentage: 50 } },
      forward: { maxFails: 0 },
      clock: () => now,
    });
    t.teardown(() => a.stop());
    return a;
  };
  const ask = async (a: TestAgent, name: string): Promise<number> => {
    const r = await queryUdp(a.host, a.port, name, 'A');
    return (r?.answers?.[0] as { ttl?: number } | undefined)?.ttl ?? -1;
  };

  t.test('a popular entry is refreshed before it expires', async (t) => {
    const a = await start(t, 60_000);
    t.equal(await ask(a, WEB), 20, 'miss fills the cache');
    t.equal(await ask(a, API), 20, 'a second, unpopular name');
    const misses = await metricValue(a.metricsUrl, 'coredns_cache_misses_total', { zones: ZONE });
    t.equal(misses, 2);
    for (const s of [1, 2, 3]) {
      at(s);
      await ask(a, WEB);
    }
    const q0 = faulty.queries;
    await sleep(100);
    t.equal(faulty.queries, q0, 'no refresh while the TTL is above 50%');
    at(11); // 9 s left of 20: ≤ ceil(50% × 20)
    t.equal(await ask(a, API), 9, 'one hit on the unpopular name');
    await sleep(200);
    t.equal(faulty.queries, q0, 'the unpopular name is not prefetched');
    t.equal(await ask(a, WEB), 9, 'the popular name is answered from the cache');
    t.ok(await until(() => faulty.queries === q0 + 1, 3000), 'exactly one upstream query, from the prefetch');
    t.ok(await until(() => entryOf(a.agent, ZONE, WEB, 'A')?.storedAt === now, 3000), 'the refreshed entry is stored');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_prefetch_total', { zones: ZONE }), 1, 'prefetch counted');
    at(25); // past the original expiry (20 s)
    t.equal(await ask(a, WEB), 6, 'still a hit after the original TTL, aged from the refresh');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_misses_total', { zones: ZONE }), misses, 'no client miss');
    t.equal(entryOf(a.agent, ZONE, WEB, 'A')?.hits, 5, 'popularity carried over to the refreshed entry');
  });

  t.test('a gap of DURATION or more starts the count again', async (t) => {
    const a = await start(t, 5_000);
    await ask(a, WEB);
    for (const s of [1, 2, 3]) {
      at(s);
      await ask(a, WEB);
    }
    const q0 = faulty.queries;
    at(11); // 8 s since the last hit ≥ 5 s: hits back to 1
    t.equal(await ask(a, WEB), 9);
    await sleep(300);
    t.equal(faulty.queries, q0, 'not prefetched');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_prefetch_total', { zones: ZONE }), 0);
  });
});
