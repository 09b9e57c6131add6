// The real binary: flags parse as node-cache's, it serves, and SIGTERM finishes in-flight work
// and exits 0; a bad flag exits 2 naming the flag.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryTcp, queryUdp } from '../support/dnsclient.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

t.test('bad flags exit 2 and name the flag', async (t) => {
  const unknown = spawnSync(process.execPath, [cli, '-nosuchflag'], { encoding: 'utf8' });
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /-nosuchflag/);
  const badIp = spawnSync(process.execPath, [cli, '-localip', '169.254.20.300'], { encoding: 'utf8' });
  t.equal(badIp.status, 2);
  t.match(badIp.stderr, /flag -localip: invalid value/);
  const badPort = spawnSync(process.execPath, [cli, '-dns.port=99999'], { encoding: 'utf8' });
  t.equal(badPort.status, 2);
  t.match(badPort.stderr, /-dns\.port/);
  const badIo = spawnSync(process.execPath, [cli, '-localip', '127.0.0.1', '-dns.port', '1'], { encoding: 'utf8', env: { ...process.env, NODELOCALDNS_UDP_IO: 'fast' } });
  t.equal(badIo.status, 2, 'a bad NODELOCALDNS_UDP_IO exits 2 before binding anything');
  t.match(badIo.stderr, /NODELOCALDNS_UDP_IO: "fast" is not one of auto, batch, dgram/);
  const help = spawnSync(process.execPath, [cli, '-help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /-setupiptables/);
});

t.test('serves with -localip/-upstream, health and metrics; SIGTERM exits 0', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const healthPort = randomPort();
  const metricsPort = randomPort();
  const child = spawn(process.execPath, [
    cli, '-localip', host, '-dns.port', String(port), '-upstream', `${knot.address}:${knot.port}`,
    '-setupinterface=false', '-setupiptables=false', '-health-port', String(healthPort),
    '-prometheus-listen-address', `${host}:${metricsPort}`, '-metrics-listen-address', '',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const up = await until(() => queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 300 }), 10_000, 100);
  t.equal(up?.rcode, 'NOERROR', `serving (stderr: ${stderr.slice(0, 300)})`);
  t.equal((await queryTcp(host, port, 'api.prod.svc.cluster.local', 'A'))?.answers?.[0]?.data, '10.96.3.8', 'TCP too');
  const health = await fetch(`http://${host}:${healthPort}/health`);
  t.equal(health.status, 200);
  t.equal(await health.text(), 'OK');
  const metrics = await (await fetch(`http://${host}:${metricsPort}/metrics`)).text();
  t.match(metrics, new RegExp(`coredns_dns_requests_total\\{server="dns://${host.replace(/\./g, '\\.')}:${port}",zone="cluster.local.",view="",proto="udp",family="1",type="A"\\} 1`));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit 0 after SIGTERM');
  t.match(stderr, /"msg":"stopped"/);
});
