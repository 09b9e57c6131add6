// NODELOCALDNS_LOG_LEVEL through the real cli (run from the sources): debug shows debug lines,
// error hides the info ones, an explicit -log-level wins, and a value it does not know exits 2
// naming the variable before anything is bound.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { queryUdp } from '../support/dnsclient.js';
import { spawnCli, tsLoaderMissing } from '../support/cli.js';
import { randomLoopback, randomPort, until } from '../support/net.js';

const CLI_ARGS = ['-setupinterface=false', '-setupiptables=false', '-metrics-listen-address', '', '-basecorefile', ''];

t.test('NODELOCALDNS_LOG_LEVEL decides what the cli logs', { skip: knotMissing() || tsLoaderMissing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const dir = mkdtempSync(join(tmpdir(), 'loglevel-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  /** Serve a Corefile with `loop` (its "no forwarding loop" line is debug, "serving" is info). */
  const run = async (env: Record<string, string>, extra: string[] = []): Promise<string> => {
    const host = randomLoopback();
    const port = randomPort();
    const conf = join(dir, `Corefile.${port}`);
    writeFileSync(conf, `cluster.local:${port} {\n bind ${host}\n loop\n forward . ${knot.address}:${knot.port}\n}\n`);
    const c = spawnCli(t, ['-conf', conf, '-localip', host, '-health-port', String(randomPort()), ...CLI_ARGS, ...extra], { ...process.env, ...env });
    const r = await until(() => queryUdp(host, port, 'web.prod.svc.cluster.local', 'A', { timeoutMs: 300 }), 15_000, 100);
    t.equal(r?.rcode, 'NOERROR', `serving (stderr: ${c.stderr.slice(0, 300)})`);
    c.child.kill('SIGTERM');
    await new Promise((resolve) => (c.child.exitCode === null ? c.child.once('exit', resolve) : resolve(null)));
    return c.stderr;
  };
  const levels = (stderr: string): Set<string> => new Set(stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { level: string }).level));

  const debug = await run({ NODELOCALDNS_LOG_LEVEL: 'debug' });
  t.match(debug, /"level":"debug","msg":"no forwarding loop"/, '=debug: debug lines appear');
  t.match(debug, /"msg":"serving"/, '=debug: info lines too');

  const error = await run({ NODELOCALDNS_LOG_LEVEL: 'error' });
  t.notOk(levels(error).has('info'), '=error: no info line (not even "serving", "stopped")');
  t.notOk(levels(error).has('debug'), '=error: no debug line');

  const flagWins = await run({ NODELOCALDNS_LOG_LEVEL: 'debug' }, ['-log-level', 'info']);
  t.notOk(levels(flagWins).has('debug'), 'an explicit -log-level info wins over the variable');
  t.match(flagWins, /"msg":"serving"/);
});

t.test('a bad NODELOCALDNS_LOG_LEVEL exits 2 naming the variable', { skip: tsLoaderMissing }, async (t) => {
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));
  const cli = new URL('../../src/cli.ts', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [...loader, cli, '-localip', '127.0.0.1', '-dns.port', '1', ...CLI_ARGS], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NODELOCALDNS_LOG_LEVEL: 'verbose' },
  });
  t.equal(r.status, 2);
  t.match(r.stderr, /NODELOCALDNS_LOG_LEVEL: "verbose" is not one of debug, info, warn, error/);
});
