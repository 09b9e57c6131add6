// EndpointSlice discovery against an HTTPS API stand-in (test CA, bearer token, chunked watch,
// bookmarks, 410 Gone) and three knots as CoreDNS pods: ready pods carry the load, a new ready
// pod joins, a terminating one is drained, 410 re-lists, a rotated token is picked up, and an
// unreachable API falls back to the Service IP.
import t from 'tap';
import { silentLogger } from '../../src/observe/log.js';
import { EndpointSliceDiscovery } from '../../src/upstream/discovery.js';
import { bindDiscovery } from '../../src/upstream/discovery-binding.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent } from '../support/agent.js';
import { queryUdp } from '../support/dnsclient.js';
import { opensslMissing, slice, startFakeKubeApi } from '../support/kube-api.js';
import { clusterZone, knotMissing, startKnot, type Knot } from '../support/knot.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const skip = knotMissing() || opensslMissing();
const SVC = 'kube-dns-upstream';

t.test('EndpointSlice discovery', { skip }, async (t) => {
  const podPort = randomPort();
  const [k1, k2, k3, svc] = await Promise.all(
    [podPort, podPort, podPort, randomPort()].map((port) => startKnot({ address: randomLoopback(), port, zones: { 'cluster.local': clusterZone() } })),
  );
  t.teardown(() => Promise.all([k1, k2, k3, svc].map((k) => k!.stop())));
  const api = await startFakeKubeApi(randomLoopback(), randomPort(), 'kube-system', SVC);
  t.teardown(() => api.stop());
  api.upsert(slice('dns-a', SVC, podPort, [{ ip: k1!.address }, { ip: k2!.address, ready: false }]));

  const agent = await startTestAgent({ upstreams: [{ host: svc!.address, port: svc!.port }], zones: ['cluster.local.'], cache: null, forward: { policy: 'round_robin' } });
  t.teardown(() => agent.stop());
  const binding = bindDiscovery(agent.agent, (f) => f.cfg.to.some((a) => a.host === svc!.address), 200);
  t.teardown(() => binding.stop());
  const disc = new EndpointSliceDiscovery({
    apiServer: api.url,
    namespace: 'kube-system',
    service: SVC,
    tokenFile: api.tokenFile,
    caFile: api.caFile,
    dnsPort: 53,
    portName: 'dns-tcp',
    log: silentLogger,
    onChange: (ready) => binding.update(ready),
    retryMs: 200,
  });
  t.teardown(() => disc.stop());
  disc.start();

  const answered = (k: Knot): Promise<number> => metricValue(agent.metricsUrl, 'coredns_proxy_request_duration_seconds_count', { to: `${k.address}:${k.port}` });
  /** Send n queries; return how many each knot answered meanwhile (all must succeed). */
  const load = async (n: number): Promise<number[]> => {
    const before = await Promise.all([k1, k2, k3, svc].map((k) => answered(k!)));
    for (let i = 0; i < n; i++) {
      const r = await queryUdp(agent.host, agent.port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 5_000 });
      t.equal(r?.rcode, 'NOERROR', 'answered');
    }
    const after = await Promise.all([k1, k2, k3, svc].map((k) => answered(k!)));
    return after.map((v, i) => v - before[i]!);
  };
  const settle = (want: (d: number[]) => boolean): Promise<number[] | null> =>
    until(async () => {
      const d = await load(6);
      return want(d) ? d : null;
    }, 5_000, 100);

  t.test('ready endpoints replace the Service IP; not-ready ones get nothing', async (t) => {
    const d = await settle((d) => d[0] === 6);
    t.ok(d, `only the ready pod answers (${d})`);
    t.ok(api.tokensSeen.size === 1 && api.lists >= 1 && api.watches >= 1, 'listed then watched with the bearer token');
  });

  t.test('a pod becomes ready: both carry load', async (t) => {
    api.upsert(slice('dns-a', SVC, podPort, [{ ip: k1!.address }, { ip: k2!.address }]));
    const d = await settle((d) => d[0]! > 0 && d[1]! > 0 && d[3] === 0);
    t.ok(d, `both ready pods answer, not the Service IP (${d})`);
  });

  t.test('a terminating pod is drained: no new queries, its connection closes', async (t) => {
    api.upsert(slice('dns-a', SVC, podPort, [{ ip: k1!.address, terminating: true, ready: false }, { ip: k2!.address }]));
    const d = await settle((d) => d[0] === 0 && d[1] === 6);
    t.ok(d, `terminating pod gets no queries (${d})`);
    const closed = await until(async () => (await metricValue(agent.metricsUrl, 'nodelocaldns_upstream_connections', { to: `${k1!.address}:${k1!.port}` })) === 0, 3_000, 100);
    t.ok(closed, 'its connection is closed once drained');
  });

  t.test('bookmarks move the resume point; 410 Gone re-lists', async (t) => {
    const lists = api.lists;
    api.bookmark();
    await until(() => false, 200);
    api.compact();
    api.endWatches(false);
    api.upsert(slice('dns-b', SVC, podPort, [{ ip: k3!.address }]));
    const d = await settle((d) => d[2]! > 0);
    t.ok(d, `a slice added after the resumed watch is seen (${d})`);
    t.equal(api.lists, lists, 'resumed from the bookmark without a re-list');
    api.compact();
    api.endWatches(true);
    t.ok(await until(() => api.lists > lists, 3_000), 're-listed after 410 Gone');
    const token = api.rotateToken();
    api.compact();
    api.endWatches(true);
    t.ok(await until(() => api.tokensSeen.has(token), 3_000), 'the rotated token is read for the next request');
    api.remove('dns-b');
    const e = await settle((d) => d[2] === 0 && d[1]! > 0);
    t.ok(e, `a deleted slice's pods leave the set (${e})`);
  });

  t.test('API unreachable: back to the Service IP', async (t) => {
    await api.stop();
    const d = await settle((d) => d[3] === 6);
    t.ok(d, `the Service IP answers again (${d})`);
  });
});
