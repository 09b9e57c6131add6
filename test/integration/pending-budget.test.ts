// The bound on queries pending upstream, against a blackholed upstream (the fault relay accepts
// TCP and never answers, in front of a real knot): a flood of distinct names fills the bound,
// the rest are answered SERVFAIL at once and counted, the pending count never passes the bound,
// cached names keep being answered throughout, and the slots come back when the queries end.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent } from '../support/agent.js';
import { queryUdp } from '../support/dnsclient.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const LIMIT = 40;

t.test('a blackholed upstream fills the pending bound, no further', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const hole = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => hole.close());
  const a = await startTestAgent({ upstreams: [{ host: hole.host, port: hole.port }], zones: ['cluster.local.'], maxPending: LIMIT, forward: { deadlineMs: 3_000 } });
  t.teardown(() => a.stop());
  t.equal((await queryUdp(a.host, a.port, 'web.prod.svc.cluster.local', 'A'))?.rcode, 'NOERROR', 'cached before the blackhole');
  await hole.setMode('drop');

  const started = Date.now();
  const flood = Array.from({ length: 400 }, (_, i) =>
    queryUdp(a.host, a.port, `n${i}.prod.svc.cluster.local`, 'A', { timeoutMs: 6_000 }).then((r) => ({ rcode: r?.rcode ?? null, ms: Date.now() - started })),
  );
  let peak = 0;
  const sampling = (async () => {
    for (let i = 0; i < 15; i++) {
      peak = Math.max(peak, await metricValue(a.metricsUrl, 'nodelocaldns_pending_queries'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const cached = await queryUdp(a.host, a.port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 2_000 });
  t.equal(cached?.answers?.[0]?.data, '10.96.3.7', 'a cached name is answered during the flood');
  await sampling;
  const results = await Promise.all(flood);
  const shed = results.filter((r) => r.rcode === 'SERVFAIL' && r.ms < 1_500);
  t.equal(results.filter((r) => r.rcode === null).length, 0, 'every query got an answer');
  t.ok(shed.length >= 400 - LIMIT, `${shed.length} of 400 answered SERVFAIL at once, past the bound of ${LIMIT}`);
  t.ok(peak <= LIMIT && peak > 0, `pending peaked at ${peak} (bound ${LIMIT})`);
  t.ok((await metricValue(a.metricsUrl, 'nodelocaldns_pending_shed_total')) >= 400 - LIMIT, 'shed misses counted');
  t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_pending_queries_limit'), LIMIT, 'the bound is published');
  t.ok(await until(async () => (await metricValue(a.metricsUrl, 'nodelocaldns_pending_queries')) === 0, 5_000, 100), 'slots come back once the pending queries end');
  await hole.setMode('relay');
  t.ok(await until(async () => (await queryUdp(a.host, a.port, 'api.prod.svc.cluster.local', 'A'))?.rcode === 'NOERROR', 6_000, 200), 'new misses go upstream again');
});
