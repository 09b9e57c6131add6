// Scale-up behind ONE Service IP: the agent knows a single address, a TCP balancer in
// front of it picks a backend per new connection (IPVS), and a second backend appears mid-load.
// Only `expire` can move load to it: connections that old are drained (no new queries, in-flight
// ones answered) and replaced, and the replacements land on the new backend.
import t from 'tap';
import { clusterZone, knotMissing, startKnot, type Knot } from '../support/knot.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent } from '../support/agent.js';
import { runLoad } from '../support/load.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { startTcpBalancer } from '../support/tcp-balancer.js';

const missing = knotMissing();
const EXPIRE_MS = 2_000;
// A busy connection stops taking queries at the first 200 ms sweep past `expire` and closes at
// the sweep after its last answer: well inside a second on a loaded box.
const SLACK_MS = 1_500;

t.test('upstream scale-up behind one Service IP', { skip: missing }, async (t) => {
  const knots: Knot[] = [];
  for (let i = 0; i < 2; i++) {
    const k = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
    t.teardown(() => k.stop());
    knots.push(k);
  }

  t.test('a second backend appears: within expire both carry load, no query fails', async (t) => {
    const lb = await startTcpBalancer(randomLoopback(), randomPort(), { host: knots[0]!.address, port: knots[0]!.port });
    t.teardown(() => lb.close());
    const a = await startTestAgent({ upstreams: [{ host: lb.host, port: lb.port }], zones: ['cluster.local.'], cache: null, forward: { expireMs: EXPIRE_MS } });
    t.teardown(() => a.stop());

    const load = runLoad(a.host, a.port, { durationMs: 4 * EXPIRE_MS + 2_000, workers: 4, gapMs: 10, timeoutMs: 5_000, maxQueries: 4_000 });
    await sleep(1_000);
    const [first] = lb.backends;
    t.ok(first!.queries > 10, `the first backend carries the load before scale-up (${first!.queries})`);
    const second = lb.addBackend(knots[1]!.address, knots[1]!.port);
    const addedAt = Date.now();

    const reached = await until(() => second.queries > 0, EXPIRE_MS + SLACK_MS, 20);
    const secondAfterMs = Date.now() - addedAt;
    t.ok(reached, `the new backend gets queries ${secondAfterMs} ms after it appeared (bound ${EXPIRE_MS + SLACK_MS} ms)`);
    const firstThen = first!.queries;
    const back = await until(() => first!.queries > firstThen, EXPIRE_MS + SLACK_MS, 20);
    t.ok(back, `and the first one still carries load afterwards (${first!.queries - firstThen} more queries)`);

    const samples = await load;
    const failed = samples.filter((s) => s.rcode !== 'NOERROR');
    t.ok(samples.length > 200, `bounded load ran (${samples.length} queries)`);
    t.equal(failed.length, 0, 'no client query failed across the rotations');
    t.ok(second.answers > 0 && first!.answers > 0, `both backends answered (${first!.answers} / ${second.answers})`);

    // Busy connections were rotated by age, each drained: every query it carried was answered.
    const rotated = lb.connections.filter((c) => c.closedAt !== 0 && c.closedAt < samples[samples.length - 1]!.startedAt);
    t.ok(rotated.length >= 2, `busy connections rotated during the load (${rotated.length})`);
    for (const c of rotated) {
      t.ok(c.closedByClient, 'closed by the agent, not the backend');
      t.equal(c.answers, c.queries, `drained before closing: ${c.answers} answers for ${c.queries} queries`);
      t.ok(c.closedAt - c.openedAt <= EXPIRE_MS + SLACK_MS, `lived ${c.closedAt - c.openedAt} ms ≤ expire + ${SLACK_MS} ms`);
    }

    // Idle: once the load stops, the last connection closes after expire.
    const idleSince = Date.now();
    const closed = await until(() => lb.open() === 0, EXPIRE_MS + SLACK_MS, 50);
    t.ok(closed, `idle connection closed ${Date.now() - idleSince} ms after the load (bound ${EXPIRE_MS + SLACK_MS} ms)`);
    t.ok(lb.connections.every((c) => c.closedByClient), 'every connection was closed by the agent');
  });

  t.test('a loaded pool never grows past maxConnsPerUpstream, rotations included', async (t) => {
    const lb = await startTcpBalancer(randomLoopback(), randomPort(), { host: knots[0]!.address, port: knots[0]!.port });
    t.teardown(() => lb.close());
    lb.addBackend(knots[1]!.address, knots[1]!.port);
    const cap = 2;
    const a = await startTestAgent({
      upstreams: [{ host: lb.host, port: lb.port }],
      zones: ['cluster.local.'],
      cache: null,
      // 2 queries fill a connection, so 16 workers need the whole pool; short expire: many rotations.
      forward: { expireMs: 1_000, maxConnsPerUpstream: cap, maxInflightPerConn: 2 },
    });
    t.teardown(() => a.stop());
    const to = { to: `${lb.host}:${lb.port}` };
    let sampling = true;
    let peak = 0;
    let samplesTaken = 0;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await metricValue(a.metricsUrl, 'nodelocaldns_upstream_connections', to));
        samplesTaken++;
        await sleep(25);
      }
    })();
    // Distinct names: identical misses would be coalesced into one upstream query.
    const samples = await runLoad(a.host, a.port, { durationMs: 3_000, workers: 16, gapMs: 5, timeoutMs: 5_000, maxQueries: 8_000, name: (i) => `n${i}.prod.svc.cluster.local` });
    sampling = false;
    await sampler;
    t.equal(samples.filter((s) => s.rcode !== 'NXDOMAIN').length, 0, `no client query failed (${samples.length} queries)`);
    t.equal(peak, cap, `the pool grew to the cap and no further (peak ${peak} over ${samplesTaken} samples)`);
    t.ok(lb.connections.length > cap, `connections were rotated under load (${lb.connections.length} opened)`);
    const done = lb.connections.filter((c) => c.closedAt !== 0 && c.closedByClient);
    t.ok(done.every((c) => c.answers === c.queries), 'every rotated connection was drained before it closed');
  });
});
