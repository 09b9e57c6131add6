// The embedded default (no -conf): its cluster.local block forwards `.` to -upstream, as
// node-cache's template does, yet its log lines must name the block's zone, not FROM ".".
import t from 'tap';
import { Agent } from '../../src/agent/agent.js';
import { embeddedConfig } from '../../src/config/embedded.js';
import { parseFlags } from '../../src/config/flags.js';
import { createLogger } from '../../src/observe/log.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

t.test('embedded default: "upstream marked down" names the block zone', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const flags = parseFlags(['-localip', host, '-dns.port', String(port), '-upstream', `${knot.address}:${knot.port}`, '-health-port', String(randomPort()), '-prometheus-listen-address', '']);
  // "." forwards to a loopback address nothing listens on (what resolv.conf would name).
  const config = embeddedConfig(flags, [{ host: randomLoopback(), port: randomPort() }]);
  const lines: Record<string, unknown>[] = [];
  const agent = new Agent({ log: createLogger('debug', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) });
  await agent.start(config);
  t.teardown(() => agent.stop());

  await knot.kill();
  const knotName = `${knot.address}:${knot.port}`;
  const markedDown = (): Record<string, unknown>[] => lines.filter((l) => l.msg === 'upstream marked down' && l.upstream === knotName);
  const seen = await until(async () => {
    await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 1_500 });
    return markedDown().length > 0;
  }, 15_000, 100);
  t.ok(seen, 'knot marked down');
  const zones = new Set(markedDown().map((l) => l.zone));
  t.ok(zones.has('cluster.local.'), 'the cluster.local block names its zone');
  t.notOk(zones.has('.'), 'no line calls the cluster blocks "."');
  t.ok([...zones].every((z) => ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'].includes(z as string)), `zones: ${[...zones].join(' ')}`);
});
