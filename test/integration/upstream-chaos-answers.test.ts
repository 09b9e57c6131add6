// Answer-level chaos: wrong IDs, wrong questions, answers out of order, a connection
// closed after every answer, and a silent UDP upstream. Bounded failure counts and durations.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { scenario } from '../support/chaos.js';
import { metricValue } from '../support/prom.js';
import { randomLoopback, randomPort } from '../support/net.js';

const missing = knotMissing();

t.test('upstream chaos: answer faults', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());

  for (const mode of ['wrong-id', 'wrong-question'] as const) {
    t.test(`${mode}: discarded, counted, upstream abandoned`, async (t) => {
      const r = await scenario(t, knot, { fault: (f) => f.setMode(mode) });
      t.equal(r.after.failed, 0, 'no client query failed');
      t.ok(r.after.maxLatencyMs <= 2_500, `slowest query ${r.after.maxLatencyMs} ms ≤ 2.5 s`);
      t.ok(r.after.durationMs <= 4_000, `disruption ${r.after.durationMs} ms ≤ 4 s`);
      const mism = await metricValue(r.agent.metricsUrl, 'nodelocaldns_upstream_mismatched_answers_total', { to: `${r.faulty.host}:${r.faulty.port}` });
      t.ok(mism > 0, `mismatched answers counted (${mism})`);
    });
  }

  t.test('out of order: answers matched by ID', async (t) => {
    const r = await scenario(t, knot, { fault: (f) => f.setMode('out-of-order', { batch: 3 }) });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs < 1_500, `slowest query ${r.after.maxLatencyMs} ms < 1.5 s`);
  });

  t.test('close after each answer: the rest are retried at once', async (t) => {
    const r = await scenario(t, knot, { fault: (f) => f.setMode('close-after-answer') });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs < 1_000, `slowest query ${r.after.maxLatencyMs} ms < 1 s`);
    t.ok(r.faulty.tcpConnections > 2, `the faulty upstream saw reconnections (${r.faulty.tcpConnections})`);
  });

  t.test('silent UDP upstream for "." (client protocol kept)', async (t) => {
    const r = await scenario(t, knot, { zone: '.', fault: (f) => f.setMode('drop') });
    t.equal(r.after.failed, 0, 'no client query failed');
    t.ok(r.after.maxLatencyMs <= 2_500, `slowest query ${r.after.maxLatencyMs} ms ≤ 2.5 s`);
    t.ok(r.after.durationMs <= 4_500, `disruption ${r.after.durationMs} ms ≤ 4.5 s`);
    t.equal(r.faulty.tcpConnections, 0, 'UDP client → UDP upstream');
  });
});
