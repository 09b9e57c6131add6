// What an idle agent costs every node: how often its main thread wakes when nothing is asked. Its
// once-a-second work (the health self-probe, the event-loop lag watch, the upstream pools' sweep,
// the memory guard's sample) shares one timer, and its HTTP replies carry a Date it writes itself
// (node:http's own Date cache arms a timer for the next whole second after every reply). Counted
// on the real cli under a memory limit, with the health and metrics endpoints of node-cache's
// Corefile, scraped once as Prometheus would and one name forwarded: the main thread's voluntary
// context switches (each is one sleep, so one wake-up) over a few idle seconds. The cli runs from
// dist/ (which `npm test` builds first): from the sources, the TypeScript loader's own thread
// talks to the main one and wakes it 10-20 times a second.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { scrape } from '../support/prom.js';

const IDLE_SECONDS = 6;
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The image's node flags (heap sizing, no memory reducer), as the DaemonSet runs the agent. */
function imageNodeFlags(): string[] {
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ENTRYPOINT line');
  const argv = JSON.parse(m[1]!) as string[];
  return argv.filter((a) => a.startsWith('--'));
}

function voluntarySwitches(pid: number): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/task/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no voluntary_ctxt_switches for ${pid}`);
  return Number(m[1]);
}

t.test('an idle agent wakes about once a second', { skip: knotMissing() || (!existsSync(CLI) && 'dist/ not built (npm run build)') }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const dir = mkdtempSync(join(tmpdir(), 'idle-wakeups-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = randomLoopback();
  const [port, health, metrics] = [randomPort(), randomPort(), randomPort()];
  const conf = join(dir, 'Corefile');
  writeFileSync(
    conf,
    `cluster.local:${port} {\n bind ${host}\n cache 30\n health ${host}:${health}\n prometheus ${host}:${metrics}\n forward . ${knot.address}:${knot.port}\n}\n`,
  );
  const args = ['-conf', conf, '-localip', host, '-health-port', String(randomPort()), '-setupinterface=false', '-setupiptables=false', '-metrics-listen-address', '', '-basecorefile', '', '-memory-limit', '256Mi'];
  const child = spawn(process.execPath, [...imageNodeFlags(), CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  const r = await until(() => queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 300 }), 15_000, 100);
  t.equal(r?.rcode, 'NOERROR', `serving, one name forwarded (stderr: ${stderr.slice(0, 300)})`);
  t.match((await scrape(`http://${host}:${metrics}/metrics`)).text, /coredns_health_request_duration_seconds_count/, 'scraped once');
  // The pools go to their idle pace after a sweep, the guard after a quiet sample.
  await sleep(2_500);
  const pid = child.pid!;
  const before = voluntarySwitches(pid);
  await sleep(IDLE_SECONDS * 1000);
  const perSecond = (voluntarySwitches(pid) - before) / IDLE_SECONDS;
  // Four things once a second plus the memory guard at 250 ms, each on a timer of its own, and
  // the Date cache's timer: 9 a second (4.3 without a memory limit). On one timer: 1, plus the
  // memory trimmer's and the config watch's once every 10 s.
  t.ok(perSecond < 2, `${perSecond.toFixed(1)} wake-ups a second`);
  t.equal((await queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 1_000 })).rcode, 'NOERROR', 'still serving');
});
