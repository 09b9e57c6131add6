// The cli in node-cache's mode against real knot: -basecorefile template rendered to -conf with
// the ClusterIP from KUBE_DNS_UPSTREAM_SERVICE_HOST; a kube-dns ConfigMap stub domain added at
// run time is served after SIGUSR1; an invalid ConfigMap is counted (errortype configmap) and
// the last good one keeps serving.
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterZone, knotMissing, reverseZone, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { randomLoopback, randomPort, until } from '../support/net.js';
import { spawnCli, tsLoaderMissing } from '../support/cli.js';


t.test('cli with -basecorefile and a kube-dns ConfigMap', { skip: knotMissing() || tsLoaderMissing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone(), '10.in-addr.arpa': reverseZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const metricsPort = randomPort();
  const dir = mkdtempSync(join(tmpdir(), 'cli-template-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'coredns'));
  mkdirSync(join(dir, 'kube-dns'));
  // node-cache's cluster block, with the knot port after the ClusterIP placeholder.
  writeFileSync(
    join(dir, 'coredns', 'Corefile.base'),
    `__PILLAR__DNS__DOMAIN__:${port} {\n    errors\n    cache 30\n    bind __PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__\n    forward . __PILLAR__CLUSTER__DNS__:${knot.port} {\n            force_tcp\n    }\n    prometheus ${host}:${metricsPort}\n}\n`,
  );
  const conf = join(dir, 'Corefile');
  const argv = ['-localip', host, '-dns.port', String(port), '-basecorefile', join(dir, 'coredns', 'Corefile.base'), '-conf', conf,
    '-kubednscm', join(dir, 'kube-dns'), '-upstreamsvc', 'kube-dns-upstream', '-reloadwithsignal', '-setupinterface=false', '-setupiptables=false',
    // node-cache's own metrics server defaults to 0.0.0.0:9353: off here, so no other process on the box can collide with it.
    '-metrics-listen-address', ''];
  const cli = spawnCli(t, argv, { ...process.env, KUBE_DNS_UPSTREAM_SERVICE_HOST: knot.address });

  const web = async () => (await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 500 }))?.answers?.length ?? 0;
  t.ok(await until(web, 20_000, 100), `serves the rendered template (stderr: ${cli.stderr.slice(-500)})`);
  const rendered = readFileSync(conf, 'utf8');
  t.match(rendered, new RegExp(`^cluster\\.local:${port} \\{`), '-conf holds the rendered Corefile');
  t.match(rendered, new RegExp(`forward \\. ${knot.address.replaceAll('.', '\\.')}:${knot.port} \\{`));

  const ptr = async () => ((await queryUdp(host, port, '7.3.96.10.in-addr.arpa', 'PTR', { timeoutMs: 500 }))?.answers ?? []).length;
  t.equal(await ptr(), 0, 'no stub domain yet');
  writeFileSync(join(dir, 'kube-dns', 'stubDomains'), JSON.stringify({ '10.in-addr.arpa': [`${knot.address}:${knot.port}`] }));
  cli.child.kill('SIGUSR1');
  t.ok(await until(ptr, 10_000, 100), 'the stub domain from the kube-dns ConfigMap is served');
  t.match(readFileSync(conf, 'utf8'), new RegExp(`\\n10\\.in-addr\\.arpa:${port} \\{\\n    errors\\n    cache 30\\n`), 'appended as node-cache does');

  writeFileSync(join(dir, 'kube-dns', 'stubDomains'), '{"10.in-addr.arpa": "not a list"}');
  cli.child.kill('SIGUSR1');
  const url = `http://${host}:${metricsPort}/metrics`;
  t.ok(await until(async () => (await metricValue(url, 'coredns_nodecache_setup_errors_total', { errortype: 'configmap' })) >= 1, 10_000, 100), 'counted as errortype configmap');
  t.ok(await ptr(), 'the last good stub domain keeps serving');
  t.equal(await metricValue(url, 'coredns_reload_failed_total'), 0, 'not a Corefile failure');
});
