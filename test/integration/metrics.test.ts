// The CoreDNS metric surface through a real agent and a real knot: after a known sequence of
// queries every counter matches exactly, and so do the open and rejected TCP connections; the
// exposition passes `promtool check metrics`; a real Prometheus server scrapes the agent and its
// HTTP API returns the expected series.
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { clusterZone, knotMissing, reverseZone, startKnot } from '../support/knot.js';
import { decode, encodeQuery, rawTcp, rawUdp } from '../support/dnsclient.js';
import { startTestAgent } from '../support/agent.js';
import { randomLoopback, randomPort, until } from '../support/net.js';
import { prometheusMissing, promtoolCheck, promtoolMissing, scrape, select, startPrometheus, sum } from '../support/prom.js';

// The specification (CoreDNS plugin/metrics), written out here rather than imported so the test
// checks the implementation against CoreDNS and not against itself.
const SIZE_BUCKETS = ['0', '100', '200', '300', '400', '511', '1023', '2047', '4095', '8291', '16000', '32000', '48000', '64000', '+Inf'];
const DURATION_BUCKETS = ['0.00025', '0.0005', '0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '2.048', '4.096', '8.192', '+Inf'];
const MONITORED = new Set(['A', 'AAAA', 'CNAME', 'DNSKEY', 'DS', 'MX', 'NSEC3', 'NSEC', 'NS', 'PTR', 'RRSIG', 'SOA', 'SRV', 'TXT', 'HTTPS', 'IXFR', 'AXFR', 'ANY']);

interface Q {
  name: string;
  type: string;
  proto: 'udp' | 'tcp';
  zone: string;
  do?: boolean;
}

// Sent one after another, so each is a clean miss (first time its key is seen) or hit.
const TRAFFIC: Q[] = [
  ...Array.from({ length: 5 }, (): Q => ({ name: 'web.prod.svc.cluster.local', type: 'A', proto: 'udp', zone: 'cluster.local.' })),
  ...Array.from({ length: 3 }, (): Q => ({ name: 'web.prod.svc.cluster.local', type: 'AAAA', proto: 'tcp', zone: 'cluster.local.' })),
  ...Array.from({ length: 2 }, (): Q => ({ name: 'nope.prod.svc.cluster.local', type: 'A', proto: 'udp', zone: 'cluster.local.' })),
  ...Array.from({ length: 2 }, (): Q => ({ name: 'web.prod.svc.cluster.local', type: 'SPF', proto: 'udp', zone: 'cluster.local.' })),
  { name: 'web.prod.svc.cluster.local', type: 'HINFO', proto: 'udp', zone: 'cluster.local.' },
  { name: 'api.prod.svc.cluster.local', type: 'A', proto: 'udp', zone: 'cluster.local.', do: true },
  { name: 'api.prod.svc.cluster.local', type: 'A', proto: 'udp', zone: 'cluster.local.', do: true },
  { name: '7.3.96.10.in-addr.arpa', type: 'PTR', proto: 'udp', zone: 'in-addr.arpa.' },
  { name: '7.3.96.10.in-addr.arpa', type: 'PTR', proto: 'tcp', zone: 'in-addr.arpa.' },
];

interface Sent extends Q {
  size: number;
  rsize: number;
  rcode: string;
  hit: boolean;
  denial: boolean;
}

function bucketOf(bounds: string[], v: number): string {
  return bounds.find((b) => b === '+Inf' || v <= Number(b))!;
}

function count<T>(items: T[], key: (x: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const x of items) m.set(key(x), (m.get(key(x)) ?? 0) + 1);
  return m;
}

t.test('metrics match the traffic', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({
    address: randomLoopback(),
    port: randomPort(),
    zones: { 'cluster.local': clusterZone({ ttl: 60 }), '10.in-addr.arpa': reverseZone() },
  });
  t.teardown(() => knot.stop());
  const a = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }] });
  t.teardown(() => a.stop());
  const server = `dns://${a.host}:${a.port}`;

  const seen = new Set<string>();
  const sent: Sent[] = [];
  for (const q of TRAFFIC) {
    const msg = encodeQuery(q.name, q.type, { edns: 1232, do: q.do });
    const reply = q.proto === 'udp' ? await rawUdp(a.host, a.port, msg) : (await rawTcp(a.host, a.port, [msg]))[0];
    if (!reply) throw new Error(`no reply to ${q.name} ${q.type}`);
    const d = decode(reply);
    const key = `${q.name.toLowerCase()}/${q.type}/${q.do ? 1 : 0}`;
    sent.push({ ...q, size: msg.length, rsize: reply.length, rcode: d.rcode ?? 'NOERROR', hit: seen.has(key), denial: (d.answers ?? []).length === 0 });
    seen.add(key);
  }
  const { text, exp } = await scrape(a.metricsUrl);

  t.test('coredns_dns_requests_total by proto, family and type', async (t) => {
    t.equal(exp.types.get('coredns_dns_requests_total'), 'counter');
    const want = count(sent, (s) => `${s.zone}|${s.proto}|${MONITORED.has(s.type) ? s.type : 'other'}`);
    const got = select(exp, 'coredns_dns_requests_total', { server });
    t.equal(got.length, want.size, 'one series per (zone, proto, type) sent, no others');
    for (const g of got) {
      t.equal(g.labels.family, '1', 'IPv4 is family "1"');
      t.equal(g.labels.view, '', 'view label present and empty');
      t.equal(g.value, want.get(`${g.labels.zone}|${g.labels.proto}|${g.labels.type}`), `requests ${JSON.stringify(g.labels)}`);
    }
    t.equal(sum(exp, 'coredns_dns_requests_total', { server, type: 'other' }), sent.filter((s) => s.type === 'SPF' || s.type === 'HINFO').length, 'SPF and HINFO are "other"');
  });

  t.test('coredns_dns_responses_total by rcode and plugin', async (t) => {
    const want = count(sent, (s) => `${s.zone}|${s.rcode}|${s.hit ? 'cache' : 'forward'}`);
    const got = select(exp, 'coredns_dns_responses_total', { server });
    t.equal(got.length, want.size, 'one series per (zone, rcode, plugin)');
    for (const g of got) t.equal(g.value, want.get(`${g.labels.zone}|${g.labels.rcode}|${g.labels.plugin}`), `responses ${JSON.stringify(g.labels)}`);
    t.ok(want.has('cluster.local.|NXDOMAIN|forward') && want.has('cluster.local.|NXDOMAIN|cache'), 'traffic had NXDOMAIN both ways');
  });

  t.test('cache hits, misses, requests', async (t) => {
    for (const zone of ['cluster.local.', 'in-addr.arpa.']) {
      const z = sent.filter((s) => s.zone === zone);
      const labels = { server, zones: zone, view: '' };
      t.equal(sum(exp, 'coredns_cache_hits_total', { ...labels, type: 'success' }), z.filter((s) => s.hit && !s.denial).length, `${zone} success hits`);
      t.equal(sum(exp, 'coredns_cache_hits_total', { ...labels, type: 'denial' }), z.filter((s) => s.hit && s.denial).length, `${zone} denial hits`);
      t.equal(sum(exp, 'coredns_cache_misses_total', labels), z.filter((s) => !s.hit).length, `${zone} misses`);
      t.equal(sum(exp, 'coredns_cache_requests_total', labels), z.length, `${zone} cache requests`);
      const zl = { server, zone, view: '' };
      t.equal(sum(exp, 'nodelocaldns_forward_duration_seconds_count', zl), z.filter((s) => !s.hit).length, `${zone} one upstream resolution per miss`);
      t.equal(sum(exp, 'nodelocaldns_forward_failures_total', zl), 0, `${zone} no upstream failures`);
    }
    t.equal(sum(exp, 'coredns_cache_entries', { server, zones: 'cluster.local.' }), new Set(sent.filter((s) => s.zone === 'cluster.local.').map((s) => `${s.name}/${s.type}/${s.do}`)).size, 'one entry per distinct key');
  });

  t.test('request and response size histograms', async (t) => {
    for (const [metric, pick] of [
      ['coredns_dns_request_size_bytes', (s: Sent) => s.size],
      ['coredns_dns_response_size_bytes', (s: Sent) => s.rsize],
    ] as const) {
      t.equal(exp.types.get(metric), 'histogram');
      for (const zone of ['cluster.local.', 'in-addr.arpa.'])
        for (const proto of ['udp', 'tcp'] as const) {
          const z = sent.filter((s) => s.zone === zone && s.proto === proto);
          const labels = { server, zone, view: '', proto };
          t.equal(sum(exp, `${metric}_count`, labels), z.length, `${metric} ${zone} ${proto} count`);
          t.equal(sum(exp, `${metric}_sum`, labels), z.reduce((n, s) => n + pick(s), 0), `${metric} ${zone} ${proto} sum`);
          const buckets = select(exp, `${metric}_bucket`, labels);
          t.same(buckets.map((b) => b.labels.le), SIZE_BUCKETS, `${metric} CoreDNS buckets`);
          const want = buckets.map((b) => z.filter((s) => b.labels.le === '+Inf' || pick(s) <= Number(b.labels.le)).length);
          t.same(buckets.map((b) => b.value), want, `${metric} ${zone} ${proto} cumulative bucket counts`);
          if (z.length) t.ok(buckets.some((b) => b.labels.le === bucketOf(SIZE_BUCKETS, pick(z[0]!)) && b.value > 0), 'observed bucket non-empty');
        }
    }
  });

  t.test('duration histogram and DO requests', async (t) => {
    for (const zone of ['cluster.local.', 'in-addr.arpa.']) {
      const labels = { server, zone, view: '' };
      const n = sent.filter((s) => s.zone === zone).length;
      t.equal(sum(exp, 'coredns_dns_request_duration_seconds_count', labels), n, `${zone} duration count`);
      const buckets = select(exp, 'coredns_dns_request_duration_seconds_bucket', labels);
      t.same(buckets.map((b) => b.labels.le), DURATION_BUCKETS, 'CoreDNS duration buckets');
      t.equal(buckets.at(-1)!.value, n, '+Inf bucket holds every request');
      t.ok(sum(exp, 'coredns_dns_request_duration_seconds_sum', labels) > 0, 'duration sum positive');
    }
    t.equal(sum(exp, 'coredns_dns_do_requests_total', { server, zone: 'cluster.local.' }), sent.filter((s) => s.do).length, 'DO requests');
    t.equal(sum(exp, 'coredns_dns_do_requests_total', { server, zone: 'in-addr.arpa.' }), 0, 'no DO on in-addr.arpa.');
  });

  t.test('fixed families: build info, panics, plugins', async (t) => {
    t.equal(select(exp, 'coredns_build_info').length, 1);
    t.equal(sum(exp, 'coredns_panics_total'), 0);
    t.equal(exp.types.get('coredns_plugin_enabled'), 'gauge');
    t.equal(sum(exp, 'coredns_plugin_enabled', { server, zone: 'cluster.local.', name: 'cache' }), 1, 'cache enabled on cluster.local.');
    t.equal(sum(exp, 'coredns_plugin_enabled', { server, zone: 'cluster.local.', name: 'forward' }), 1, 'forward enabled on cluster.local.');
    t.equal(select(exp, 'coredns_plugin_enabled', { name: 'log' }).length, 0, 'log is off in this config');
  });

  t.test('TCP connections open and rejected, per listener', async (t) => {
    t.equal(exp.types.get('nodelocaldns_tcp_connections'), 'gauge');
    t.equal(exp.types.get('nodelocaldns_tcp_rejected_connections_total'), 'counter');
    t.equal(sum(exp, 'nodelocaldns_tcp_rejected_connections_total', { server }), 0, 'no connection over the limit');
    // The agent sees a client's close a moment after the client: wait for the reading, bounded.
    const settles = async (want: number): Promise<number> => {
      let v = -1;
      await until(async () => (v = sum((await scrape(a.metricsUrl)).exp, 'nodelocaldns_tcp_connections', { server })) === want, 3000);
      return v;
    };
    t.equal(await settles(0), 0, 'the traffic\'s TCP connections are all closed');
    const held = await Promise.all(
      Array.from({ length: 3 }, () => new Promise<Socket>((resolve, reject) => {
        const s = connect(a.port, a.host, () => resolve(s));
        s.once('error', reject);
      })),
    );
    t.teardown(() => held.forEach((s) => s.destroy()));
    t.equal(await settles(3), 3, 'three held connections are three open');
    held.forEach((s) => s.destroy());
    t.equal(await settles(0), 0, 'and none once they close');
  });

  t.test('promtool check metrics accepts a scrape under traffic', { skip: promtoolMissing() }, async (t) => {
    // Traffic in flight while scraping: a bounded burst of distinct misses and repeated hits.
    const burst = Promise.all(Array.from({ length: 200 }, (_, i) => rawUdp(a.host, a.port, encodeQuery(i % 2 ? 'web.prod.svc.cluster.local' : `n${i}.prod.svc.cluster.local`, 'A'), 3000)));
    const during = await (await fetch(a.metricsUrl)).text();
    await burst;
    // Exit 1 = the exposition does not parse; 3 = lint findings. Neither is acceptable, for
    // prom-client's default families as much as for ours.
    for (const [what, body] of [['quiet', text], ['under traffic', during]] as const) {
      const r = await promtoolCheck(body);
      t.equal(r.status, 0, `promtool check metrics exits 0 (${what})`);
      t.same(r.output.split('\n').filter((l) => l.trim() !== ''), [], `no findings at all (${what})`);
    }
    t.match(during, /^nodejs_active_handles\{type="[A-Za-z]+"\} \d+$/m, 'the per-type gauges stay');
  });
});

t.test('a real Prometheus server scrapes the agent', { skip: knotMissing() || prometheusMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 60 }) } });
  t.teardown(() => knot.stop());
  const a = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }], zones: ['cluster.local.', '.'] });
  t.teardown(() => a.stop());
  const server = `dns://${a.host}:${a.port}`;
  const N = 7;
  for (let i = 0; i < N; i++) await rawUdp(a.host, a.port, encodeQuery('kubernetes.default.svc.cluster.local', 'A'));
  for (let i = 0; i < 2; i++) await rawTcp(a.host, a.port, [encodeQuery('web.prod.svc.cluster.local', 'AAAA')]);

  const promHost = randomLoopback();
  const prom = await startPrometheus(promHost, randomPort(), new URL(a.metricsUrl).host);
  t.teardown(() => prom.stop());
  const sel = `{server="${server}",zone="cluster.local.",view="",family="1"}`;
  const reqs = await until(async () => {
    const r = await prom.query(`coredns_dns_requests_total${sel}`);
    return r.length === 2 ? r : null;
  }, 20_000, 250);
  t.ok(reqs, 'prometheus has both request series');
  const byKey = new Map((reqs ?? []).map((r) => [`${r.metric.proto}/${r.metric.type}`, Number(r.value[1])]));
  t.equal(byKey.get('udp/A'), N, 'udp A requests');
  t.equal(byKey.get('tcp/AAAA'), 2, 'tcp AAAA requests');
  for (const r of reqs ?? []) t.equal(r.metric.job, 'agent', 'scraped by the test job');

  const hits = await prom.query(`coredns_cache_hits_total{server="${server}",zones="cluster.local.",type="success"}`);
  t.equal(hits.length, 1, 'one success-hits series for cluster.local.');
  t.equal(Number(hits[0]?.value[1]), N - 1 + 1, 'hits: N-1 for A, 1 for AAAA');
  const up = await prom.query('up{job="agent"}');
  t.equal(up[0]?.value[1], '1', 'target is up');
});
