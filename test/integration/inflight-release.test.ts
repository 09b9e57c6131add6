// A forwarded miss lets go of its clients' state as soon as it is answered. The forwarder keeps a
// finished try queued on its timer wheel until the try's timeout slot (2 s), and the try points
// back at the query it served: whatever that still referenced (waiters, their query bytes) stayed
// reachable, and under a flood of misses tens of thousands of them ended up in old space.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { defaultForwardConfig, nodeCacheCacheConfig } from '../../src/config/defaults.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { encodeQuery } from '../support/dnsclient.js';
import { randomLoopback, randomPort, until } from '../support/net.js';
import { blockHandler, serverBlock } from '../support/server-block.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

t.test('an answered miss keeps no reference to its client query', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const { block, handler } = blockHandler(
    serverBlock({
      zones: ['cluster.local.'],
      cache: nodeCacheCacheConfig(30),
      forward: { ...defaultForwardConfig('.', [{ host: knot.address, port: knot.port }]), forceTcp: true },
    }),
  );
  t.teardown(() => block.close());
  const replies: Buffer[] = [];
  // node:dgram's contract: the query buffer is the client's own, so a waiter keeps a view of it.
  const sink = { tcp: false, reusesQuery: false, slab: null, reserve: () => -1, sendWritten() {}, send: (b: Buffer) => replies.push(b) };

  const released: string[] = [];
  const registry = new FinalizationRegistry<string>((name) => released.push(name));
  const ask = (name: string): void => {
    // Its own ArrayBuffer (not the shared pool), so its collection says the query is unreferenced.
    const msg = Buffer.alloc(512);
    const q = encodeQuery(name, 'A');
    q.copy(msg);
    handler.handle(msg.subarray(0, q.length), sink, '127.0.0.1', 5353, 0);
    registry.register(msg.buffer, name);
  };
  ask('kubernetes.default.svc.cluster.local');
  await until(() => replies.length === 1, 5000);
  ask('ns.dns.cluster.local'); // the handler's last-query state now points at another query
  await until(() => replies.length === 2, 5000);
  t.equal(block.pendingKeys, 0, 'both misses answered');
  // Well inside the 2 s try timeout: before it, only the release at answer time frees the query.
  await until(
    async () => {
      gc();
      await new Promise((r) => setTimeout(r, 20));
      return released.includes('kubernetes.default.svc.cluster.local');
    },
    1000,
    50,
  );
  t.ok(released.includes('kubernetes.default.svc.cluster.local'), `the first query's bytes were collected within 1 s of its answer (released: ${released.join(', ') || 'none'})`);
});
