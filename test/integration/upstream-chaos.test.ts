// Connection-level chaos: a faulty upstream beside a healthy knot, and for each fault
// how many client queries failed and how long the disruption lasted, as bounded figures.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { scenario } from '../support/chaos.js';
import { metricValue } from '../support/prom.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';

const missing = knotMissing();

t.test('upstream chaos: connection faults', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());

  t.test('RST mid-stream: queries on the reset connection are retried at once', async (t) => {
    const r = await scenario(t, knot, { fault: (f) => f.setMode('rst') });
    t.equal(r.before.failed, 0, 'healthy before the fault');
    t.ok(r.faulty.queries > 10, `faulty upstream carried the load before the fault (${r.faulty.queries})`);
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs < 1_000, `slowest query ${r.after.maxLatencyMs} ms < 1 s`);
    t.ok(r.after.durationMs < 1_500, `disruption ${r.after.durationMs} ms < 1.5 s`);
  });

  t.test('accept but never answer: abandoned within 2 s, in-flight queries retried elsewhere', async (t) => {
    const r = await scenario(t, knot, { fault: (f) => f.setMode('drop') });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs <= 2_500, `slowest query ${r.after.maxLatencyMs} ms ≤ 2.5 s`);
    t.ok(r.after.durationMs <= 4_000, `disruption ${r.after.durationMs} ms ≤ 4 s`);
    const late = r.samples.filter((s) => s.startedAt > r.faultAt + 3_000);
    t.ok(late.length > 20 && late.every((s) => s.latencyMs < 300), `queries 3 s after the fault are fast again (${late.length})`);
    const probeFailures = await until(
      () => metricValue(r.agent.metricsUrl, 'coredns_proxy_healthcheck_failures_total', { to: `${r.faulty.host}:${r.faulty.port}` }),
      5_000,
      200,
    );
    t.ok(probeFailures > 0, `health probes of the silent upstream fail (${probeFailures})`);
  });

  t.test('stop answering after N queries', async (t) => {
    const r = await scenario(t, knot, {
      fault: async (f) => {
        f.stopAfter = 20;
      },
    });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs <= 2_500, `slowest query ${r.after.maxLatencyMs} ms ≤ 2.5 s`);
    t.ok(r.after.durationMs <= 4_000, `disruption ${r.after.durationMs} ms ≤ 4 s`);
  });

  t.test('1.5 s latency beside a healthy upstream: routed around', async (t) => {
    const r = await scenario(t, knot, { fault: (f) => f.setMode('delay', { delayMs: 1_500 }) });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs <= 2_500, `slowest query ${r.after.maxLatencyMs} ms ≤ 2.5 s`);
    t.ok(r.after.durationMs <= 4_000, `disruption ${r.after.durationMs} ms ≤ 4 s`);
  });

  t.test('1.5 s latency on the only upstream: slow answers, not failures', async (t) => {
    const r = await scenario(t, knot, { withHealthy: false, loadMs: 6_000, fault: (f) => f.setMode('delay', { delayMs: 1_500 }) });
    t.equal(r.after.failed, 0, `every query answered (${r.after.total})`);
    t.ok(r.after.total >= 8, `queries during the fault: ${r.after.total}`);
    t.ok(r.after.maxLatencyMs < 4_000, `slowest query ${r.after.maxLatencyMs} ms < 4 s`);
  });

  t.test('flapping every second (listening / connection refused)', async (t) => {
    const r = await scenario(t, knot, {
      loadMs: 6_000,
      fault: async (f) => {
        for (let i = 0; i < 4; i++) {
          await f.setMode(i % 2 === 0 ? 'refuse' : 'relay');
          await sleep(1_000);
        }
        await f.setMode('relay');
      },
    });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs < 1_000, `slowest query ${r.after.maxLatencyMs} ms < 1 s`);
  });
});
