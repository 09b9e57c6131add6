// Serve-stale (RFC 8767) through a real agent: knot behind the fault-injecting upstream, the
// cache's clock injected so entries expire without sleeping. Stale answers carry TTL 30; knot's
// records carry TTL 20, so every assertion can tell a stale answer from a fresh one.
import t, { type Test } from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { startFaultyUpstream, type FaultyUpstream } from '../support/faulty-upstream.js';
import { queryUdp, type Decoded } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, type TestAgent } from '../support/agent.js';
import { entryOf } from '../support/cache-probe.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import type { ForwardConfig, ServeStaleMode } from '../../src/config/types.js';

const missing = knotMissing();
const ZONE = 'cluster.local.';
const NAME = 'web.prod.svc.cluster.local';

function firstTtl(r: Decoded | null): number {
  return (r?.answers?.[0] as { ttl?: number } | undefined)?.ttl ?? -1;
}

t.test('serve-stale against knot through a faulty upstream', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 20 }) } });
  t.teardown(() => knot.stop());
  const faulty: FaultyUpstream = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => faulty.close());

  let now = 1_700_000_000_000;
  const start = async (mode: ServeStaleMode, t: Test, forward: Partial<ForwardConfig> = {}): Promise<TestAgent> => {
    await faulty.setMode('relay');
    const a = await startTestAgent({
      upstreams: [{ host: faulty.host, port: faulty.port }],
      zones: [ZONE],
      cache: { serveStale: { durationMs: 120_000, mode } },
      // maxFails 0: the upstream is never marked down, so every refresh really reaches it.
      forward: { maxFails: 0, deadlineMs: 3_000, ...forward },
      clock: () => now,
    });
    t.teardown(() => a.stop());
    const fresh = await queryUdp(a.host, a.port, NAME, 'A');
    t.equal(firstTtl(fresh), 20, 'first answer comes from knot');
    return a;
  };

  t.test('immediate: upstream stops answering → stale at once, one refresh per 30 s', async (t) => {
    const a = await start('immediate', t);
    await faulty.setMode('drop');
    now += 21_000;
    const q0 = faulty.queries;
    const t0 = Date.now();
    const stale = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 1500 });
    t.ok(Date.now() - t0 < 1500, 'answered without waiting for upstream');
    t.equal(stale?.rcode, 'NOERROR');
    t.equal(firstTtl(stale), 30, 'stale answer has TTL 30');
    t.same(stale?.answers?.map((x) => (x as { data?: unknown }).data), ['10.96.3.7'], 'stale answer carries the cached data');
    t.ok(await until(() => faulty.queries > q0, 3000), 'a background refresh was sent upstream');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_served_stale_total', { zones: ZONE }), 1, 'served_stale counted');
    const failed = await until(() => (entryOf(a.agent, ZONE, NAME, 'A')?.refreshFailedAt ?? -Infinity) > 0, 8000, 100);
    t.ok(failed, 'the refresh failed and was recorded');
    const q1 = faulty.queries;
    const again = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 1500 });
    t.equal(firstTtl(again), 30, 'still stale');
    await sleep(300);
    t.equal(faulty.queries, q1, 'no new refresh within 30 s of the failure');
    now += 31_000;
    const later = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 1500 });
    t.equal(firstTtl(later), 30, 'stale after 30 s more');
    t.ok(await until(() => faulty.queries > q1, 3000), 'refresh retried once 30 s passed');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_served_stale_total', { zones: ZONE }), 3, 'three stale answers counted');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_stale_entries_total', { zones: ZONE }), 3, 'per-cache stale counter agrees');
    now += 200_000; // beyond serve_stale DURATION (120 s): no longer servable
    const gone = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 6000 });
    t.equal(gone?.rcode, 'SERVFAIL', 'past the stale window the client gets the upstream failure');
  });

  t.test('immediate: upstream back → the refresh replaces the stale entry', async (t) => {
    const a = await start('immediate', t);
    now += 21_000;
    const stale = await queryUdp(a.host, a.port, NAME, 'A');
    t.equal(firstTtl(stale), 30, 'stale answer first');
    const refreshed = await until(() => {
      const e = entryOf(a.agent, ZONE, NAME, 'A');
      return e !== undefined && e.expiresAt > now;
    }, 3000);
    t.ok(refreshed, 'background refresh stored a fresh entry');
    const fresh = await queryUdp(a.host, a.port, NAME, 'A');
    t.equal(firstTtl(fresh), 20, 'next answer is fresh');
  });

  t.test('verify: upstream SERVFAIL → stale; the stale entry is kept and rechecked after 30 s', async (t) => {
    const a = await start('verify', t);
    await faulty.setMode('servfail');
    now += 21_000;
    const q0 = faulty.queries;
    const r = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 3000 });
    t.ok(faulty.queries > q0, 'upstream was asked first');
    t.equal(r?.rcode, 'NOERROR', 'SERVFAIL not passed on');
    t.equal(firstTtl(r), 30, 'stale answer');
    const q1 = faulty.queries;
    const r2 = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 3000 });
    t.equal(firstTtl(r2), 30, 'stale again');
    t.equal(faulty.queries, q1, 'upstream not asked again within 30 s');
    await faulty.setMode('relay');
    now += 31_000;
    const r3 = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 3000 });
    t.equal(firstTtl(r3), 20, 'after 30 s upstream is asked and its answer served');
  });

  t.test('verify: upstream slow (3 s) → stale from the 1.8 s client-response timer', async (t) => {
    // Over UDP with a 4 s attempt timeout the slow answer does arrive (TTL 20) — after the timer.
    const a = await start('verify', t, { forceTcp: false, attemptTimeoutMs: 4_000, deadlineMs: 5_000 });
    await faulty.setMode('delay', { delayMs: 3000 });
    now += 21_000;
    const t0 = Date.now();
    const r = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 5000 });
    const took = Date.now() - t0;
    t.equal(firstTtl(r), 30, 'stale answer, not the slow upstream\'s');
    t.ok(took >= 1500, `asked upstream first (${took} ms)`);
    const refreshed = await until(() => (entryOf(a.agent, ZONE, NAME, 'A')?.expiresAt ?? 0) > now, 5000, 100);
    t.ok(refreshed, 'the slow answer still refreshed the cache');
    t.equal(firstTtl(await queryUdp(a.host, a.port, NAME, 'A')), 20, 'and is served fresh next');
  });

  t.test('verify: upstream resets the connection → stale', async (t) => {
    const a = await start('verify', t);
    await faulty.setMode('rst');
    now += 21_000;
    const r = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 5000 });
    t.equal(r?.rcode, 'NOERROR');
    t.equal(firstTtl(r), 30, 'stale answer');
    t.equal(await metricValue(a.metricsUrl, 'coredns_cache_served_stale_total', { zones: ZONE }), 1);
  });

  t.test('without serve_stale an expired entry is a miss', async (t) => {
    await faulty.setMode('relay');
    const a = await startTestAgent({
      upstreams: [{ host: faulty.host, port: faulty.port }],
      zones: [ZONE],
      forward: { maxFails: 0, deadlineMs: 3_000 },
      clock: () => now,
    });
    t.teardown(() => a.stop());
    t.equal(firstTtl(await queryUdp(a.host, a.port, NAME, 'A')), 20);
    await faulty.setMode('servfail');
    now += 21_000;
    const r = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 3000 });
    t.equal(r?.rcode, 'SERVFAIL', 'upstream failure passed on');
  });
});
