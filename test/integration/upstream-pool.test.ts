// One TCP pool per upstream address across server blocks: node-cache's three cluster
// blocks (cluster.local, in-addr.arpa, ip6.arpa) forward over TCP to the same CoreDNS Service.
// A relay in front of knot counts the connections the agent opens: queries to all three zones
// share the same one or two, the metrics count them once, and a reload keeps them open.
import t from 'tap';
import { clusterZone, knotMissing, reverseZone, startKnot } from '../support/knot.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent, testConfig } from '../support/agent.js';
import { queryUdp } from '../support/dnsclient.js';
import { runLoad } from '../support/load.js';
import { randomLoopback, randomPort } from '../support/net.js';
import { startTcpBalancer } from '../support/tcp-balancer.js';

const ZONES = ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.'];
// Long enough that no connection is rotated or closed idle during the test: any new one is a reopen.
const EXPIRE_MS = 60_000;
// Agent.apply closes a reload's old blocks (and so releases their pools) this long after the swap.
const OLD_BLOCKS_CLOSE_MS = 6_000;

/** fd00::3:7 as an ip6.arpa owner name under d.f.ip6.arpa. */
const IP6_PTR = [...'fd000000000000000000000000030007'].reverse().join('.') + '.ip6.arpa';

function ip6Zone(): string {
  return [
    '$ORIGIN d.f.ip6.arpa.',
    '$TTL 30',
    '@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30',
    '@ IN NS ns.dns.cluster.local.',
    `${IP6_PTR}. IN PTR web.prod.svc.cluster.local.`,
    '',
  ].join('\n');
}

/** Distinct names (no coalescing, no cache) cycling over the three zones. */
function zoneName(i: number): string {
  switch (i % 3) {
    case 0:
      return `n${i}.prod.svc.cluster.local`;
    case 1:
      return `${i % 250}.${Math.floor(i / 250) % 250}.96.10.in-addr.arpa`;
    default:
      return `${i.toString(16).split('').reverse().join('.')}.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa`;
  }
}

t.test('three blocks forwarding to one address share one pool', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({
    address: randomLoopback(),
    port: randomPort(),
    zones: { 'cluster.local': clusterZone(), '10.in-addr.arpa': reverseZone(), 'd.f.ip6.arpa': ip6Zone() },
  });
  t.teardown(() => knot.stop());
  const lb = await startTcpBalancer(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => lb.close());
  const upstreams = [{ host: lb.host, port: lb.port }];
  const a = await startTestAgent({ upstreams, zones: ZONES, cache: null, forward: { expireMs: EXPIRE_MS } });
  t.teardown(() => a.stop());
  t.ok(a.config.servers.every((s) => s.forward?.forceTcp), 'every block forwards over TCP');
  const to = { to: `${lb.host}:${lb.port}` };

  const expect = async (name: string, type: string, data: string): Promise<void> => {
    const r = await queryUdp(a.host, a.port, name, type);
    t.equal(r?.answers?.[0]?.data, data, `${name} ${type} answered through the agent`);
  };
  await expect('web.prod.svc.cluster.local', 'A', '10.96.3.7');
  await expect('7.3.96.10.in-addr.arpa', 'PTR', 'web.prod.svc.cluster.local');
  await expect(IP6_PTR, 'PTR', 'web.prod.svc.cluster.local');

  const samples = await runLoad(a.host, a.port, { durationMs: 3_000, workers: 8, maxQueries: 1_500, timeoutMs: 5_000, name: zoneName });
  const bad = samples.filter((s) => s.rcode !== 'NOERROR' && s.rcode !== 'NXDOMAIN');
  t.ok(samples.length >= 150, `bounded load over the three zones ran (${samples.length} queries)`);
  t.equal(bad.length, 0, 'every query answered by knot (NOERROR / NXDOMAIN)');
  const relayed = lb.backends[0]!.queries;
  t.ok(relayed >= samples.length + 3, `every query went upstream through the relay (${relayed} relayed)`);
  const opened = lb.connections.length;
  t.ok(opened >= 1 && opened <= 2, `the three zones' queries shared ${opened} connection(s) (bound 2; one pool per block would open ≥ 3)`);
  t.equal(await metricValue(a.metricsUrl, 'nodelocaldns_upstream_connections', to), lb.open(), `the connection gauge counts the shared pool once (${lb.open()})`);
  t.equal(await metricValue(a.metricsUrl, 'coredns_proxy_conn_cache_misses_total', to), opened, 'one conn_cache miss per connection opened');

  // A reload rebuilds every block (and forwarder); the old ones release their pools 6 s later.
  const kept = lb.connections.filter((c) => c.closedAt === 0);
  await a.agent.reload(testConfig({ upstreams, zones: ZONES, cache: null, forward: { expireMs: EXPIRE_MS, maxConcurrent: 5_000 }, host: a.host, port: a.port, metricsPort: Number(new URL(a.metricsUrl).port) }));
  const reloadedAt = Date.now();
  const after = await runLoad(a.host, a.port, { durationMs: OLD_BLOCKS_CLOSE_MS + 1_000, workers: 2, gapMs: 20, maxQueries: 1_000, timeoutMs: 5_000, name: (i) => zoneName(i + 100_000) });
  t.ok(Date.now() - reloadedAt > OLD_BLOCKS_CLOSE_MS, 'load ran past the close of the old blocks');
  t.equal(after.filter((s) => s.rcode !== 'NOERROR' && s.rcode !== 'NXDOMAIN').length, 0, `no query failed across the reload (${after.length} queries)`);
  t.equal(lb.connections.length, opened, `no connection opened after the reload (${lb.connections.length} in all)`);
  t.ok(kept.length > 0 && kept.every((c) => c.closedAt === 0), `the pool's ${kept.length} connection(s) stayed open once the old blocks closed`);
  t.ok(lb.backends[0]!.queries >= relayed + after.length, 'the post-reload queries went over them');
});
