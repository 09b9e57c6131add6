// The health self-probe measures our own /health once a second without fetch(): the first
// fetch() compiles Node's bundled undici on the event loop (about 90 ms of CPU), which stalled
// DNS answers right after a start. Run in a fresh node process: whether undici got compiled is
// visible in its process.moduleLoadList.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server as NetServer } from 'node:net';
import t, { type Test } from 'tap';

const probe = fileURLToPath(new URL('../../dist/observe/self-probe.js', import.meta.url));
if (!existsSync(probe)) t.plan(0, 'dist/ not built (npx tsc -p tsconfig.json)');

const script = `
import { createServer } from 'node:http';
import { HealthProbe, HealthStats } from ${JSON.stringify(probe)};
const codes = [200, 503];
const server = createServer((req, res) => { res.statusCode = req.url === '/health' ? codes.shift() ?? 200 : 404; res.end('OK'); });
server.listen(0, '127.0.0.1', () => {
  const stats = new HealthStats();
  const p = new HealthProbe('http://127.0.0.1:' + server.address().port + '/health', stats);
  p.start();
  const wait = setInterval(() => {
    const probes = stats.duration.reduce((a, b) => a + b, 0);
    if (probes < 2) return;
    clearInterval(wait);
    p.stop();
    server.close();
    server.closeAllConnections();
    const undici = process.moduleLoadList.some((m) => m.includes('undici'));
    console.log(JSON.stringify({ probes, failures: stats.failures, undici }));
  }, 50);
});
`;

t.test('the self-probe counts answers and failures, and never loads undici', async (t) => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { probes: number; failures: number; undici: boolean };
  t.equal(out.probes, 2, 'two probes timed');
  t.equal(out.failures, 1, 'the 503 counted as a failure');
  t.equal(out.undici, false, 'fetch\'s undici was not compiled');
});

/** Listen on an ephemeral port of 127.0.0.1 and probe it every second; stopped and closed at teardown. */
async function probing(t: Test, server: NetServer): Promise<InstanceType<typeof import('../../src/observe/self-probe.js').HealthStats>> {
  const { HealthProbe, HealthStats } = await import('../../src/observe/self-probe.js');
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const stats = new HealthStats();
  const port = (server.address() as { port: number }).port;
  const probe = new HealthProbe(`http://127.0.0.1:${port}/health`, stats);
  t.teardown(() => {
    probe.stop();
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close();
  });
  probe.start();
  return stats;
}

async function waitFor(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}

t.test('a reply ends where its framing says', async (t) => {
  const { replyEnd, replyStatus } = await import('../../src/observe/self-probe.js');
  const head = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n';
  const fixed = `${head}Content-Length: 2\r\n\r\nOK`;
  t.equal(replyEnd(fixed), fixed.length, 'Content-Length');
  t.equal(replyEnd(fixed.slice(0, -1)), -1, 'a body still arriving');
  t.equal(replyEnd(head), -1, 'headers still arriving');
  const chunked = `${head}Transfer-Encoding: chunked\r\n\r\n1\r\nO\r\n1\r\nK\r\n0\r\n\r\n`;
  t.equal(replyEnd(chunked), chunked.length, 'chunked');
  t.equal(replyEnd(chunked.slice(0, -2)), -1, 'chunked, the last CRLF still to come');
  t.equal(replyEnd(`${head}\r\nOK`), -2, 'no framing: only a close ends it, which the probe takes as a failure');
  t.equal(replyEnd('x'.repeat(20_000)), -2, 'no header end in 16 KiB');
  t.equal(replyStatus(fixed), 200);
  t.equal(replyStatus('HTTP/1.0 503 Service Unavailable\r\n'), 503);
  t.equal(replyStatus('SSH-2.0-OpenSSH\r\n'), 0, 'not HTTP');
});

t.test('probes share one kept-alive connection; a closed one is replaced without a failure', async (t) => {
  const { createServer } = await import('node:http');
  let connections = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    // The third reply is chunked and closes its connection: the next probe opens another.
    if (requests === 3) {
      res.setHeader('Connection', 'close');
      res.write('O');
      res.end('K');
    } else res.end('OK');
  });
  server.on('connection', () => connections++);
  const stats = await probing(t, server);
  const count = (): number => stats.duration.reduce((a, b) => a + b, 0);
  await waitFor(() => count() >= 5);
  t.equal(count(), 5, 'five probes timed');
  t.equal(stats.failures, 0, 'none failed');
  t.equal(connections, 2, 'one connection for the first three, a second after the close');
});

t.test('a probe that gets no answer fails, and the next one gets a fresh connection', async (t) => {
  const { createServer } = await import('node:net');
  let connections = 0;
  // Accepts, reads, never answers; then its connection is reset.
  const server = createServer((s) => {
    connections++;
    s.on('error', () => {});
    s.once('data', () => setTimeout(() => s.resetAndDestroy(), 200));
  });
  const stats = await probing(t, server);
  await waitFor(() => stats.failures >= 2);
  t.equal(stats.failures, 2, 'both probes failed');
  t.equal(connections, 2, 'each on its own connection');
});
