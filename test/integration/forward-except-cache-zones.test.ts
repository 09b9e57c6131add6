// `forward FROM TO { except ZONES }` and `cache TTL ZONES` from a Corefile, against knot: an
// excepted name is not forwarded (CoreDNS hands it to the next plugin; there is none, so
// SERVFAIL and the errors line "plugin/forward: no next plugin found"), and only names under the
// cache zones are cached. A block zone inside another block's except zone keeps forwarding it.
import t from 'tap';
import { Agent } from '../../src/agent/agent.js';
import { corefileFromText } from '../../src/config/corefile/build.js';
import { createLogger } from '../../src/observe/log.js';
import { knotMissing, startKnot } from '../support/knot.js';
import { queryTcp, queryUdp } from '../support/dnsclient.js';
import { metricValue } from '../support/prom.js';
import { randomLoopback, randomPort } from '../support/net.js';

function exampleZone(): string {
  return [
    '$ORIGIN example.test.',
    '$TTL 300',
    '@ IN SOA ns.example.test. host.example.test. 1 7200 1800 86400 60',
    '@ IN NS ns.example.test.',
    'ns IN A 10.0.0.53',
    'www IN A 10.0.0.1',
    'skip IN A 10.0.0.2',
    'a.skip IN A 10.0.0.3',
    'a.cached IN A 10.0.0.4',
    'a.fwd IN A 10.0.0.5',
    '',
  ].join('\n');
}

t.test('forward except and cache zones against knot', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'example.test': exampleZone() } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const mport = randomPort();
  const upstream = `${knot.address}:${knot.port}`;
  const corefile = [
    `example.test:${port} {`,
    `  bind ${host}`,
    '  errors',
    '  cache 30 cached.example.test',
    `  forward . ${upstream} {`,
    '    except skip.example.test',
    '  }',
    `  prometheus ${host}:${mport}`,
    '}',
    `.:${port} {`,
    `  bind ${host}`,
    '  cache 30',
    `  forward . ${upstream} {`,
    '    except fwd.example.test',
    '  }',
    '}',
    '',
  ].join('\n');
  const { servers } = corefileFromText(corefile, 'Corefile');
  const lines: string[] = [];
  const agent = new Agent({ log: createLogger('info', (l) => lines.push(l)) });
  await agent.start({ servers, corefileText: corefile });
  t.teardown(() => agent.stop());
  const url = `http://${host}:${mport}/metrics`;
  const sent = (): Promise<number> => metricValue(url, 'nodelocaldns_upstream_requests_total');

  t.test('a name under an except zone is not forwarded: SERVFAIL, logged by errors', async (t) => {
    const before = await sent();
    for (const name of ['a.skip.example.test', 'skip.example.test', 'A.Skip.EXAMPLE.test']) {
      t.equal((await queryUdp(host, port, name, 'A'))?.rcode, 'SERVFAIL', `${name} over UDP`);
      t.equal((await queryTcp(host, port, name, 'A'))?.rcode, 'SERVFAIL', `${name} over TCP`);
    }
    t.equal(await sent(), before, 'nothing went upstream');
    t.equal(await metricValue(url, 'coredns_dns_responses_total', { zone: 'example.test.', rcode: 'SERVFAIL', plugin: '' }), 6, 'counted as SERVFAIL written by no plugin');
    t.ok(lines.some((l) => l.includes('"msg":"2 a.skip.example.test. A: plugin/forward: no next plugin found"')), 'errors line as CoreDNS 1.11.3 writes it');
    const www = await queryUdp(host, port, 'www.example.test', 'A');
    t.equal(www?.answers?.[0]?.data, '10.0.0.1', 'a sibling outside the except zone is forwarded');
  });

  t.test('cache ZONES: only names under them are cached', async (t) => {
    const before = await sent();
    for (let i = 0; i < 3; i++) t.equal((await queryUdp(host, port, 'a.cached.example.test', 'A'))?.answers?.[0]?.data, '10.0.0.4');
    t.equal((await sent()) - before, 1, 'under cached.example.test: one upstream query, then hits');
    t.equal(await metricValue(url, 'coredns_cache_hits_total', { zones: 'cached.example.test.', type: 'success' }), 2, 'two hits, labelled with the cache zones');
    const mid = await sent();
    for (let i = 0; i < 3; i++) t.equal((await queryUdp(host, port, 'www.example.test', 'A'))?.answers?.[0]?.data, '10.0.0.1');
    t.equal((await sent()) - mid, 3, 'www.example.test is outside the cache zones: every query forwarded');
    t.equal(await metricValue(url, 'coredns_cache_entries', { zones: 'cached.example.test.', type: 'success' }), 1, 'only the cached name is stored');
    t.equal(await metricValue(url, 'coredns_cache_requests_total', { zones: 'cached.example.test.' }), 3, 'names outside the cache zones are not cache requests');
  });

  t.test('another block\'s except zone inside this block\'s zone does not apply here', async (t) => {
    const r = await queryUdp(host, port, 'a.fwd.example.test', 'A');
    t.equal(r?.rcode, 'NOERROR', 'example.test. owns a.fwd.example.test; the "." block\'s except does not reach it');
    t.equal(r?.answers?.[0]?.data, '10.0.0.5');
  });
});
