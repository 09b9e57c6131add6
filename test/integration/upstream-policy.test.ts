// forward options against three real knot instances on different loopback addresses: policies,
// max_fails and recovery by health probe, max_concurrent, the per-upstream duration histogram,
// and a second upstream appearing on reload (every upstream down: upstream-failure.test.ts).
import t, { type Test } from 'tap';
import { clusterZone, knotMissing, startKnot, type Knot } from '../support/knot.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, testConfig } from '../support/agent.js';
import { createSocket } from 'node:dgram';
import { decode, queryUdp } from '../support/dnsclient.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const missing = knotMissing();
const NAME = 'web.prod.svc.cluster.local';

/** Answers per upstream, from the agent's coredns_proxy_request_duration_seconds_count. */
async function answeredBy(url: string, knots: Knot[]): Promise<number[]> {
  return Promise.all(knots.map((k) => metricValue(url, 'coredns_proxy_request_duration_seconds_count', { to: `${k.address}:${k.port}` })));
}

/** The query turned into an empty NOERROR answer (QR set), enough for a health probe. */
function encodeAnswer(query: Buffer): Buffer {
  const res = Buffer.from(query);
  res[2] = res[2]! | 0x80;
  return res;
}

async function sequentialQueries(host: string, port: number, n: number, name = NAME): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for (let i = 0; i < n; i++) out.push((await queryUdp(host, port, name, 'A', { timeoutMs: 6_000 }))?.rcode ?? null);
  return out;
}

t.test('forward against three knots', { skip: missing }, async (t) => {
  const knots = await Promise.all(
    [0, 1, 2].map(() => startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } })),
  );
  t.teardown(() => Promise.all(knots.map((k) => k.stop())));
  const upstreams = knots.map((k) => ({ host: k.address, port: k.port }));
  const agentWith = async (t: Test, forward: Parameters<typeof startTestAgent>[0]['forward'], ups = upstreams) => {
    const a = await startTestAgent({ upstreams: ups, zones: ['cluster.local.'], cache: null, forward });
    t.teardown(() => a.stop());
    return a;
  };

  t.test('round_robin spreads evenly, sequential sticks to the first, random reaches all', async (t) => {
    const rr = await agentWith(t, { policy: 'round_robin' });
    t.same(await sequentialQueries(rr.host, rr.port, 30), Array(30).fill('NOERROR'));
    t.same(await answeredBy(rr.metricsUrl, knots), [10, 10, 10], 'round_robin: 10 each');
    const seq = await agentWith(t, { policy: 'sequential' });
    await sequentialQueries(seq.host, seq.port, 30);
    t.same(await answeredBy(seq.metricsUrl, knots), [30, 0, 0], 'sequential: all on the first');
    const rnd = await agentWith(t, { policy: 'random' });
    await sequentialQueries(rnd.host, rnd.port, 60);
    const counts = await answeredBy(rnd.metricsUrl, knots);
    t.equal(counts.reduce((a, b) => a + b, 0), 60, 'random: every query answered once');
    t.ok(counts.every((c) => c > 0), `random: every upstream used (${counts})`);
  });

  t.test('duration histogram per upstream and rcode', async (t) => {
    const a = await agentWith(t, { policy: 'sequential' });
    await sequentialQueries(a.host, a.port, 3);
    await sequentialQueries(a.host, a.port, 2, 'nope.prod.svc.cluster.local');
    const to = `${knots[0]!.address}:${knots[0]!.port}`;
    t.equal(await metricValue(a.metricsUrl, 'coredns_proxy_request_duration_seconds_count', { to, rcode: 'NOERROR', proxy_name: 'forward' }), 3);
    t.equal(await metricValue(a.metricsUrl, 'coredns_proxy_request_duration_seconds_count', { to, rcode: 'NXDOMAIN' }), 2);
    const inf = await metricValue(a.metricsUrl, 'coredns_proxy_request_duration_seconds_bucket', { to, rcode: 'NOERROR', le: '+Inf' });
    t.equal(inf, 3, '+Inf bucket equals the count');
    const sum = await metricValue(a.metricsUrl, 'coredns_proxy_request_duration_seconds_sum', { to, rcode: 'NOERROR' });
    t.ok(sum > 0 && sum < 3, `sum of durations ${sum} s`);
  });

  t.test('max_fails marks a stopped upstream down; a probe brings it back', async (t) => {
    const a = await agentWith(t, { policy: 'sequential', maxFails: 2, healthCheckMs: 200 });
    await knots[0]!.kill();
    t.teardown(() => knots[0]!.pid < 0 && knots[0]!.start());
    const rcodes = await sequentialQueries(a.host, a.port, 10);
    t.same(rcodes, Array(10).fill('NOERROR'), 'no client query failed');
    const to0 = { to: `${knots[0]!.address}:${knots[0]!.port}` };
    const failures = await metricValue(a.metricsUrl, 'nodelocaldns_upstream_failures_total', to0);
    t.equal(failures, 2, 'exactly max_fails failures before it was skipped');
    t.same((await answeredBy(a.metricsUrl, knots)).slice(1), [10, 0], 'the next one answered everything');
    await knots[0]!.start();
    const t0 = Date.now();
    const back = await until(async () => {
      await sequentialQueries(a.host, a.port, 1);
      return (await answeredBy(a.metricsUrl, knots))[0]! > 0;
    }, 5_000, 100);
    t.ok(back, `first upstream answers again ${Date.now() - t0} ms after it restarted`);
  });

  t.test('health_check domain and no_rec: the probe asks what was configured', async (t) => {
    // A bare UDP socket as the upstream, so the test sees the probe's exact question and flags.
    const host = randomLoopback();
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(randomPort(), host, () => r()));
    t.teardown(() => sock.close());
    const seen: { name: string; type: string; rd: boolean }[] = [];
    let answerProbes = false;
    sock.on('message', (m, rinfo) => {
      const p = decode(m);
      const q = p.questions![0]!;
      seen.push({ name: q.name, type: q.type, rd: ((p.flags ?? 0) & 0x100) !== 0 });
      if (answerProbes && q.name === 'probe.example') sock.send(encodeAnswer(m), rinfo.port, rinfo.address);
    });
    const a = await startTestAgent({
      upstreams: [{ host, port: sock.address().port }],
      zones: ['.'],
      cache: null,
      forward: { maxFails: 1, healthCheckMs: 100, healthCheckDomain: 'probe.example.', healthCheckNoRec: true, attemptTimeoutMs: 500 },
    });
    t.teardown(() => a.stop());
    const r = await queryUdp(a.host, a.port, 'example.org', 'A', { timeoutMs: 6_000 });
    t.equal(r?.rcode, 'SERVFAIL', 'a silent only upstream → SERVFAIL');
    t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_down'), 1, 'marked down after max_fails 1');
    const probes = await until(() => seen.filter((s) => s.name === 'probe.example').length >= 2, 3_000);
    t.ok(probes, 'probes sent while down');
    t.ok(seen.filter((s) => s.name === 'probe.example').every((s) => s.type === 'NS' && !s.rd), 'probe is NS for the domain, RD clear (no_rec)');
    answerProbes = true;
    t.ok(await until(async () => (await metricValue(a.metricsUrl, 'nodelocaldns_upstream_down')) === 0, 3_000, 100), 'an answered probe brings it back');
    t.ok((await metricValue(a.metricsUrl, 'coredns_proxy_healthcheck_failures_total')) >= 1, 'failed probes counted');
  });

  t.test('max_concurrent: excess queries REFUSED at once and counted', async (t) => {
    const slow = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knots[1]!.address, port: knots[1]!.port });
    t.teardown(() => slow.close());
    await slow.setMode('delay', { delayMs: 700 });
    const a = await agentWith(t, { maxConcurrent: 3 }, [{ host: slow.host, port: slow.port }]);
    const t0 = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => queryUdp(a.host, a.port, `n${i}.prod.svc.cluster.local`, 'A', { timeoutMs: 4_000 }).then((r) => ({ r, ms: Date.now() - t0 }))),
    );
    const refused = replies.filter((x) => x.r?.rcode === 'REFUSED');
    t.equal(replies.filter((x) => x.r?.rcode === 'NXDOMAIN').length, 3, '3 answered by the upstream');
    t.equal(refused.length, 9, '9 refused');
    t.ok(refused.every((x) => x.ms < 500), 'refused without waiting for the upstream');
    t.equal(await metricValue(a.metricsUrl, 'coredns_forward_max_concurrent_rejects_total'), 9);
  });

  t.test('scale-up: a second upstream appears on reload and both carry load', async (t) => {
    const a = await agentWith(t, { policy: 'random', expireMs: 2_000 }, [upstreams[0]!]);
    await sequentialQueries(a.host, a.port, 10);
    t.same(await answeredBy(a.metricsUrl, knots.slice(0, 2)), [10, 0], 'one upstream at first');
    const both = testConfig({ upstreams: upstreams.slice(0, 2), zones: ['cluster.local.'], cache: null, forward: { policy: 'random', expireMs: 2_000 }, host: a.host, port: a.port, metricsPort: Number(new URL(a.metricsUrl).port) });
    await a.agent.reload(both);
    const rcodes = await sequentialQueries(a.host, a.port, 40);
    t.ok(rcodes.every((r) => r === 'NOERROR'), 'no query failed across the reload');
    const counts = await answeredBy(a.metricsUrl, knots.slice(0, 2));
    t.ok(counts[0]! >= 8 && counts[1]! >= 8, `both upstreams carry load after the reload (${counts})`);
  });
});
