// node-cache's rendering: the upstream nodelocaldns.yaml Corefile template (test/fixtures, a
// verbatim copy), __PILLAR__ substitution, kube-dns ConfigMap stub domains and upstreams, and
// the loader that writes -conf and falls back to -conf or the embedded default.
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../src/config/flags.js';
import { parseKubeDnsData, readKubeDnsDir } from '../../src/config/kubedns.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { serviceHostEnv } from '../../src/config/pillar.js';
import { SetupError } from '../../src/errors.js';

const TEMPLATE = readFileSync(new URL('../fixtures/upstream-Corefile.base', import.meta.url), 'utf8');

interface Rig { dir: string; base: string; conf: string; resolv: string; cm: string }
function rig(t: Test, template = TEMPLATE): Rig {
  const dir = mkdtempSync(join(tmpdir(), 'pillar-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = { dir, base: join(dir, 'coredns', 'Corefile.base'), conf: join(dir, 'Corefile'), resolv: join(dir, 'resolv.conf'), cm: join(dir, 'kube-dns') };
  mkdirSync(join(dir, 'coredns'));
  mkdirSync(r.cm);
  writeFileSync(r.base, template);
  writeFileSync(r.resolv, 'search example\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n');
  return r;
}
const ENV = { KUBE_DNS_UPSTREAM_SERVICE_HOST: '10.96.0.11' };
const args = (r: Rig, ...more: string[]) =>
  parseFlags(['-localip', '169.254.20.10,10.96.0.10', '-basecorefile', r.base, '-conf', r.conf, '-upstreamsvc', 'kube-dns-upstream', '-kubednscm', r.cm, ...more]);
/** What the upstream docs' sed does at deploy time. */
const sed = (s: string) => s.replaceAll('__PILLAR__LOCAL__DNS__', '169.254.20.10').replaceAll('__PILLAR__DNS__DOMAIN__', 'cluster.local').replaceAll('__PILLAR__DNS__SERVER__', '10.96.0.10');

t.test('service env name as node-cache builds it', async (t) => {
  t.equal(serviceHostEnv('kube-dns-upstream'), 'KUBE_DNS_UPSTREAM_SERVICE_HOST');
  t.equal(serviceHostEnv('kube-dns'), 'KUBE_DNS_SERVICE_HOST');
});

t.test('the upstream template, sed-ed at deploy time as documented, renders and parses', async (t) => {
  const r = rig(t, sed(TEMPLATE));
  const { config, files, problems } = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  t.same(problems, []);
  const s = config.servers;
  t.same(s.map((b) => [b.zones, b.port]), [[['cluster.local.'], 53], [['in-addr.arpa.'], 53], [['ip6.arpa.'], 53], [['.'], 53]]);
  for (const b of s) {
    t.same(b.bind, ['169.254.20.10', '10.96.0.10']);
    t.same([b.errors.enabled, b.loop, b.reload], [true, true, { intervalMs: 30_000, jitterMs: 15_000 }]);
    t.same(b.prometheus, { host: '', port: 9253 });
    t.equal(b.cache!.successCapacity, 9984);
  }
  const [cl, inaddr, ip6, root] = s as [typeof s[0], typeof s[0], typeof s[0], typeof s[0]];
  t.same([cl.cache!.successMaxTtl, cl.cache!.denialMaxTtl, cl.cache!.denialCapacity], [30, 5, 9984]);
  t.same([inaddr.cache!.successMaxTtl, inaddr.cache!.denialMaxTtl, ip6.cache!.successMaxTtl], [30, 30, 30]);
  for (const b of [cl, inaddr, ip6]) {
    t.same(b.forward!.to, [{ host: '10.96.0.11', port: 53 }], 'cluster zones go to the kube-dns-upstream ClusterIP');
    t.equal(b.forward!.forceTcp, true);
  }
  t.same(root.forward!.to, [{ host: '192.0.2.1', port: 53 }, { host: '192.0.2.2', port: 53 }], '"." goes to the node resolv.conf');
  t.equal(root.forward!.forceTcp, false);
  t.same(cl.health, { host: '169.254.20.10', port: 8080, lameduckMs: 0 });
  t.same([inaddr.health, ip6.health, root.health], [null, null, null]);
  const written = readFileSync(r.conf, 'utf8');
  t.equal(written, config.corefileText, '-conf holds the rendered text');
  t.match(written, /forward \. 10\.96\.0\.11 \{/);
  t.match(written, new RegExp(`forward \\. ${r.resolv}\\n`));
  t.notMatch(written, /__PILLAR__/);
  t.same(files, [join(r.dir, 'coredns'), r.cm, r.resolv]);
});

t.test('the un-sed-ed template: leftovers filled like node-cache', async (t) => {
  const r = rig(t);
  const { config } = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  t.same(config.servers.map((b) => b.zones[0]), ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.', '.'], 'DNS__DOMAIN left → cluster.local');
  t.same(config.servers[0]!.bind, ['169.254.20.10', '10.96.0.10'], 'LOCAL__DNS → the -localip list, DNS__SERVER → ""');
  t.same(config.servers[0]!.health, { host: '169.254.20.10', port: 8080, lameduckMs: 0 }, 'LOCAL__DNS:port → the first local IP');
  const other = loadAgentConfig(args(r, '-dns-domain', 'corp.example'), ENV, { resolvConfPath: r.resolv }).config;
  t.same(other.servers[0]!.zones, ['corp.example.'], '-dns-domain fills a leftover DNS__DOMAIN');
});

t.test('missing upstream service env: a clear error naming the variable', async (t) => {
  const r = rig(t);
  t.throws(() => loadAgentConfig(args(r), {}, { resolvConfPath: r.resolv }), { message: new RegExp(`^${r.base}:10: __PILLAR__CLUSTER__DNS__ .*KUBE_DNS_UPSTREAM_SERVICE_HOST is not set`) });
  t.throws(() => loadAgentConfig(args(r), { KUBE_DNS_UPSTREAM_SERVICE_HOST: 'kube-dns' }, { resolvConfPath: r.resolv }), { message: /is not set to an IP address/ });
  t.notOk(existsSync(r.conf), 'nothing written');
});

t.test('kube-dns ConfigMap: stub domains appended, upstreamNameservers replace resolv.conf', async (t) => {
  const r = rig(t, sed(TEMPLATE));
  writeFileSync(join(r.cm, 'stubDomains'), JSON.stringify({ 'z.example': ['192.0.2.30'], 'acme.local': ['192.0.2.20:5353', '192.0.2.21'] }));
  writeFileSync(join(r.cm, 'upstreamNameservers'), JSON.stringify(['198.51.100.1', '198.51.100.2:5300']));
  const { config, kubeDns } = loadAgentConfig(args(r, '-dns.port', '53'), ENV, { resolvConfPath: r.resolv });
  t.same(kubeDns!.stubDomains.map((s) => s.domain), ['acme.local', 'z.example']);
  const s = config.servers;
  t.same(s.map((b) => b.zones[0]), ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.', '.', 'acme.local.', 'z.example.']);
  t.same(s[3]!.forward!.to, [{ host: '198.51.100.1', port: 53 }, { host: '198.51.100.2', port: 5300 }]);
  const acme = s[4]!;
  t.same(acme.forward!.to, [{ host: '192.0.2.20', port: 5353 }, { host: '192.0.2.21', port: 53 }]);
  t.same([acme.bind, acme.port, acme.cache!.successMaxTtl, acme.errors.enabled, acme.prometheus, acme.loop], [['169.254.20.10', '10.96.0.10'], 53, 30, true, null, false]);
  t.match(config.corefileText, /\nacme\.local:53 \{\n    errors\n    cache 30\n    bind 169\.254\.20\.10 10\.96\.0\.10\n    forward \. 192\.0\.2\.20:5353 192\.0\.2\.21\n\}\n/, "node-cache's stub block, byte for byte");
});

t.test('custom upstreams turn a force_tcp "." block into UDP, as node-cache does', async (t) => {
  const r = rig(t, '.:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__ {\n            force_tcp\n    }\n}\n');
  t.equal(loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv }).config.servers[0]!.forward!.forceTcp, true, 'resolv.conf keeps force_tcp');
  writeFileSync(join(r.cm, 'upstreamNameservers'), '["198.51.100.1"]');
  const f = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv }).config.servers[0]!.forward!;
  t.same([f.forceTcp, f.to], [false, [{ host: '198.51.100.1', port: 53 }]]);
});

t.test('__PROMETHEUS__ENDPOINT__ is the -prometheus-listen-address', async (t) => {
  const r = rig(t, '.:53 {\n forward . 192.0.2.1\n prometheus __PROMETHEUS__ENDPOINT__\n}\n');
  const c = loadAgentConfig(args(r, '-prometheus-listen-address', '169.254.20.10:9300'), ENV, { resolvConfPath: r.resolv }).config;
  t.same(c.servers[0]!.prometheus, { host: '169.254.20.10', port: 9300 });
});

t.test('invalid kube-dns ConfigMap: SetupError(configmap), previous kube-dns config kept', async (t) => {
  const bads: [Record<string, string>, RegExp][] = [
    [{ stubDomains: '{not json' }, /stubDomains: invalid JSON/],
    [{ stubDomains: '["a"]' }, /want a JSON object/],
    [{ stubDomains: '{"Bad_Domain": ["192.0.2.1"]}' }, /invalid domain name: "Bad_Domain"/],
    [{ stubDomains: '{"a.example": ["ns.example"]}' }, /invalid nameserver "ns.example"/],
    [{ stubDomains: '{"a.example": []}' }, /non-empty list/],
    [{ upstreamNameservers: '["192.0.2.1","192.0.2.2","192.0.2.3","192.0.2.4"]' }, /cannot have more than three entries/],
    [{ upstreamNameservers: '"192.0.2.1"' }, /want a JSON list/],
    [{ upstreamNameservers: '' }, /invalid JSON/],
  ];
  for (const [data, re] of bads) {
    t.throws(() => parseKubeDnsData(data, 'cm'), { message: re, errortype: 'configmap' }, JSON.stringify(data));
    t.throws(() => parseKubeDnsData(data, 'cm'), SetupError);
  }
  const r = rig(t, sed(TEMPLATE));
  writeFileSync(join(r.cm, 'stubDomains'), '{"acme.local": ["192.0.2.20"]}');
  const good = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  writeFileSync(join(r.cm, 'stubDomains'), '{"acme.local": ["not-an-ip!"]}');
  const after = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv, previousKubeDns: good.kubeDns! });
  t.equal(after.problems.length, 1);
  t.equal(after.problems[0]!.errortype, 'configmap');
  t.match(after.problems[0]!.error.message, /invalid nameserver/);
  t.same(after.config.servers.map((b) => b.zones[0]), good.config.servers.map((b) => b.zones[0]), 'the last good stub domains are kept');
  const fresh = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  t.equal(fresh.config.servers.length, 4, 'at start with a bad ConfigMap: no stub domains, still serving');
  t.same(readKubeDnsDir(join(r.dir, 'no-such-dir')), { stubDomains: [], upstreamNameservers: [] }, 'an absent optional ConfigMap is empty');
});

t.test('no template: -conf is served as written, or refused when unreadable; neither: the embedded default', async (t) => {
  const r = rig(t);
  rmSync(r.base);
  writeFileSync(r.conf, `example.org:5300 {\n forward . 192.0.2.9\n}\nexample.net {\n forward . ${r.resolv}\n}\n`);
  const c = loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  t.same([c.config.servers[0]!.zones, c.config.servers[0]!.port, c.files], [['example.org.'], 5300, [r.conf, r.resolv]], 'a resolv.conf named by forward is watched');
  t.same(c.config.servers[0]!.bind, ['169.254.20.10', '10.96.0.10'], 'no bind: the -localip addresses');
  const all = loadAgentConfig(parseFlags(['-basecorefile', r.base, '-conf', r.conf]), {}, { resolvConfPath: r.resolv });
  t.same(all.config.servers[0]!.bind, ['0.0.0.0'], 'no bind and no -localip: every IPv4 address, as CoreDNS');
  rmSync(r.conf);
  t.throws(() => loadAgentConfig(parseFlags(['-basecorefile', r.base, '-conf', r.conf]), {}, { resolvConfPath: r.resolv }),
    { code: 'ERR_CONFIG', message: `-conf ${r.conf}: cannot read the Corefile: ENOENT` }, 'a -conf that is not there stops the start, as CoreDNS');
  const e = loadAgentConfig(parseFlags(['-basecorefile', r.base]), {}, { resolvConfPath: r.resolv });
  t.same([e.config.servers[0]!.port, e.config.servers[0]!.forward!.to.length, e.files], [5353, 2, [r.resolv]], 'no -conf: the embedded default');
  writeFileSync(r.resolv, 'search only\n');
  t.throws(() => loadAgentConfig(parseFlags(['-basecorefile', r.base]), {}, { resolvConfPath: r.resolv }), { message: /no nameserver lines/ });
});

t.test('a template that renders to a broken Corefile does not overwrite -conf', async (t) => {
  const r = rig(t, '.:53 {\n forward . 192.0.2.1\n}\n');
  loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv });
  const before = readFileSync(r.conf, 'utf8');
  writeFileSync(r.base, '.:53 {\n forward . 192.0.2.1\n rewrite name a b\n}\n');
  t.throws(() => loadAgentConfig(args(r), ENV, { resolvConfPath: r.resolv }), { message: new RegExp(`^${r.conf}:3: unknown or unsupported directive "rewrite"`) });
  t.equal(readFileSync(r.conf, 'utf8'), before);
});
