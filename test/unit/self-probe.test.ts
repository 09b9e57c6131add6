// The health self-probe measures our own /health once a second without fetch(): the first
// fetch() compiles Node's bundled undici on the event loop (about 90 ms of CPU), which stalled
// DNS answers right after a start. Run in a fresh node process: whether undici got compiled is
// visible in its process.moduleLoadList.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';

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
