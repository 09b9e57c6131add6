// Agent.reload: listeners that stay are not closed, a query in flight during the swap is
// answered, and a block whose zones and cache settings did not change keeps its cache.
import t from 'tap';
import { clusterZone, knotMissing, reverseZone, startKnot } from '../support/knot.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { queryTcp, queryUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, testConfig } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';
import { MAX_HEDGES } from '../../src/upstream/race.js';

t.test('reload keeps listeners, in-flight queries and unchanged caches', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone(), '10.in-addr.arpa': reverseZone() } });
  t.teardown(() => knot.stop());
  const faulty = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => faulty.close());
  const up = [{ host: faulty.host, port: faulty.port }];
  const a = await startTestAgent({ upstreams: up, zones: ['cluster.local.'] });
  t.teardown(() => a.stop());
  const base = { upstreams: up, host: a.host, port: a.port, metricsPort: Number(new URL(a.metricsUrl).port) };

  t.equal((await queryUdp(a.host, a.port, 'web.prod.svc.cluster.local', 'A'))?.rcode, 'NOERROR', 'cached before the reload');
  const asked = faulty.queries;

  await faulty.setMode('delay', { delayMs: 600 });
  const inflight = queryTcp(a.host, a.port, 'api.prod.svc.cluster.local', 'A');
  await new Promise((r) => setTimeout(r, 100));
  await a.agent.reload(testConfig({ ...base, zones: ['cluster.local.', 'in-addr.arpa.'] }));
  t.equal((await inflight)?.answers?.[0]?.data, '10.96.3.8', 'the query in flight during the swap is answered');
  await faulty.setMode('relay');

  const before = faulty.queries;
  const hit = await queryUdp(a.host, a.port, 'web.prod.svc.cluster.local', 'A');
  t.equal(hit?.answers?.[0]?.data, '10.96.3.7');
  t.equal(faulty.queries, before, 'cluster.local answered from the cache kept across the reload');
  // The in-flight query is slow (600 ms) and alone on its connection, so it may be hedged.
  t.ok(before - asked >= 1 && before - asked <= 1 + MAX_HEDGES, `only the in-flight query (and its hedges) went upstream meanwhile (${before - asked})`);
  t.equal((await queryUdp(a.host, a.port, '7.3.96.10.in-addr.arpa', 'PTR'))?.answers?.[0]?.data, 'web.prod.svc.cluster.local', 'the new zone is served on the same listener');
  t.same(a.agent.listening, [`${a.host}:${a.port}`], 'one listener, not reopened');

  await a.agent.reload(testConfig({ ...base, zones: ['cluster.local.', 'in-addr.arpa.'], cache: { successMaxTtl: 10 } }));
  const q0 = faulty.queries;
  await queryUdp(a.host, a.port, 'web.prod.svc.cluster.local', 'A');
  t.equal(faulty.queries, q0 + 1, 'changed cache settings start a fresh cache');
  t.ok((await metricValue(a.metricsUrl, 'coredns_cache_hits_total', { zones: 'cluster.local.' })) >= 1, 'hit counted');
});
