// Loop detection at start (CoreDNS `loop`): "." forwarding to the agent itself, or through a
// second agent back to it, stops start with a LoopError that says what to fix; a real upstream
// does not.
import t from 'tap';
import { Agent } from '../../src/agent/agent.js';
import { LoopError } from '../../src/errors.js';
import { silentLogger } from '../../src/observe/log.js';
import type { AgentConfig, UpstreamAddress } from '../../src/config/types.js';
import { metricValue } from '../support/prom.js';
import { testConfig } from '../support/agent.js';
import { queryUdp } from '../support/dnsclient.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { randomLoopback, randomPort, sleep } from '../support/net.js';

function loopConfig(host: string, port: number, upstreams: UpstreamAddress[], loop = true): AgentConfig {
  const c = testConfig({ upstreams, zones: ['.'], cache: null, host, port, metricsPort: randomPort() });
  for (const s of c.servers) s.loop = loop;
  return c;
}

t.test('"." forwarding to the agent itself stops start with a LoopError', async (t) => {
  const host = randomLoopback();
  const port = randomPort();
  const agent = new Agent({ log: silentLogger });
  t.teardown(() => agent.stop());
  const t0 = Date.now();
  const err = await agent.start(loopConfig(host, port, [{ host, port }])).then(() => null, (e: unknown) => e);
  const ms = Date.now() - t0;
  t.ok(err instanceof LoopError, `LoopError thrown (${(err as Error)?.message})`);
  t.equal((err as LoopError).code, 'ERR_LOOP');
  t.match((err as Error).message, /127\.0\.0\.53/, 'the message names the usual culprit');
  t.match((err as Error).message, new RegExp(`${host.replace(/\./g, '\\.')}:${port}`), 'and the upstream that loops');
  t.ok(ms < 2_000, `detected in ${ms} ms`);
});

t.test('a loop through a second agent is detected too', async (t) => {
  const a = { host: randomLoopback(), port: randomPort() };
  const b = { host: randomLoopback(), port: randomPort() };
  const second = new Agent({ log: silentLogger });
  t.teardown(() => second.stop());
  await second.start(loopConfig(b.host, b.port, [a], false));
  const first = new Agent({ log: silentLogger });
  t.teardown(() => first.stop());
  const err = await first.start(loopConfig(a.host, a.port, [b])).then(() => null, (e: unknown) => e);
  t.ok(err instanceof LoopError, `LoopError thrown (${(err as Error)?.message})`);
  // Let the second agent's last probes come back refused before both stop.
  await sleep(300);
});

t.test('a real upstream: no loop, start completes and serves', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const agent = new Agent({ log: silentLogger });
  t.teardown(() => agent.stop());
  const config = loopConfig(host, port, [{ host: knot.address, port: knot.port }]);
  const t0 = Date.now();
  await agent.start(config);
  t.ok(Date.now() - t0 < 1_000, `start took ${Date.now() - t0} ms`);
  const r = await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A');
  t.equal(r?.rcode, 'NOERROR', 'serving after the probes');
  const url = `http://${host}:${config.servers[0]!.prometheus!.port}/metrics`;
  // knot is not authoritative for the random probe names: REFUSED; the probes did go upstream.
  t.equal(await metricValue(url, 'coredns_proxy_request_duration_seconds_count', { rcode: 'REFUSED' }), 3, 'the 3 probes were answered upstream');
  t.equal(await metricValue(url, 'coredns_proxy_request_duration_seconds_count', { rcode: 'NOERROR' }), 1, 'and the one query');
});
