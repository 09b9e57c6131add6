// The command line node-cache's binary accepts (its own flags and the CoreDNS ones it inherits)
// parses here too, with Go's flag package rules, and -help shows the defaults that apply.
import t from 'tap';
import { FLAG_SPECS, helpText, parseFlags } from '../../src/config/flags.js';
import { FlagError } from '../../src/errors.js';

// cmd/node-cache/main.go (current and older releases) and coredns coremain/run.go, with a value
// of the flag's type each.
const NODE_CACHE_ARGS = [
  '-localip', '169.254.20.10', '-setupinterface=false', '-interfacename', 'nodelocaldns', '-syncinterval', '30s',
  '-initialdelay', '10s', '-metrics-listen-address', '0.0.0.0:9353', '-setupiptables=false', '-setupebtables',
  '-basecorefile', '/etc/coredns/Corefile.base', '-corefile', '/etc/Corefile', '-kubednscm', '/etc/kube-dns',
  '-upstreamsvc', 'kube-dns-upstream', '-health-port', '8080', '-skipteardown', '-reloadwithsignal',
  '-prometheus-listen-address', ':9253',
];
const COREDNS_ARGS = ['-conf', '/etc/Corefile', '-plugins', '-pidfile', '/run/nodelocaldns.pid', '-version', '-quiet', '-dns.port', '53', '-p', '53'];

t.test('every flag node-cache accepts is accepted', async (t) => {
  const f = parseFlags([...NODE_CACHE_ARGS, ...COREDNS_ARGS]);
  t.same(f.localip, ['169.254.20.10']);
  t.equal(f.syncintervalMs, 30_000);
  t.equal(f.upstreamsvc, 'kube-dns-upstream');
  t.equal(f.conf, '/etc/Corefile');
  t.equal(f.pidfile, '/run/nodelocaldns.pid');
  t.ok(f.plugins && f.version && f.skipteardown && f.reloadwithsignal);
  t.same(f.args, []);
  t.same(f.noEffect.map((n) => n.flag), ['-initialdelay', '-setupebtables', '-corefile', '-quiet'], 'the ones without effect are reported, in order');
  for (const n of f.noEffect) t.not(n.why, '', `${n.flag} says why`);
  // Each one on its own, so one flag cannot hide another's rejection.
  for (const s of FLAG_SPECS) t.doesNotThrow(() => parseFlags([`-${s.name}=${s.def}`]), s.name);
});

t.test('-p is CoreDNS\'s short -dns.port: the last one given wins', async (t) => {
  t.equal(parseFlags(['-p', '1053']).dnsPort, 1053);
  t.equal(parseFlags(['-dns.port', '53', '-p=5300']).dnsPort, 5300);
  t.equal(parseFlags(['-p', '5300', '--dns.port', '53']).dnsPort, 53);
  t.throws(() => parseFlags(['-p', 'x']), { message: 'flag -p: invalid value "x": want a whole number' });
});

t.test('-h and -help ask for the usage, as Go\'s flag package, even after other flags', async (t) => {
  for (const h of ['-h', '-help', '--help', '--h']) t.ok(parseFlags(['-localip', '169.254.20.10', h]).help, h);
  t.ok(parseFlags(['-h', '-nosuchflag']).help, 'parsing stops at -h');
  t.throws(() => parseFlags(['-nosuchflag', '-h']), FlagError, 'an unknown flag before it is still an error');
  t.notOk(parseFlags([]).help);
});

t.test('arguments after the flags are returned as themselves, as flag.Args()', async (t) => {
  t.same(parseFlags(['-dns.port', '53', 'foo', '-localip', 'x']).args, ['foo', '-localip', 'x'], 'parsing stops at the first non-flag');
  t.same(parseFlags(['-dns.port', '53', '--', '-localip']).args, ['-localip'], '-- ends the flags');
  t.same(parseFlags(['-']).args, ['-']);
  t.throws(() => parseFlags(['-nosuchflag']), { message: 'flag -nosuchflag: flag provided but not defined' });
});

t.test('-help shows the defaults that apply, laid out as Go prints them', async (t) => {
  const help = helpText();
  t.match(help, /\n {2}-dns\.port int\n {4}\t[^\n]*\(default 53\)\n/, '-dns.port: 53, not the internal "not given" 0');
  t.match(help, /\n {2}-p int\n {4}\t[^\n]*\(default 53\)\n/);
  t.match(help, /\n {2}-health-port int\n {4}\t[^\n]*\(default 8080\)\n/, 'numbers unquoted');
  t.match(help, /\n {2}-basecorefile string\n {4}\t[^\n]*\(default "\/etc\/coredns\/Corefile\.base"\)\n/, 'strings quoted');
  t.match(help, /\n {2}-setupiptables\n {4}\t[^\n]*\(default true\)\n/, 'a bool shows its default when true');
  t.notMatch(help, /-skipteardown\n[^\n]*\(default/, 'and none when false (Go hides zero values)');
  t.match(help, /\n {2}-localip string\n/, 'lists are strings, as in node-cache');
  t.match(help, /\n {2}-h, -help\n/);
  t.notMatch(help, /\(default "?0"?\)/, 'no zero default shown');
  for (const s of FLAG_SPECS) t.match(help, new RegExp(`\\n  -${s.name.replace('.', '\\.')}[ \\n]`), s.name);
});
