// JS heap bytes allocated per cache hit, measured in-process over 1M hits: the agent's real
// QueryHandler and cache (this checkout's dist/), replies written into a send slab with the batch
// listener's native clock, as the batch UDP path does. The phase figure from the GC trace also
// counts what Node allocates once per turn of its event loop whatever the agent does (a ~56 B
// object, bench/hot-path.md), so it cannot tell whether a hit itself allocates; this can.
//
// Run as a child of node with the agent's own flags (its young generation size matters): rounds
// of 100k hits, new-space growth summed over the rounds no scavenge ran in (a scavenge empties the
// space, so such a round's difference means nothing and is left out and counted).
import { spawnSync } from 'node:child_process';
import { getHeapSpaceStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';
import { agentNodeFlags } from './servers.mjs';

const HIT_ALLOC_HITS = 1_000_000;
const ROUND = 100_000;
const NAMES = 200;

/** Runs the measurement in a child node started with the agent's flags; returns its figures or { error }. */
export function measureHitAllocation(repoRoot) {
  const r = spawnSync(process.execPath, [...agentNodeFlags(repoRoot), fileURLToPath(import.meta.url)], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function main() {
  const { defaultCacheConfig } = await import('../../dist/config/defaults.js');
  const { blankServerBlock } = await import('../../dist/config/corefile/build.js');
  const { silentLogger } = await import('../../dist/observe/log.js');
  const { BlockRuntime } = await import('../../dist/resolve/block.js');
  const { QueryHandler } = await import('../../dist/resolve/query-handler.js');
  const { ListenerStats, ZoneStats } = await import('../../dist/resolve/stats.js');
  const { blockRoutes, ZoneTable } = await import('../../dist/resolve/zone-table.js');
  const { nativeClock, nativeUdp } = await import('../../dist/listen/native.js');
  const { keyOf, preparedFor, queryFor } = await import('./answers.mjs');
  const { mod, why } = nativeUdp();
  if (mod === null) throw new Error(`the batch addon is needed: ${why}`);

  const cfg = { ...blankServerBlock('bench'), port: 53, bind: ['127.0.0.1'], zones: ['.'], cache: defaultCacheConfig() };
  const block = new BlockRuntime(cfg, silentLogger);
  const stats = new ZoneStats('dns://127.0.0.1:53', '.');
  const handler = new QueryHandler(new ZoneTable(blockRoutes(block, '.', stats)), new ListenerStats('dns://127.0.0.1:53'));
  const queries = [];
  for (let i = 0; i < NAMES; i++) {
    const q = queryFor(i);
    block.cache.insert(keyOf(q), preparedFor(i));
    queries.push(q);
  }
  // Each query in a 512-byte slot of one receive slab, read through its int32 view, as the batch
  // listener hands them over.
  const inAB = new ArrayBuffer(NAMES * 512);
  const slots = queries.map((query, i) => {
    const slot = Buffer.from(inAB, i * 512, 512);
    query.copy(slot);
    return slot;
  });
  const slab = Buffer.alloc(64 * 1024);
  let used = 0;
  const sink = {
    tcp: false,
    reusesQuery: true,
    slab,
    clock: nativeClock(mod),
    stamp: () => mod.stamp(),
    reserve: () => (used > slab.length - 1024 ? (used = 0) : used),
    words: new Int32Array(inAB),
    sendWritten: (n, timed) => {
      used += n;
      timed?.timed(1); // the batch listener counts each duration when its batch leaves
    },
    send: () => {
      throw new Error('a hit is written into the slab');
    },
  };
  const round = () => {
    for (let i = 0; i < ROUND; i++) handler.handle(slots[i % NAMES], sink, 0x7f000001, 5353, 0, queries[i % NAMES].length);
  };
  const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_used_size;
  // Warm for at least 2 s, not a count of rounds: V8 optimizes on a background thread, late on a
  // busy box, and the figure is the optimized hit's.
  const warmUntil = Date.now() + 2000;
  for (let r = 0; r < 5 || Date.now() < warmUntil; r++) round();
  const hits0 = stats.cacheHitsSuccess;
  let bytes = 0;
  let measured = 0;
  let skipped = 0;
  for (let r = 0; r < HIT_ALLOC_HITS / ROUND; r++) {
    const before = newSpace();
    round();
    const grown = newSpace() - before;
    if (grown < 0) skipped++;
    else {
      bytes += grown;
      measured += ROUND;
    }
  }
  const hits = stats.cacheHitsSuccess - hits0;
  if (hits !== HIT_ALLOC_HITS) throw new Error(`${hits} of ${HIT_ALLOC_HITS} queries were cache hits`);
  block.close();
  console.log(JSON.stringify({ hits, measured, skippedRounds: skipped, bytes, bytesPerHit: measured > 0 ? bytes / measured : null }));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e.stack || String(e));
    process.exit(1);
  });
}
