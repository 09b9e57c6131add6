// What an operator meets on a first run of the binary: a -conf that cannot be read stops the
// start naming the path (as CoreDNS and node-cache), -h/-version/-plugins print and exit 0,
// node-cache's inherited flags are accepted, and a stray argument is named as itself.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomLoopback, randomPort, until } from '../support/net.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 20_000 });

t.test('-conf naming a missing or unreadable file exits 1 naming the path, serving nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = randomPort();
  for (const conf of [join(dir, 'Corefile.missing'), dir]) {
    const r = run(['-conf', conf, '-dns.port', String(port), '-basecorefile', join(dir, 'no-template')]);
    t.equal(r.status, 1, `${conf}: exit 1 (timed out: ${r.error ? 'yes' : 'no'})`);
    const last = r.stderr.trim().split('\n').at(-1)!;
    t.match(last, `nodelocaldns: -conf ${conf}: cannot read the Corefile`, 'the last line names -conf and the path');
    t.notMatch(r.stderr, /"msg":"serving"/, 'the embedded default was not served instead');
  }
});

t.test('-h, -help and --help print the usage on stdout and exit 0', async (t) => {
  for (const h of ['-h', '-help', '--help']) {
    const r = run(['-localip', '169.254.20.10', h]);
    t.equal(r.status, 0, h);
    t.match(r.stdout, /^Usage of nodelocaldns:\n/, h);
    t.match(r.stdout, /-dns\.port int\n\s+\t[^\n]*\(default 53\)/, `${h}: the real -dns.port default`);
    t.equal(r.stderr, '', `${h}: nothing on stderr`);
  }
});

t.test('-version prints a version line, -plugins the plugin list; both exit 0', async (t) => {
  const v = run(['-version']);
  t.equal(v.status, 0);
  t.match(v.stdout, /^nodelocaldns-ts-\d+\.\d+\.\d+\nlinux\/\w+, node\d+\.\d+\.\d+\n$/);
  const p = run(['-plugins']);
  t.equal(p.status, 0);
  t.match(p.stdout, /\n {2}dns\.cache\n/);
  t.match(p.stdout, /\n {2}dns\.forward\n/);
});

t.test('a stray argument is reported as itself; an unknown flag still exits 2', async (t) => {
  const stray = run(['-dns.port', '5300', 'foo']);
  t.equal(stray.status, 2);
  t.match(stray.stderr, /extra command line arguments: "foo"/);
  t.notMatch(stray.stderr, /-foo/, 'no dash added to it');
  const unknown = run(['-nosuchflag']);
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /^flag -nosuchflag: flag provided but not defined\nUsage of nodelocaldns:/);
});

t.test('node-cache\'s inherited flags are accepted: serves, logs the ones without effect', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const host = randomLoopback();
  const port = randomPort();
  // No port in the key: -p decides it. The upstream is a loopback port nothing listens on.
  writeFileSync(join(dir, 'Corefile'), `. {\n  bind ${host}\n  forward . 127.0.0.1:9\n}\n`);
  const child = spawn(process.execPath, [cli, '-quiet', '-corefile', '/etc/Corefile', '-p', String(port),
    '-conf', join(dir, 'Corefile'), '-basecorefile', join(dir, 'no-template')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await until(() => /"msg":"serving"/.test(stderr) || child.exitCode !== null, 15_000);
  t.match(stderr, `"msg":"serving","listeners":["${host}:${port}"]`, `-p ${port} is the DNS port: ${stderr.slice(-300)}`);
  for (const flag of ['-quiet', '-corefile']) t.match(stderr, `"msg":"flag accepted for node-cache compatibility, no effect here","flag":"${flag}"`, flag);
  child.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('stderr closed under the agent (log collector gone): SIGTERM still stops it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'Corefile'), `. {\n  bind ${randomLoopback()}\n  forward . 127.0.0.1:9\n}\n`);
  const child = spawn(process.execPath, [cli, '-dns.port', String(randomPort()), '-conf', join(dir, 'Corefile'), '-basecorefile', join(dir, 'no-template')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<string>((r) => child.once('exit', (code, sig) => r(`${code} ${sig}`)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  t.ok(await until(() => /"msg":"serving"/.test(stderr), 15_000), 'serving');
  child.stderr!.destroy(); // every later log line meets EPIPE
  child.kill('SIGUSR1'); // a reload: log lines
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  const outcome = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
  t.equal(outcome, '0 null', 'exits 0 on SIGTERM (it used to spin on EPIPE and never exit)');
});
