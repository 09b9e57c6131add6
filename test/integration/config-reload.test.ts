// The cli with a Corefile (-conf) against real knot: serves it, a bad edit + SIGUSR1 is rejected
// and counted (coredns_reload_failed_total) while the old config keeps serving, a good edit +
// SIGUSR1 adds a zone without a restart.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterZone, knotMissing, reverseZone, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { randomLoopback, randomPort, until } from '../support/net.js';
import { spawnCli, tsLoaderMissing } from '../support/cli.js';


t.test('cli hot reload with a Corefile', { skip: knotMissing() || tsLoaderMissing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone(), '10.in-addr.arpa': reverseZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const metricsPort = randomPort();
  const dir = mkdtempSync(join(tmpdir(), 'cli-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'Corefile');
  const block = (zone: string, extra = '') =>
    `${zone}:${port} {\n    errors\n    cache 30\n    bind ${host}\n    forward . ${knot.address}:${knot.port} {\n        force_tcp\n    }\n    prometheus ${host}:${metricsPort}\n${extra}}\n`;
  writeFileSync(conf, block('cluster.local'));

  const cli = spawnCli(t, ['-conf', conf, '-basecorefile', join(dir, 'none'), '-reloadwithsignal']);

  const web = async () => (await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 500 }))?.answers?.[0];
  const first = await until(web, 20_000, 100);
  t.same(first && (first as { data?: unknown }).data, '10.96.3.7', `serves the Corefile (stderr: ${cli.stderr.slice(-500)})`);
  const ptr = async () => ((await queryUdp(host, port, '7.3.96.10.in-addr.arpa', 'PTR', { timeoutMs: 500 }))?.answers ?? []).length > 0;
  t.equal(await ptr(), false, 'in-addr.arpa is not served yet');

  writeFileSync(conf, block('cluster.local', '    rewrite name a b\n'));
  cli.child.kill('SIGUSR1');
  const failed = await until(async () => (await metricValue(`http://${host}:${metricsPort}/metrics`, 'coredns_reload_failed_total')) >= 1, 10_000, 100);
  t.ok(failed, 'the bad Corefile is counted in coredns_reload_failed_total');
  t.match(cli.stderr, /Corefile:9: unknown or unsupported directive \\"rewrite\\"/, 'logged with file:line');
  t.ok(await web(), 'the old config keeps serving');

  writeFileSync(conf, block('cluster.local') + block('in-addr.arpa'));
  cli.child.kill('SIGUSR1');
  t.ok(await until(ptr, 10_000, 100), 'after a good edit + SIGUSR1 the new zone is served');
  t.ok(await web(), 'and the old one still is');
  t.equal(await metricValue(`http://${host}:${metricsPort}/metrics`, 'coredns_reload_failed_total'), 1, 'the good reload is not counted as a failure');
});
