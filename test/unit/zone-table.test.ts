// The routing table built from server blocks: which block answers a name, and whether that
// block's cache and forward take it (cache ZONES, forward FROM and except, as CoreDNS decides
// them with plugin.Zones.Matches and forward's isAllowedDomain).
import t from 'tap';
import { corefileFromText } from '../../src/config/corefile/build.js';
import { PARSE_OK, ParsedQuery, parseQuery } from '../../src/dns/wire.js';
import { silentLogger } from '../../src/observe/log.js';
import { ZoneStats } from '../../src/resolve/stats.js';
import { BlockRuntime } from '../../src/resolve/block.js';
import { blockRoutes, ZoneTable } from '../../src/resolve/zone-table.js';
import { encodeQuery } from '../support/dnsclient.js';

function table(t: { teardown(fn: () => void): void }, corefile: string): ZoneTable {
  const { servers } = corefileFromText(corefile, 'Corefile');
  const blocks = servers.map((s) => new BlockRuntime(s, silentLogger));
  t.teardown(() => blocks.forEach((b) => b.close()));
  return new ZoneTable(blocks.flatMap((b) => b.config.zones.map((z) => blockRoutes(b, z, new ZoneStats('dns://test', z))).flat()));
}

function route(tbl: ZoneTable, name: string): { zone: string; cache: boolean; forward: boolean } | null {
  const q = new ParsedQuery();
  if (parseQuery(encodeQuery(name, 'A'), q) !== PARSE_OK) throw new Error(`unparsable ${name}`);
  const r = tbl.match(q);
  return r && { zone: r.zone, cache: r.cache !== null, forward: r.forward };
}

t.test('except: the zone and every name below it are not forwarded; siblings and parents are', async (t) => {
  const tbl = table(t, '.:53 {\n cache 30\n forward . 192.0.2.1 {\n  except skip.example. other.test\n }\n}\n');
  t.same(route(tbl, 'skip.example'), { zone: '.', cache: true, forward: false });
  t.same(route(tbl, 'a.b.skip.example'), { zone: '.', cache: true, forward: false });
  t.same(route(tbl, 'x.other.test'), { zone: '.', cache: true, forward: false });
  t.same(route(tbl, 'example'), { zone: '.', cache: true, forward: true });
  t.same(route(tbl, 'noskip.example'), { zone: '.', cache: true, forward: true }, 'label boundaries, not string suffixes');
});

t.test('forward FROM: only names under FROM; FROM itself even inside an except zone', async (t) => {
  const tbl = table(t, 'example.test:53 {\n forward sub.example.test 192.0.2.1 {\n  except sub.example.test\n }\n}\n');
  t.same(route(tbl, 'www.example.test'), { zone: 'example.test.', cache: false, forward: false }, 'outside FROM');
  t.same(route(tbl, 'sub.example.test'), { zone: 'example.test.', cache: false, forward: true }, 'FROM itself (isAllowedDomain)');
  t.same(route(tbl, 'a.sub.example.test'), { zone: 'example.test.', cache: false, forward: false }, 'below FROM, under the except zone');
});

t.test('cache ZONES: inside, equal to and above the block zone', async (t) => {
  const tbl = table(t, 'example.test:53 {\n cache 30 a.example.test b.example.test\n forward . 192.0.2.1\n}\nother.test:53 {\n cache 30 .\n forward . 192.0.2.1\n}\n');
  t.same(route(tbl, 'x.a.example.test'), { zone: 'example.test.', cache: true, forward: true });
  t.same(route(tbl, 'b.example.test'), { zone: 'example.test.', cache: true, forward: true });
  t.same(route(tbl, 'c.example.test'), { zone: 'example.test.', cache: false, forward: true });
  t.same(route(tbl, 'example.test'), { zone: 'example.test.', cache: false, forward: true });
  t.same(route(tbl, 'www.other.test'), { zone: 'other.test.', cache: true, forward: true }, 'a cache zone above the block covers all of it');
  t.equal(route(tbl, 'elsewhere.test'), null, 'no block, no route');
});

t.test('an inner zone of one block never takes names a longer block zone owns', async (t) => {
  const tbl = table(t, '.:53 {\n forward . 192.0.2.1 {\n  except a.b.test b.test\n }\n}\nb.test:53 {\n forward . 192.0.2.1\n}\n');
  t.same(route(tbl, 'x.a.b.test'), { zone: 'b.test.', cache: false, forward: true });
  t.same(route(tbl, 'b.test'), { zone: 'b.test.', cache: false, forward: true }, 'equal length: the block zone wins');
  t.same(route(tbl, 'c.test'), { zone: '.', cache: false, forward: true });
});

t.test('node-cache\'s blocks add no inner routes', async (t) => {
  const tbl = table(t, 'cluster.local:53 {\n cache 30\n forward . 10.0.0.10 {\n  force_tcp\n }\n}\n.:53 {\n cache 30\n forward . 192.0.2.1\n}\n');
  t.equal(tbl.all.length, 2, 'one route per block zone');
  t.same(route(tbl, 'web.prod.svc.cluster.local'), { zone: 'cluster.local.', cache: true, forward: true });
});
