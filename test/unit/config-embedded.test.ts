import t from 'tap';
import { embeddedConfig } from '../../src/config/embedded.js';
import { parseFlags } from '../../src/config/flags.js';

const resolv = [{ host: '192.0.2.53', port: 53 }];

t.test('no -localip: loopback 5353, one "." block to resolv.conf, metrics on loopback', async (t) => {
  const c = embeddedConfig(parseFlags([]), resolv);
  t.equal(c.servers.length, 1);
  const s = c.servers[0]!;
  t.same(s.zones, ['.']);
  t.same(s.bind, ['127.0.0.1']);
  t.equal(s.port, 5353);
  t.same(s.forward!.to, resolv);
  t.equal(s.forward!.forceTcp, false);
  t.equal(s.cache!.successMaxTtl, 30);
  t.equal(s.cache!.denialMaxTtl, 30);
  t.same(s.prometheus, { host: '127.0.0.1', port: 9253 });
  t.same(s.health, { host: '127.0.0.1', port: 8080, lameduckMs: 0 });
  t.equal(c.corefileText, '');
});

t.test('-dns.port overrides the port', async (t) => {
  const c = embeddedConfig(parseFlags(['-dns.port', '10053']), resolv);
  t.equal(c.servers[0]!.port, 10053);
});

t.test('-localip and -upstream: cluster zones over TCP, "." over resolv.conf, port 53', async (t) => {
  const f = parseFlags(['-localip', '169.254.20.10,10.0.0.10', '-upstream', '10.0.0.11:5300', '-health-port', '8081']);
  const c = embeddedConfig(f, resolv);
  t.same(c.servers.map((s) => s.zones[0]), ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.', '.']);
  for (const s of c.servers) {
    t.same(s.bind, ['169.254.20.10', '10.0.0.10']);
    t.equal(s.port, 53);
    t.same(s.prometheus, { host: '', port: 9253 });
  }
  t.same(c.servers[0]!.forward!.to, [{ host: '10.0.0.11', port: 5300 }]);
  t.equal(c.servers[0]!.forward!.forceTcp, true);
  t.same(c.servers[3]!.forward!.to, resolv);
  t.equal(c.servers[3]!.forward!.forceTcp, false);
  t.same(c.servers[0]!.health, { host: '169.254.20.10', port: 8081, lameduckMs: 0 });
  t.equal(c.servers[1]!.health, null);
});

t.test('explicit prometheus address is kept', async (t) => {
  const c = embeddedConfig(parseFlags(['-prometheus-listen-address', '127.0.0.9:9999']), resolv);
  t.same(c.servers[0]!.prometheus, { host: '127.0.0.9', port: 9999 });
});
