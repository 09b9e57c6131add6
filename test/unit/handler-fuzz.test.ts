// Random and cut buffers through the real request handler: nothing throws, every reply is a
// well-formed DNS message, and every input is counted one way or another.
import t from 'tap';
import { randomBytes, randomInt } from 'node:crypto';
import * as packet from 'dns-packet';
import { nodeCacheCacheConfig } from '../../src/config/defaults.js';
import { encodeQuery } from '../support/dnsclient.js';
import { blockHandler, serverBlock } from '../support/server-block.js';

const cfg = serverBlock({ zones: ['.'], cache: nodeCacheCacheConfig(30) });

t.test('random and truncated input never throws', async (t) => {
  const { block, handler, stats, listener: ls } = blockHandler(cfg);
  t.teardown(() => block.close());
  const replies: Buffer[] = [];
  const sink = { tcp: false, reusesQuery: false, slab: null, reserve: () => -1, sendWritten() {}, send: (b: Buffer) => replies.push(b) };
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
