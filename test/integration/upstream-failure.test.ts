// How the forwarder rides out upstream failures, against real knot (and the fault relay for
// refused TCP): every upstream marked down is tried anyway inside the deadline; the restart of
// the only upstream under queries ends in answers, not SERVFAIL in 0 ms; a resolver that refuses
// TCP keeps its UDP service; a replica behind one address that goes quiet costs a hedge delay,
// not a failed lookup; a TC retry over TCP is counted as a request.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent } from '../support/agent.js';
import { queryTcp, queryUdp } from '../support/dnsclient.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { disruption, runLoad } from '../support/load.js';
import { randomLoopback, randomPort, sleep } from '../support/net.js';
import { startTcpBalancer } from '../support/tcp-balancer.js';

const missing = knotMissing();
const NAME = 'web.prod.svc.cluster.local';

t.test('upstream failure semantics', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const target = { host: knot.address, port: knot.port };

  t.test('every upstream down: tried anyway until the deadline, answered once one is back', async (t) => {
    const faulty = await Promise.all([0, 1].map(() => startFaultyUpstream(randomLoopback(), randomPort(), target)));
    t.teardown(() => Promise.all(faulty.map((f) => f.close())));
    // Probes every 60 s: recovery below comes from trying the down upstreams, not from a probe.
    const a = await startTestAgent({
      upstreams: faulty.map((f) => ({ host: f.host, port: f.port })),
      zones: ['cluster.local.'],
      cache: null,
      forward: { maxFails: 1, healthCheckMs: 60_000, deadlineMs: 1_500 },
    });
    t.teardown(() => a.stop());
    await Promise.all(faulty.map((f) => f.setMode('refuse')));
    const t0 = Date.now();
    const first = await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 4_000 });
    const ms = Date.now() - t0;
    t.equal(first?.rcode, 'SERVFAIL', 'refused everywhere until the deadline → SERVFAIL');
    t.ok(ms >= 1_300, `kept trying for ${ms} ms (deadline 1.5 s), not SERVFAIL at once`);
    t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_down'), 2, 'both marked down');
    t.ok((await metricValue(a.metricsUrl, 'coredns_forward_healthcheck_broken_total')) >= 1, 'counted as healthcheck broken');
    t.ok((await metricValue(a.metricsUrl, 'nodelocaldns_upstream_requests_total')) >= 4, 'several tries, spread over the deadline');

    // Both still down; one comes back while a query is in flight: that query gets the answer.
    const pending = queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 4_000 });
    await sleep(300);
    await faulty[1]!.setMode('relay');
    const r = await pending;
    t.equal(r?.rcode, 'NOERROR', 'the query in flight is answered once an upstream is back');
    t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_down', { to: `${faulty[1]!.host}:${faulty[1]!.port}` }), 0, 'an answer clears the down mark');
  });

  t.test('the only upstream restarts under queries: every query answered', async (t) => {
    const k = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
    t.teardown(() => k.stop());
    for (const zone of ['cluster.local.', '.']) {
      // cluster.local forwards over TCP (force_tcp), "." over UDP for UDP clients.
      const a = await startTestAgent({ upstreams: [{ host: k.address, port: k.port }], zones: [zone], cache: null, forward: { maxFails: 2 } });
      const load = runLoad(a.host, a.port, { durationMs: 3_000, workers: 4, gapMs: 10, timeoutMs: 5_000, name: () => NAME });
      await sleep(500);
      await k.kill();
      await sleep(600);
      await k.start();
      const d = disruption(await load);
      await a.stop();
      t.ok(d.total > 20, `${zone}: ${d.total} queries across the restart`);
      t.equal(d.failed, 0, `${zone}: no query failed across a ~0.6 s restart (slowest ${d.maxLatencyMs} ms)`);
    }
  });

  t.test('TCP refused by a resolver that answers UDP: its UDP service stays up', async (t) => {
    const udpOnly = await startFaultyUpstream(randomLoopback(), randomPort(), target);
    t.teardown(() => udpOnly.close());
    await udpOnly.setMode('refuse'); // the TCP listener closes; UDP keeps relaying
    const a = await startTestAgent({ upstreams: [{ host: udpOnly.host, port: udpOnly.port }], zones: ['.'], cache: null, forward: { maxFails: 1, deadlineMs: 1_000 } });
    t.teardown(() => a.stop());
    const overTcp = await queryTcp(a.host, a.port, NAME, 'A');
    t.equal(overTcp?.rcode, 'SERVFAIL', 'a TCP client gets SERVFAIL: the resolver refuses TCP');
    t.ok((await metricValue(a.metricsUrl, 'nodelocaldns_upstream_failures_total')) >= 1, 'the TCP failure counted');
    t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_down'), 0, 'not down: the block serves UDP clients over UDP');
    const t0 = Date.now();
    const udp: (string | null)[] = [];
    for (let i = 0; i < 11; i++) udp.push((await queryUdp(a.host, a.port, NAME, 'A', { timeoutMs: 3_000 }))?.rcode ?? null);
    t.same(udp, Array(11).fill('NOERROR'), `the next 11 UDP queries answered (${Date.now() - t0} ms)`);
  });

  t.test('a quiet backend behind one address: hedged on another connection, no lookup fails', async (t) => {
    const quiet = await startFaultyUpstream(randomLoopback(), randomPort(), target);
    t.teardown(() => quiet.close());
    // Round-robin per connection, as kube-proxy's DNAT picks an endpoint per connection.
    const lb = await startTcpBalancer(randomLoopback(), randomPort(), quiet);
    lb.addBackend(target.host, target.port);
    t.teardown(() => lb.close());
    const a = await startTestAgent({ upstreams: [{ host: lb.host, port: lb.port }], zones: ['cluster.local.'], cache: null });
    t.teardown(() => a.stop());
    // Warm up: the first connection goes to `quiet` (the balancer's first backend), and the
    // round-trip estimate learns a healthy answer takes about a millisecond.
    for (let i = 0; i < 20; i++) await queryUdp(a.host, a.port, `w${i}.prod.svc.cluster.local`, 'A');
    await quiet.setMode('drop');
    const samples = await runLoad(a.host, a.port, { durationMs: 2_500, workers: 4, timeoutMs: 2_000, name: (i) => `q${i}.prod.svc.cluster.local` });
    const d = disruption(samples, { ok: ['NXDOMAIN'], slowMs: 600 });
    t.ok(d.total >= 40, `${d.total} distinct-name lookups after the backend went quiet`);
    t.equal(d.failed, 0, `none failed with a 2 s client timeout (slowest ${d.maxLatencyMs} ms, ${d.slow} over 600 ms)`);
    t.ok((await metricValue(a.metricsUrl, 'nodelocaldns_upstream_hedges_total')) >= 1, 'queries were hedged');
    t.ok((await metricValue(a.metricsUrl, 'nodelocaldns_upstream_blackholes_total')) >= 1, 'the quiet connection was retired');
  });

  t.test('a TC answer asked again over TCP counts as a request', async (t) => {
    const a = await startTestAgent({ upstreams: [target], zones: ['.'], cache: null });
    t.teardown(() => a.stop());
    const r = await queryUdp(a.host, a.port, 'big.prod.svc.cluster.local', 'A', { edns: 4096 });
    t.equal(r?.answers?.length, 120, 'the 120-record answer arrives whole');
    t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_requests_total'), 2, 'the UDP try and its TCP retry');
  });
});
