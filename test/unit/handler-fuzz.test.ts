// Random and cut buffers through the real request handler: nothing throws, every reply is a
// well-formed DNS message, and every input is counted one way or another.
import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import * as packet from 'dns-packet';
import { QueryHandler } from '../../src/resolve/query-handler.js';
import { blockRoutes, ZoneTable } from '../../src/resolve/zone-table.js';
import { BlockRuntime } from '../../src/resolve/block.js';
import { ListenerStats, ZoneStats } from '../../src/resolve/stats.js';
import { nodeCacheCacheConfig } from '../../src/config/defaults.js';
import { silentLogger } from '../../src/observe/log.js';
import type { ServerBlockConfig } from '../../src/config/types.js';
import { encodeQuery } from '../support/dnsclient.js';

const cfg: ServerBlockConfig = {
  zones: ['.'], port: 53, bind: ['127.0.0.1'], cache: nodeCacheCacheConfig(30), forward: null,
  log: { enabled: false }, errors: { enabled: false, consolidate: [] }, loop: false, reload: null,
  prometheus: null, health: null, ready: null, source: 'test',
};

t.test('random and truncated input never throws', async (t) => {
  const block = new BlockRuntime(cfg, silentLogger);
  const stats = new ZoneStats('dns://127.0.0.1:53', '.');
  const ls = new ListenerStats('dns://127.0.0.1:53');
  const handler = new QueryHandler(new ZoneTable(blockRoutes(block, '.', stats)), ls);
  const replies: Buffer[] = [];
  const sink = { tcp: false, send: (b: Buffer) => replies.push(b) };
  const seeds = [
    encodeQuery('www.example.com', 'A', { edns: 1232, do: true }),
    encodeQuery('a.b.c.d.e.f.g', 'TXT'),
    encodeQuery('x', 'AAAA', { edns: 4096 }),
  ];
  let inputs = 0;
  for (let i = 0; i < 20_000; i++) {
    let msg: Buffer;
    const mode = i % 4;
    if (mode === 0) msg = randomBytes(randomInt(0, 80));
    else {
      const seed = Buffer.from(seeds[i % seeds.length]!);
      if (mode === 1) msg = seed.subarray(0, randomInt(0, seed.length + 1));
      else {
        for (let k = 0; k < 1 + (i % 5); k++) seed[randomInt(0, seed.length)] = randomInt(0, 256);
        msg = mode === 2 ? seed : Buffer.concat([seed, randomBytes(randomInt(0, 30))]);
      }
    }
    inputs++;
    handler.handle(msg, sink, '127.0.0.1', 5353, 0);
  }
  t.equal(replies.filter((r) => r.length < 12).length, 0, 'every reply has a header');
  const decodable = replies.filter((r) => {
    try {
      packet.decode(r);
      return true;
    } catch {
      return false;
    }
  }).length;
  t.equal(decodable, replies.length, 'every reply decodes');
  const requests = stats.requests.reduce((a, b) => a + b, 0);
  t.equal(ls.dropped + ls.formerr + ls.notimp + ls.refused + requests, inputs, 'every input counted once');
  t.ok(ls.dropped > 0 && ls.formerr > 0, `dropped ${ls.dropped}, formerr ${ls.formerr}, notimp ${ls.notimp}`);
});
