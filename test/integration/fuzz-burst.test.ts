// A short bounded run of the fuzz harness (bench/fuzz/run.mjs, `npm run fuzz` for the full one):
// 20k mutated and hostile datagrams over UDP plus TCP framing abuse against the built agent
// (dist/, which `npm test` builds first) forwarding to knot. After every phase the agent must
// still run and answer the known names exactly as knot does. The seed is fixed, so a failure
// here replays with `npm run fuzz -- --seed 20261202 --count 20000 --rate 10000`.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { knotMissing } from '../support/knot.js';

const RUN = fileURLToPath(new URL('../../bench/fuzz/run.mjs', import.meta.url));
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SEED = '20261202';

interface Event {
  event: string;
  phase?: string;
  alive?: boolean;
  wrong?: number;
  sent?: number;
  failures?: unknown;
}

const skip = knotMissing() || (!existsSync(CLI) && 'dist/ not built (npm run build)');

t.test('20k fuzzed datagrams: the agent survives every phase and answers as knot does', { skip, timeout: 90_000 }, async (t) => {
  const child = spawn(process.execPath, [RUN, '--seed', SEED, '--count', '20000', '--rate', '10000', '--settle', '0', '--max-seconds', '60', '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.once('exit', r));
  const events = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Event);
  t.equal(code, 0, `harness exit code (stdout: ${out.slice(-3000)} stderr: ${err.slice(-2000)})`);
  const phases = events.filter((e) => e.event === 'phase');
  t.same(
    phases.map((p) => p.phase),
    ['baseline', 'udp-mutated', 'udp-structured', 'tcp'],
  );
  for (const p of phases) {
    t.equal(p.alive, true, `${p.phase}: agent alive`);
    t.equal(p.wrong, 0, `${p.phase}: answers match knot`);
  }
  t.ok(phases.find((p) => p.phase === 'udp-mutated')!.sent! >= 12000, 'every mutated datagram was sent');
  t.ok(events.some((e) => e.event === 'done'), 'harness reports done');
});
