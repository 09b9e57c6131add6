// src/supervise.sh with a shell child standing in for the agent (no root, no network): which
// deaths it restarts, the back-off of a crash loop, and SIGTERM/SIGINT passed on as SIGTERM with
// the child's status as its own. The agent under it, in a node namespace: crash-safety.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { until } from '../support/net.js';

const supervisor = fileURLToPath(new URL('../../src/supervise.sh', import.meta.url));

function run(t: { teardown(fn: () => unknown): void }, child: string) {
  const dir = mkdtempSync(join(tmpdir(), 'supervise-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const proc = spawn('sh', [supervisor, 'sh', '-c', child, 'child', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  let log = '';
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const starts = () => { try { return readFileSync(join(dir, 'starts'), 'utf8').split('\n').filter(Boolean); } catch { return []; } };
  return { proc, exited, log: () => log, starts, dir };
}

// The child appends its pid to $1/starts, so the test counts starts and kills the current child.
const RECORD = 'echo $$ >> "$1/starts";';

t.test('an exit with a status is passed on, not restarted', async (t) => {
  const s = run(t, `${RECORD} exit 3`);
  t.equal(await s.exited, 3);
  t.equal(s.starts().length, 1);
});

t.test('a death by signal restarts at once, a crash loop backs off, SIGTERM in the pause exits', async (t) => {
  const s = run(t, `${RECORD} exec sleep 30`);
  for (let n = 1; n <= 3; n++) {
    t.ok(await until(() => s.starts().length === n, 10_000), `start ${n}`);
    process.kill(Number(s.starts()[n - 1]), 'SIGKILL');
  }
  t.ok(await until(() => (s.log().match(/"delaySeconds":2/g) ?? []).length === 1, 10_000), 'third death waits 2 s');
  const delays = [...s.log().matchAll(/"signal":(\d+),"delaySeconds":(\d+)/g)].map((m) => `${m[1]}/${m[2]}`);
  t.same(delays, ['9/0', '9/1', '9/2'], 'signal 9; first restart immediate, then 1 s, 2 s');
  t.equal(s.starts().length, 3, 'the fourth start waits for the pause');
  s.proc.kill('SIGTERM');
  t.equal(await s.exited, 143, 'SIGTERM during the pause ends the supervisor');
  t.equal(s.starts().length, 3, 'and no child is started after it');
});

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`${sig} reaches the child as SIGTERM; its status is ours`, async (t) => {
    const s = run(t, `${RECORD} sleep 30 & w=$!; trap 'kill $w; sleep 0.3; echo stopped > "$1/stopped"; exit 0' TERM; wait`);
    t.ok(await until(() => s.starts().length === 1, 10_000), 'child started');
    s.proc.kill(sig);
    t.equal(await s.exited, 0, 'the child\'s clean exit status');
    t.equal(readFileSync(join(s.dir, 'stopped'), 'utf8'), 'stopped\n', 'the child ran its SIGTERM handler to the end first');
    t.equal(s.starts().length, 1, 'not restarted');
  });
}

// V8 sized from -memory-limit: the child is node printing the flags it got and its heap limit.
const PRINT = 'console.log(JSON.stringify({ argv: process.execArgv.filter((a) => /^--(max|min)-/.test(a)), heapMiB: require("v8").getHeapStatistics().heap_size_limit / 1048576 }))';
function sized(args: string[]): { out: { argv: string[]; heapMiB: number } | null; log: string } {
  const r = spawnSync('env', ['-u', 'NODE_OPTIONS', 'sh', supervisor, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { out: r.stdout.startsWith('{') ? JSON.parse(r.stdout) : null, log: r.stderr };
}

t.test('V8 heap sized from -memory-limit in the agent\'s arguments, given flags win', async (t) => {
  const a = sized([process.execPath, '-e', PRINT, '--', '-memory-limit', '128Mi']);
  t.same(a.out, { argv: ['--max-old-space-size=56', '--min-semi-space-size=2', '--max-semi-space-size=2'], heapMiB: 62 }, '128Mi: budget 96 MiB, old space 56, a fixed 2 MiB semi-space');
  t.match(a.log, /"msg":"V8 heap sized from the memory budget","limitMiB":128,"source":"-memory-limit","budgetMiB":96/);
  const b = sized([process.execPath, '--max-semi-space-size=1', '-e', PRINT, '--', '--memory-limit=1Gi', '-memory-budget-percent', '50']);
  t.same(b.out?.argv, ['--max-old-space-size=472', '--max-semi-space-size=1'], '1Gi at 50 %: old space 512 - 40; the semi-space given is kept');
  const c = sized([process.execPath, '-e', PRINT, '--', '-memory-limit=64Mi']);
  t.same(c.out?.argv, ['--max-old-space-size=24', '--min-semi-space-size=2', '--max-semi-space-size=2'], 'a 48 MiB budget: the floors');
  const d = sized([process.execPath, '-e', PRINT, '--', '-memory-limit', '1.5Gi']);
  t.same(d.out?.argv, [], 'a fractional quantity is not sized by the shell');
  t.match(d.log, /V8 heap not sized: -memory-limit is not a whole quantity/, 'and says so');
  const e = spawnSync('sh', [supervisor, 'sh', '-c', 'echo "$@"', 'child', '-memory-limit', '128Mi'], { encoding: 'utf8', timeout: 20_000 });
  t.same([e.stdout, e.stderr], ['-memory-limit 128Mi\n', ''], 'a command that is not node is left alone');
});
