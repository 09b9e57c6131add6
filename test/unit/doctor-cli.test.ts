// `nodelocaldns doctor` on the command line: usage, exit status 2 for bad arguments, 1 for a
// configuration the agent would refuse, and the hand-off leaving the agent's own flags alone.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
if (!existsSync(cli)) t.plan(0, 'dist/cli.js not built (npx tsc -p tsconfig.json)');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });

t.test('usage and bad arguments', async (t) => {
  const help = run('doctor', '-h');
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: nodelocaldns doctor \[--config FILE\] \[--pod-resolv FILE\] \[--json\]/);
  const bad = run('doctor', '-nosuchflag');
  t.equal(bad.status, 2, 'an unknown flag exits 2');
  t.match(bad.stderr, /nosuchflag.*\n.*Usage: nodelocaldns doctor/s);
  const type = run('doctor', '--big-query', 'example.com BOGUS');
  t.equal(type.status, 2);
  t.match(type.stderr, /unknown type "BOGUS"/);
  t.equal(run('doctor', '--timeout', 'soon').status, 2, 'a bad duration exits 2');
});

t.test('a Corefile the agent would refuse is a finding: exit 1, named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'doctor-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const conf = join(dir, 'Corefile');
  writeFileSync(conf, '.:5353 {\n  nosuchplugin\n}\n');
  const r = run('doctor', '--config', conf);
  t.equal(r.status, 1);
  t.match(r.stderr, new RegExp(`${conf}:2`), 'file:line of the problem');
  t.equal(run('doctor', '--config', join(dir, 'missing')).status, 1, 'an unreadable --config too');
});

t.test('the agent\'s own command line is untouched by the hand-off', async (t) => {
  const r = run('-localip', '169.254.20.10', 'doctor');
  t.equal(r.status, 2, '"doctor" after the flags is an extra argument, as before');
  t.match(r.stderr, /extra command line arguments: "doctor"/);
});
