// The health endpoint answers its own self-probe's connection by hand and every other connection
// through node:http: the probe's once-a-second request costs a third of what node:http's server
// spent on it. What must hold: the probe's requests never reach node:http, they succeed (or fail
// with the health route), everyone else on the same port still gets node:http's replies, and the
// endpoint closes with both kinds of connection open.
import t from 'tap';
import { request, type Server } from 'node:http';
import { HttpEndpoint } from '../../src/observe/http.js';
import { HealthStats } from '../../src/observe/self-probe.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const probes = (s: HealthStats): number => s.duration.reduce((a, b) => a + b, 0);

function get(host: string, port: number, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the self-probe is answered by hand, everyone else by node:http', async (t) => {
  const host = randomLoopback();
  const stats = new HealthStats();
  let healthy = true;
  const ep = new HttpEndpoint(host, randomPort(), { health: () => healthy, healthStats: stats });
  // node:http's own server inside the endpoint: every request it parses is an event here.
  const httpRequests: string[] = [];
  (Reflect.get(ep, 'server') as Server).on('request', (req) => httpRequests.push(req.url ?? ''));
  await ep.listen();
  let closed = false;
  t.teardown(() => (closed ? undefined : ep.close()));

  t.ok(await until(() => probes(stats) >= 2, 5_000), `two probes timed (${probes(stats)})`);
  t.equal(stats.failures, 0, 'both answered 200');
  t.same(httpRequests, [], 'node:http parsed none of them');

  const other = await get(host, ep.port, '/health');
  t.equal(other.status, 200, 'another client gets /health');
  t.equal(other.body, 'OK');
  t.same(httpRequests, ['/health'], 'through node:http');
  t.equal((await get(host, ep.port, '/nope')).status, 404, 'and its 404');

  healthy = false;
  const before = probes(stats);
  t.ok(await until(() => probes(stats) > before, 3_000), 'a probe while not healthy');
  t.equal(stats.failures, 1, 'counted as a failure: the hand-written 503');
  t.equal((await get(host, ep.port, '/health')).status, 503, 'node:http says 503 too');
  healthy = true;
  t.ok(await until(() => probes(stats) > before + 1, 3_000), 'the next probe');
  t.equal(stats.failures, 1, 'succeeds again on the same connection');

  // A kept-alive client beside the probe's connection: close must not wait for either.
  const agentReq = await get(host, ep.port, '/health');
  t.equal(agentReq.status, 200);
  const t0 = Date.now();
  await ep.close();
  closed = true;
  t.ok(Date.now() - t0 < 2_000, `closed in ${Date.now() - t0} ms`);
});
