// nodelocaldns_upstream_down with node-cache's three cluster blocks forwarding to one knot: each
// block's forward marks the upstream down on its own, so there is one 0/1 series per block and
// upstream (labelled server, zones, view, to like the per-block cache series), never a sum.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/observe/log.js';
import { testConfig, type TestAgent } from '../support/agent.js';
import { randomLoopback, randomPort, until } from '../support/net.js';
import { scrape, select } from '../support/prom.js';

const CLUSTER_ZONES = ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'];
const QUESTION: Record<string, [string, string]> = {
  'cluster.local.': ['web.prod.svc.cluster.local', 'A'],
  'in-addr.arpa.': ['8.3.96.10.in-addr.arpa', 'PTR'],
  'ip6.arpa.': ['1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa', 'PTR'],
};

t.test('upstream_down: one 0/1 series per block and upstream', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const to = `${knot.address}:${knot.port}`;
  /** node-cache's three cluster blocks, each with its own forward to knot; `maxFails` per zone. */
  const start = async (maxFails: Record<string, number>): Promise<TestAgent & { down(): Promise<Record<string, number>> }> => {
    const host = randomLoopback();
    const port = randomPort();
    const metricsPort = randomPort();
    const config = testConfig({ upstreams: [{ host: knot.address, port: knot.port }], zones: CLUSTER_ZONES, cache: null, host, port, metricsPort });
    for (const s of config.servers) Object.assign(s.forward!, { maxFails: maxFails[s.zones[0]!] ?? 2, healthCheckMs: 200, attemptTimeoutMs: 500, deadlineMs: 1_000 });
    const agent = new Agent({ log: silentLogger });
    await agent.start(config);
    t.teardown(() => agent.stop());
    const metricsUrl = `http://${host}:${metricsPort}/metrics`;
    const server = `dns://${host}:${port}`;
    const down = async (): Promise<Record<string, number>> => {
      const samples = select((await scrape(metricsUrl)).exp, 'nodelocaldns_upstream_down');
      t.ok(samples.every((s) => s.labels.server === server && s.labels.to === to && s.labels.view === ''), 'labelled server, zones, view, to');
      return Object.fromEntries(samples.map((s) => [s.labels.zones ?? '(no zones label)', s.value]));
    };
    return { agent, host, port, metricsUrl, config, stop: () => agent.stop(), down };
  };
  const expect = (downZones: string[]): Record<string, number> => Object.fromEntries(CLUSTER_ZONES.map((z) => [z, downZones.includes(z) ? 1 : 0]));
  const markDown = async (a: TestAgent & { down(): Promise<Record<string, number>> }, zone: string): Promise<boolean> => {
    const [name, type] = QUESTION[zone]!;
    return until(async () => {
      await queryUdp(a.host, a.port, name, type, { timeoutMs: 1_500 });
      return (await a.down())[zone] === 1;
    }, 10_000, 100);
  };

  // Only cluster.local. counts failures (max_fails 0 never marks an upstream down).
  const one = await start({ 'cluster.local.': 1, 'in-addr.arpa.': 0, 'ip6.arpa.': 0 });
  const all = await start({});
  t.same(await one.down(), expect([]), 'three series, all 0, while knot answers');

  await knot.kill();
  t.ok(await markDown(one, 'cluster.local.'), 'cluster.local.\'s forward marked knot down');
  t.same(await one.down(), expect(['cluster.local.']), 'one block down: only its series is 1');

  for (const zone of CLUSTER_ZONES) t.ok(await markDown(all, zone), `${zone} marked knot down`);
  t.same(await all.down(), expect(CLUSTER_ZONES), 'all three blocks down: three series of 1, not one of 3');

  await knot.start();
  for (const a of [one, all]) t.ok(await until(async () => Object.values(await a.down()).every((v) => v === 0), 10_000, 100), 'health probes bring every block back to 0');
});
