// /health and /ready against a real knot upstream: both 200 while serving; during lameduck
// /health stays 200 "OK" and DNS keeps answering while /ready says 503 with the reason; when
// every upstream of a zone is down /ready is 503 naming the zone, and 200 again once knot is back.
import t from 'tap';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/observe/log.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { testConfig } from '../support/agent.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

async function get(url: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, body: await res.text() };
  } catch {
    return null; // connection refused: nothing listening
  }
}

t.test('health and ready', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const healthPort = randomPort();
  const readyPort = healthPort + 1;
  const config = testConfig({
    upstreams: [{ host: knot.address, port: knot.port }],
    zones: ['cluster.local.'],
    host,
    port,
    metricsPort: randomPort(),
    forward: { maxFails: 2, healthCheckMs: 200, attemptTimeoutMs: 300, deadlineMs: 1000 },
  });
  config.servers[0]!.health = { host, port: healthPort, lameduckMs: 1000 };
  config.servers[0]!.ready = { host, port: readyPort };
  const agent = new Agent({ log: silentLogger });
  await agent.start(config);
  t.teardown(() => agent.stop());
  const health = `http://${host}:${healthPort}/health`;
  const ready = `http://${host}:${readyPort}/ready`;

  t.same(await get(health), { status: 200, body: 'OK' }, '/health 200 OK while serving');
  t.same(await get(ready), { status: 200, body: 'OK' }, '/ready 200 once bound with a reachable upstream');
  t.equal(agent.lameduckMs, 1000, 'lameduck duration from the health block');

  t.test('every upstream of the zone down: 503 naming the zone, then back', async (t) => {
    await knot.kill();
    // Misses with nobody upstream: max_fails consecutive failures mark it down.
    const down = await until(async () => {
      await queryUdp(host, port, `x${randomPort()}.svc.cluster.local`, 'A', { timeoutMs: 1500 });
      return (await get(ready))?.status === 503;
    }, 10_000, 50);
    t.ok(down, '/ready turned 503');
    const r = await get(ready);
    t.equal(r?.body, 'no reachable upstream for cluster.local.', 'reason names the zone');
    t.same(await get(health), { status: 200, body: 'OK' }, '/health stays 200: the process itself is fine');
    await knot.start();
    const back = await until(async () => (await get(ready))?.status === 200, 10_000, 100);
    t.ok(back, '/ready 200 again once the health probe reaches knot');
    const ans = await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A');
    t.equal(ans?.rcode, 'NOERROR', 'answers again');
  });

  t.test('lameduck: healthy and answering, not ready; then closed', async (t) => {
    agent.enterLameduck();
    t.same(await get(health), { status: 200, body: 'OK' }, '/health still 200 OK in lameduck');
    t.same(await get(ready), { status: 503, body: 'shutting down (lameduck)' }, '/ready 503 with the reason');
    const ans = await queryUdp(host, port, 'api.prod.svc.cluster.local', 'A');
    t.equal(ans?.rcode, 'NOERROR', 'DNS still answered during lameduck');
    await agent.stop();
    t.equal(await get(health), null, '/health closed after stop');
    t.equal(await get(ready), null, '/ready closed after stop');
    t.equal(agent.readiness().reason, 'stopped');
  });
});
