// The families beyond the request path: health self-probe, reload version info, event-loop lag,
// and what a scrape with every series filled in costs (measured and reported, not asserted).
import t from 'tap';
import { createHash } from 'node:crypto';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/observe/log.js';
import { startTestAgent, testConfig } from '../support/agent.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { scrape, select, sum } from '../support/prom.js';

async function startAgent(corefileText: string): Promise<{ agent: Agent; host: string; metricsUrl: string; healthUrl: string }> {
  const host = randomLoopback();
  const metricsPort = randomPort();
  const healthPort = metricsPort + 1;
  // Nothing listens on the upstream address: these tests need no answers.
  const config = testConfig({ upstreams: [{ host: randomLoopback(), port: randomPort() }], host, port: randomPort(), metricsPort });
  config.corefileText = corefileText;
  config.servers[0]!.health = { host, port: healthPort, lameduckMs: 0 };
  config.servers[0]!.reload = { intervalMs: 30_000, jitterMs: 0 };
  const agent = new Agent({ log: silentLogger });
  await agent.start(config);
  return { agent, host, metricsUrl: `http://${host}:${metricsPort}/metrics`, healthUrl: `http://${host}:${healthPort}/health` };
}

/** Keep the event loop busy in 300 ms slices for `ms`, yielding one loop turn between slices. */
async function hogLoop(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const sliceEnd = Date.now() + 300;
    while (Date.now() < sliceEnd);
    await new Promise((r) => setImmediate(r));
  }
}

t.test('health self-probe, reload version, event-loop lag', async (t) => {
  const text = `.:53 {\n  cache 30\n  reload\n  # ${Math.random()}\n}\n`;
  const a = await startAgent(text);
  t.teardown(() => a.agent.stop());

  t.test('coredns_health_request_duration_seconds counts the self-probes', async (t) => {
    const got = await until(async () => (await scrape(a.metricsUrl)).exp, 5000, 100);
    t.equal(got.types.get('coredns_health_request_duration_seconds'), 'histogram');
    t.equal(got.types.get('coredns_health_request_failures_total'), 'counter');
    const n = await until(async () => sum((await scrape(a.metricsUrl)).exp, 'coredns_health_request_duration_seconds_count') >= 2, 6000, 200);
    t.ok(n, 'at least two probes within 6 s (one per second)');
    const { exp } = await scrape(a.metricsUrl);
    t.same(select(exp, 'coredns_health_request_duration_seconds_bucket').map((s) => s.labels.le), ['0.00025', '0.0025', '0.025', '0.25', '2.5', '+Inf'], 'CoreDNS SlimTimeBuckets');
    t.equal(sum(exp, 'coredns_health_request_failures_total'), 0, 'no failures while healthy');
    const res = await fetch(a.healthUrl);
    t.equal(res.status, 200);
    t.equal(await res.text(), 'OK');
  });

  t.test('a busy event loop shows in the probe and in the lag metrics', async (t) => {
    await scrape(a.metricsUrl); // resets prom-client's event-loop delay histogram
    const before = sum((await scrape(a.metricsUrl)).exp, 'coredns_health_request_duration_seconds_count');
    const slowBefore = before - sum((await scrape(a.metricsUrl)).exp, 'coredns_health_request_duration_seconds_bucket', { le: '0.25' });
    await hogLoop(3000);
    await sleep(200);
    const { exp } = await scrape(a.metricsUrl);
    const after = sum(exp, 'coredns_health_request_duration_seconds_count');
    const slowAfter = after - sum(exp, 'coredns_health_request_duration_seconds_bucket', { le: '0.25' });
    t.ok(after > before, `probes kept running (${before} → ${after})`);
    t.ok(slowAfter > slowBefore, `a probe took longer than 0.25 s while the loop was busy (${slowBefore} → ${slowAfter})`);
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds'])
      t.equal(exp.types.get(name), 'gauge', `${name} exported`);
    const max = sum(exp, 'nodejs_eventloop_lag_max_seconds');
    t.ok(max >= 0.25, `event-loop lag max reflects the 300 ms slices (${max} s)`);
    t.ok(sum(exp, 'process_resident_memory_bytes') > 0, 'RSS exported');
  });

  t.test('coredns_reload_version_info carries the sha512 of the Corefile', async (t) => {
    let { exp } = await scrape(a.metricsUrl);
    let info = select(exp, 'coredns_reload_version_info');
    t.equal(info.length, 1, 'one series');
    t.same(info[0]?.labels, { hash: 'sha512', value: createHash('sha512').update(text).digest('hex') });
    t.equal(info[0]?.value, 1);
    const text2 = text.replace('cache 30', 'cache 60');
    await a.agent.reload({ ...a.agent.config!, corefileText: text2 });
    ({ exp } = await scrape(a.metricsUrl));
    info = select(exp, 'coredns_reload_version_info');
    t.equal(info.length, 1, 'still one series after a reload');
    t.equal(info[0]?.labels.value, createHash('sha512').update(text2).digest('hex'), 'hash follows the new Corefile');
  });
});

t.test('no reload plugin, no coredns_reload_version_info (as CoreDNS)', async (t) => {
  const a = await startTestAgent({ upstreams: [{ host: randomLoopback(), port: randomPort() }] });
  t.teardown(() => a.stop());
  const { exp } = await scrape(a.metricsUrl);
  t.equal(select(exp, 'coredns_reload_version_info').length, 0);
  t.equal(select(exp, 'coredns_health_request_duration_seconds_count').length, 1, 'health histogram present (empty) even without a health endpoint');
});

t.test('scrape cost with every series present (information)', async (t) => {
  const a = await startAgent('');
  t.teardown(() => a.agent.stop());
  // Fill every slot so each (zone, proto, family, type) and (rcode, plugin) series is emitted.
  for (const s of a.agent.zoneStats()) {
    for (const arr of [s.requests, s.responses, s.duration, s.requestSize, s.responseSize]) arr.fill(1);
    s.cacheHitsSuccess = s.cacheHitsDenial = s.cacheMisses = s.doRequests = 1;
  }
  const first = await a.agent.registry.metrics();
  const series = first.split('\n').filter((l) => l && !l.startsWith('#')).length;
  const times: number[] = [];
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    await a.agent.registry.metrics();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = times[15]!;
  t.ok(series > 1000, `every series present (${series} samples)`);
  t.comment(`scrape of ${series} samples: median ${median.toFixed(2)} ms, max ${times.at(-1)!.toFixed(2)} ms (target < 5 ms)`);
});

t.test('the event-loop lag sampler runs while the loop is busy, not while it idles', async (t) => {
  const { loopLag } = await import('../../src/observe/loop-lag.js');
  const lag = loopLag();
  lag.start();
  // Idle for two watch periods: the sampler stops (or never starts).
  await sleep(2200);
  t.equal(lag.active, false, 'idle: not sampling');
  await hogLoop(2500);
  t.equal(lag.active, true, 'busy: sampling');
  await sleep(2200);
  t.equal(lag.active, false, 'idle again: stopped');
});

/** Keep the event loop lightly busy for `ms`: 3 ms of work every 30 ms, no delay near 100 ms. */
async function lightLoad(ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const sliceEnd = Date.now() + 3;
    while (Date.now() < sliceEnd);
    await sleep(30);
  }
}

t.test('an idle stretch between two busy ones is not reported as event-loop lag', async (t) => {
  // The sampler stops while the loop idles and starts again when it is busy; the gap between its
  // last sample before and its first after is not a delay of the loop. It was reported as one:
  // the whole idle stretch as nodejs_eventloop_lag_max_seconds (2-9 s in the incident rig, whose
  // lookups never took over 10 ms).
  const a = await startAgent('');
  t.teardown(() => a.agent.stop());
  await scrape(a.metricsUrl); // the watch starts at the first scrape
  await lightLoad(2500);
  await sleep(3500);
  await lightLoad(2500);
  let { exp } = await scrape(a.metricsUrl);
  let max = sum(exp, 'nodejs_eventloop_lag_max_seconds');
  t.ok(max < 0.2, `lag max ${max.toFixed(3)} s: light load only, no stall and not the idle stretch`);
  t.ok(max >= 0.02, `samples were taken (max ${max.toFixed(3)} s, the 20 ms resolution included)`);
  t.ok(sum(exp, 'nodejs_eventloop_lag_p99_seconds') < 0.2, 'nor in the p99');

  // A stall before the pause is still reported after the sampler restarts.
  await lightLoad(1500);
  await hogLoop(700);
  await sleep(3500);
  await lightLoad(2500);
  ({ exp } = await scrape(a.metricsUrl));
  max = sum(exp, 'nodejs_eventloop_lag_max_seconds');
  t.ok(max >= 0.25, `lag max ${max.toFixed(3)} s: the 300 ms slices before the pause are kept`);
  t.ok(max < 1.5, `and the 3.5 s idle stretch is not a stall (max ${max.toFixed(3)} s)`);
});
