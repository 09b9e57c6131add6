// Coalescing through a real agent: identical concurrent misses become one upstream query
// (counted at the upstream), every client gets its own ID and qname case, and the number of
// clients waiting on one key is bounded.
import t from 'tap';
import { randomInt } from 'node:crypto';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { startFaultyUpstream } from '../support/faulty-upstream.js';
import { decode, encodeQuery, rawUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { startTestAgent } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';
import { MAX_WAITERS_PER_KEY } from '../../src/resolve/block.js';

const missing = knotMissing();
const ZONE = 'cluster.local.';

function randomCase(name: string): string {
  return [...name].map((c) => (randomInt(2) ? c.toUpperCase() : c)).join('');
}

t.test('coalescing against knot', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 20 }) } });
  t.teardown(() => knot.stop());
  const faulty = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => faulty.close());
  // UDP upstream with a long attempt timeout: the delayed answer is waited for, never retried.
  const a = await startTestAgent({
    upstreams: [{ host: faulty.host, port: faulty.port }],
    zones: [ZONE],
    forward: { forceTcp: false, attemptTimeoutMs: 4_000, deadlineMs: 5_000, maxFails: 0 },
  });
  t.teardown(() => a.stop());

  const burst = async (name: string, n: number): Promise<{ sent: Buffer[]; replies: (Buffer | null)[] }> => {
    const sent = Array.from({ length: n }, (_, i) => encodeQuery(randomCase(name), 'A', { id: i }));
    const replies = await Promise.all(sent.map((m) => rawUdp(a.host, a.port, m, 6000)));
    return { sent, replies };
  };

  t.test('500 concurrent identical misses → exactly 1 upstream query', async (t) => {
    await faulty.setMode('delay', { delayMs: 800 });
    const q0 = faulty.queries;
    const name = 'web.prod.svc.cluster.local';
    const { sent, replies } = await burst(name, 500);
    t.equal(faulty.queries - q0, 1, 'one query reached the upstream');
    let ok = 0;
    const bad: string[] = [];
    for (let i = 0; i < sent.length; i++) {
      const r = replies[i];
      if (!r) {
        bad.push(`${i}: no reply`);
        continue;
      }
      const d = decode(r);
      const asked = decode(sent[i]!).questions![0]!.name;
      const data = (d.answers?.[0] as { data?: unknown } | undefined)?.data;
      if (d.id === i && d.rcode === 'NOERROR' && d.questions?.[0]?.name === asked && data === '10.96.3.7') ok++;
      else bad.push(`${i}: id ${d.id} ${d.rcode} ${d.questions?.[0]?.name} vs ${asked} ${String(data)}`);
    }
    t.equal(ok, 500, 'every client answered with its own ID, its own qname case and the data', { bad: bad.slice(0, 5) });
    const requests = await metricValue(a.metricsUrl, 'coredns_cache_requests_total', { zones: ZONE });
    t.equal(requests, 500, 'all 500 went through the cache');
  });

  t.test(`waiters per key are bounded (${MAX_WAITERS_PER_KEY})`, async (t) => {
    // under the forwarder's 1 s hedge (upstream/README.md), so one query stays one query
    await faulty.setMode('delay', { delayMs: 700 });
    const q0 = faulty.queries;
    const n = MAX_WAITERS_PER_KEY + 100;
    const { replies } = await burst('api.prod.svc.cluster.local', n);
    t.equal(faulty.queries - q0, 1, 'still one upstream query');
    const rcodes = replies.map((r) => (r ? decode(r).rcode : 'none'));
    const noerror = rcodes.filter((r) => r === 'NOERROR').length;
    const servfail = rcodes.filter((r) => r === 'SERVFAIL').length;
    t.equal(noerror + servfail, n, 'everyone answered');
    t.ok(noerror >= MAX_WAITERS_PER_KEY, `waiters up to the bound got the answer (${noerror})`);
    t.ok(servfail >= 1 && servfail <= 100, `beyond the bound: SERVFAIL at once (${servfail})`);
  });
});
