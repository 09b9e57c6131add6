// The agent run without CAP_NET_ADMIN (as nobody, in a namespace the test makes), as an operator
// trying it out would: the last stderr line says the cause first (setup refused, no privilege)
// with what to do, then the bind failure it led to; an iptables refusal is counted as
// errortype "iptables", not as a lock problem; nothing is logged after "stopped".
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeNetns, netnsMissing, nsh, sh } from '../support/netns.js';
import { randomPort, until } from '../support/net.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || (sh(['which', 'setpriv'], false).code !== 0 && 'setpriv not installed (util-linux)') ||
  (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping unprivileged setup e2e: ${skip}`);
t.setTimeout(120_000);

const LOCAL_IP = '169.254.20.10';

function runAsNobody(t: { teardown(fn: () => unknown): void }, ns: string, args: string[],
  privileges = ['--reuid=nobody', '--regid=nogroup', '--clear-groups']) {
  // `env -i`: tap hands its NODE_OPTIONS to every child, which then writes coverage data where
  // nobody may not.
  const child = spawn('ip', ['netns', 'exec', ns, 'env', '-i', `PATH=${process.env.PATH}`,
    'setpriv', ...privileges,
    process.execPath, cli, '-localip', LOCAL_IP, '-upstream', '127.0.0.1:9', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return { code, stderr: () => stderr, kill: (sig: NodeJS.Signals) => child.kill(sig) };
}

/** The JSON log lines after the one whose msg is "stopped". */
function loggedAfterStopped(stderr: string): string[] {
  const lines = stderr.trim().split('\n').filter((l) => l.startsWith('{'));
  const i = lines.findIndex((l) => /"msg":"stopped"/.test(l));
  return i < 0 ? ['no "stopped" line'] : lines.slice(i + 1);
}

t.test('interface setup refused: exit 1, the cause and what to do lead the last line', async (t) => {
  const ns = makeNetns(t, 'priv');
  const a = runAsNobody(t, ns, ['-dns.port', String(randomPort())]);
  t.equal(await a.code, 1, 'exit 1');
  const last = a.stderr().trim().split('\n').at(-1)!;
  t.match(last, /^nodelocaldns: node setup refused, no privilege \(creating interface: ip link add nodelocaldns [^)]*Operation not permitted\): /, 'cause first');
  t.match(last, 'run with CAP_NET_ADMIN', 'what to do');
  t.match(last, '-setupinterface=false -setupiptables=false', 'and the way out without privilege');
  t.match(last, new RegExp(`then serving failed: .*bind EADDRNOTAVAIL ${LOCAL_IP.replace(/\./g, '\\.')}`), 'the consequence after it');
  t.match(a.stderr(), /"msg":"node setup refused: no privilege","errortype":"interface_add"/);
  t.same(loggedAfterStopped(a.stderr()), [], 'no setup or teardown log line after "stopped"');
  t.notMatch(a.stderr(), /"msg":"iptables rules removed"/, 'a refused teardown does not claim to have removed the rules');
});

t.test('iptables refused while serving: counted as "iptables", never "iptables_lock"', async (t) => {
  const ns = makeNetns(t, 'priv');
  nsh(ns, ['ip', 'addr', 'add', `${LOCAL_IP}/32`, 'dev', 'lo']);
  const metricsPort = randomPort();
  const a = runAsNobody(t, ns, ['-dns.port', String(randomPort()), '-setupinterface=false', '-syncinterval', '1h',
    '-metrics-listen-address', `127.0.0.1:${metricsPort}`, '-health-port', String(randomPort())]);
  t.ok(await until(() => /"msg":"node setup refused: no privilege"/.test(a.stderr()), 60_000), `refusal logged: ${a.stderr().slice(-400)}`);
  t.match(a.stderr(), /"msg":"node setup refused: no privilege","errortype":"iptables","error":\{[^}]*you must be root/);
  t.notMatch(a.stderr(), /iptables_lock/, 'not labelled a lock problem');
  t.ok(await until(() => /"msg":"iptables rules incomplete, the sync retries"/.test(a.stderr()), 10_000), 'the pass is reported incomplete');
  t.notMatch(a.stderr(), /"msg":"iptables rules installed"/, 'not as installed');
  const fetchMetrics = `fetch('http://127.0.0.1:${metricsPort}/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))`;
  const metrics = nsh(ns, [process.execPath, '-e', fetchMetrics]).out;
  t.match(metrics, /coredns_nodecache_setup_errors_total\{errortype="iptables"\} 1\n/, 'one refused pass counted once');
  t.notMatch(metrics, /errortype="iptables_lock"\} [1-9]/);
  a.kill('SIGTERM');
  t.equal(await a.code, 0, 'a clean stop still exits 0');
  t.same(loggedAfterStopped(a.stderr()), [], 'no setup or teardown log line after "stopped"');
  t.notMatch(a.stderr(), /"msg":"iptables rules removed"/, 'a refused teardown does not claim to have removed the rules');
});

t.test('root without NET_RAW on a legacy node: the backend probe says it was refused and why', async (t) => {
  const ns = makeNetns(t, 'priv');
  nsh(ns, ['ip', 'addr', 'add', `${LOCAL_IP}/32`, 'dev', 'lo']);
  nsh(ns, ['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']); // kube-proxy on iptables-legacy
  // What a container granted NET_ADMIN and NET_BIND_SERVICE only would have.
  const a = runAsNobody(t, ns, ['-dns.port', String(randomPort()), '-setupinterface=false', '-syncinterval', '1h',
    '-metrics-listen-address', `127.0.0.1:${randomPort()}`, '-health-port', String(randomPort())],
  ['--bounding-set=-all,+net_admin,+net_bind_service', '--inh-caps=-all']);
  t.ok(await until(() => /"msg":"iptables backend detected"/.test(a.stderr()), 60_000), `backend chosen: ${a.stderr().slice(-400)}`);
  t.match(a.stderr(), /"msg":"backend probe refused: no privilege","cmd":"iptables-legacy-save"/, 'the legacy probe is reported refused');
  t.match(a.stderr(), /"hint":"iptables-legacy needs CAP_NET_RAW as well as CAP_NET_ADMIN"/, 'with what is missing');
  t.notMatch(a.stderr(), /"backend probe refused: no privilege","cmd":"iptables-nft-save"/, 'nft answered: NET_ADMIN is enough there');
  a.kill('SIGTERM');
  t.equal(await a.code, 0);
});
