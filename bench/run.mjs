#!/usr/bin/env node
// npm run bench: our agent vs unbound, dnsdist and dnsmasq, all forwarding cluster.local to one
// knotd, measured with dnsperf; writes bench/RESULTS.md. See bench/README.md for the knobs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { interrupted, run, stop, stopAll, stopAllOnSignals } from './lib/procs.mjs';
import { startKnot } from './lib/knot.mjs';
import { startAddonFloor, startAgent, startDnsdist, startDnsmasq, startNodeFloor, startUnbound } from './lib/servers.mjs';
import { buildAddonFloor } from './lib/addon-floor.mjs';
import { writeHitQueries, writeMissQueries } from './lib/zone.mjs';
import { measureBatchMax, measureHits, measureMisses, PHASE_SECONDS, FIXED_QPS } from './lib/measure.mjs';
import { measureHitAllocation } from './lib/hit-alloc.mjs';
import { measureTailRounds, tailRoundsTable, TAIL_ROUNDS } from './lib/tail-rounds.mjs';
import { hitScaleTable, measureHitScale } from './lib/hitscale.mjs';
import { MAX_ROUNDS, maxRoundsTable, measureMaxRounds } from './lib/max-rounds.mjs';
import { CLIENT_CPU } from './lib/dnsperf.mjs';
import { measureNodeCache, nodeCacheExtraZones } from './lib/nodecache.mjs';
import { nodeCacheSection } from './lib/nodecache-report.mjs';
import { batchMaxTable, commandList, configFiles, gcTable, hitTable, machineNote, missTable, targetsTable } from './lib/report.mjs';
import { buildBatchClient } from './lib/batch-client.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const MEASURED_ELSEWHERE = ['crash-safety.md', 'fuzz-burst.md'];
const repoRoot = join(here, '..');
const CANDIDATES = ['unbound', 'dnsdist', 'dnsmasq', 'nodelocaldns-ts', 'nodelocaldns-ts-dgram', 'node-dgram-floor', 'addon-floor', 'cache', 'tail', 'maxqps', 'hitscale', 'nodecache'];
const USAGE = `Usage: node bench/run.mjs [--name=value ...]   (npm run bench -- [--name=value ...])

Our agent against unbound, dnsdist and dnsmasq, all forwarding cluster.local to one knotd,
measured with dnsperf; writes the results to --out. A full run takes 16-17 minutes with
--zipf-seconds=60 (24-25 with the default) and wants root on a 2-core machine with knot,
unbound, dnsdist, dnsmasq, dnsperf and gcc (bench/README.md).

  --names=N          names in the cache-hit set (default 9000: fits the agent's 9984-entry cache)
  --miss-names=N     unique names for the miss path (default 600000)
  --hitscale-max=N   largest cache the hitscale phase fills (default 1000000)
  --zipf-seconds=N   length of the node-cache comparison's Zipf phase (default 300; 60 with --only=nodecache)
  --only=A,B,...     run only these of: ${CANDIDATES.join(', ')}
  --compare=DIR      also measure the agent of another checkout (its dist/ built) on the hit
                     path, right after this one's, as nodelocaldns-ts@<its commit>: a change's
                     before and after in one run
  --out=FILE         where the report goes (default bench/RESULTS.md)
  -h, --help         print this and exit
`;

/** --name=value options; -h/--help print the usage, anything else unknown exits 2 (as a flag error). */
function parseArgs(argv) {
  const numeric = new Set(['names', 'miss-names', 'hitscale-max', 'zipf-seconds']);
  const args = new Map();
  const usageError = (why) => {
    process.stderr.write(`bench: ${why}\n\n${USAGE}`);
    process.exit(2);
  };
  for (const a of argv) {
    if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m || !(numeric.has(m[1]) || ['only', 'out', 'compare'].includes(m[1]))) usageError(`unknown option ${JSON.stringify(a)}`);
    const [, name, value] = m;
    if (numeric.has(name) && !/^[1-9]\d*$/.test(value)) usageError(`--${name} wants a positive whole number, not ${JSON.stringify(value)}`);
    if (name === 'only') for (const n of value.split(',')) if (!CANDIDATES.includes(n)) usageError(`--only: ${JSON.stringify(n)} is not one of ${CANDIDATES.join(', ')}`);
    if (name === 'compare' && !existsSync(join(value, 'dist', 'cli.js'))) usageError(`--compare: ${value}/dist/cli.js is missing (run \`npm run build\` there)`);
    args.set(name, value);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
// 9,000 names: under the agent's default success capacity (9984, node-cache's template), so a
// hit phase is all hits; 10,000 names cycled through a 9,984-entry LRU would miss on every turn.
const NAMES = Number(args.get('names') ?? 9_000);
const MISS_NAMES = Number(args.get('miss-names') ?? 600_000);
// Largest cache filled by the hitscale phase (1k, 10k, 100k, 1M steps up to it); ~60 s per 1M.
const HITSCALE_MAX = Number(args.get('hitscale-max') ?? 1_000_000);
const OUT = args.get('out') ?? join(here, 'RESULTS.md');
const agentBuilt = existsSync(join(repoRoot, 'dist', 'cli.js'));
const only = args.get('only')?.split(',');
// node-cache comparison's steady-state phase: 5 minutes in a full run; `--only=nodecache` stays under 5 minutes.
const ZIPF_SECONDS = Number(args.get('zipf-seconds') ?? (only?.length === 1 && only[0] === 'nodecache' ? 60 : 300));
const wanted = (name) => !only || only.includes(name);
const COMPARE = args.get('compare');
const COMPARE_NAME = COMPARE && `nodelocaldns-ts@${spawnSync('git', ['-C', COMPARE, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim() || COMPARE}`;

function version(argv, re) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  const m = re.exec((r.stdout ?? '') + (r.stderr ?? ''));
  return m ? m[0].trim() : `${argv[0]} (version unknown)`;
}

async function main() {
  // The harness shares CPU 1 with dnsperf, so its own work (ss sampling, parsing) never lands on
  // the server's core.
  spawnSync('taskset', ['-cp', String(CLIENT_CPU), String(process.pid)]);
  const started = Date.now();
  const hitFile = join(dir, 'hits.txt');
  // After a SIGINT the phases in flight fail because their processes were stopped: not news.
  const log = (m) => interrupted() || console.log(`[bench +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}`);
  try {
    writeHitQueries(hitFile, NAMES);
    const knot = await startKnot(dir, NAMES, nodeCacheExtraZones());
    log(`knotd on ${knot.ip}@${knot.port} with ${NAMES} names`);

    const candidates = [
      ['unbound', () => startUnbound(dir, knot)],
      ['dnsdist', () => startDnsdist(dir, knot)],
      ['dnsmasq', () => startDnsmasq(dir, knot, NAMES)],
    ];
    if (agentBuilt) {
      candidates.push(['nodelocaldns-ts', () => startAgent(knot, repoRoot, { traceGc: true })]);
      if (COMPARE) candidates.push([COMPARE_NAME, () => startAgent(knot, COMPARE, { traceGc: true, name: COMPARE_NAME })]);
      candidates.push(['nodelocaldns-ts-dgram', () => startAgent(knot, repoRoot, { udpIo: 'dgram', name: 'nodelocaldns-ts-dgram', traceGc: true })]);
    } else log('dist/cli.js missing (run `npm run build`): the agent is left out');
    candidates.push(['node-dgram-floor', () => startNodeFloor()]);
    const addonFloor = buildAddonFloor(dir);
    if (addonFloor.path) candidates.push(['addon-floor', () => startAddonFloor(addonFloor.path)]);
    else log(`batch addon floor not built (${addonFloor.why}): left out`);

    const batch = buildBatchClient(dir);
    if (batch.why) log(`batching client not built (${batch.why}): max qps with dnsperf only`);
    const results = [];
    const servers = [{ ...knot, pinned: false }];
    for (const [name, startFn] of candidates.filter(([n]) => wanted(n === COMPARE_NAME ? 'nodelocaldns-ts' : n))) {
      let server;
      try {
        server = await startFn();
        servers.push(server);
        log(`${name} on ${server.ip}@${server.port} (pid ${server.pid}): cache-hit phases`);
        const hits = await measureHits(server, hitFile, dir);
        // A hit's own JS allocation, in-process (lib/hit-alloc.mjs): this checkout's code only.
        if (name === 'nodelocaldns-ts') hits.hitAlloc = measureHitAllocation(repoRoot);
        results.push({ name, hits });
      } catch (e) {
        log(`${name} failed: ${e.message}`);
        results.push({ name, error: e.message.split('\n')[0] });
      } finally {
        if (server) await stop(server.child);
      }
      const hits = results.at(-1).hits;
      if (!hits || !batch.path) continue;
      // Max qps with the batching client, on a fresh start (lib/measure.mjs measureBatchMax says why).
      let again;
      try {
        again = await startFn();
        log(`${name} started again (pid ${again.pid}): max qps with the batching client`);
        hits.batchMax = await measureBatchMax(again, hitFile, batch.path);
      } catch (e) {
        log(`${name}: batching client phase failed: ${e.message}`);
      } finally {
        if (again) await stop(again.child);
      }
    }

    // Tail latency and CPU per hit again, in alternating rounds with every server up at once
    // (lib/tail-rounds.mjs): the hot path's targets compare these medians.
    let tail;
    // The other checkout (--compare) joins them: a change's before and after in the same rounds.
    // The addon floor too: the same rounds show how far the agent's JS hit path is from C in its place.
    const tailCandidates = candidates.filter(([n]) => ['unbound', 'dnsdist', 'dnsmasq', 'nodelocaldns-ts', COMPARE_NAME, 'addon-floor'].includes(n));
    if (wanted('tail') && tailCandidates.length > 1) {
      const up = [];
      try {
        for (const [name, startFn] of tailCandidates) {
          const server = await startFn();
          servers.push(server);
          up.push({ name, server });
        }
        log(`alternating rounds at ${FIXED_QPS} qps: ${up.map((u) => u.name).join(', ')}`);
        tail = await measureTailRounds(up, hitFile, dir, { log });
      } catch (e) {
        log(`alternating rounds failed: ${e.message}`);
      } finally {
        for (const u of up) await stop(u.server.child);
      }
    }

    // Max qps with the batching client again, in alternating rounds of fresh starts
    // (lib/max-rounds.mjs): the hot path's max-qps target reads their median ratio.
    let maxRounds;
    const maxCandidates = ['unbound', 'nodelocaldns-ts', COMPARE_NAME].map((n) => candidates.find(([c]) => c === n)).filter(Boolean);
    if (wanted('maxqps') && batch.path && maxCandidates.length > 1 && maxCandidates[0][0] === 'unbound') {
      try {
        log(`max qps in alternating rounds: ${maxCandidates.map(([n]) => n).join(', ')}`);
        maxRounds = await measureMaxRounds(maxCandidates, hitFile, batch.path, { log });
      } catch (e) {
        log(`max qps rounds failed: ${e.message}`);
      }
    }

    // Miss path: a fresh server per run, unique names, TCP to knot.
    const missResults = [];
    const missCandidates = [['unbound (tcp-upstream: yes)', () => startUnbound(dir, knot, { tcpUpstream: true })]];
    if (agentBuilt) missCandidates.push(['nodelocaldns-ts', () => startAgent(knot, repoRoot)]);
    for (const [name, startFn] of missCandidates.filter(([n]) => wanted(n.split(' ')[0]))) {
      let server;
      try {
        server = await startFn();
        server.name = name;
        servers.push(server);
        const missFile = join(dir, `miss-${server.port}.txt`);
        writeMissQueries(missFile, MISS_NAMES, server.port);
        log(`${name}: miss path`);
        missResults.push({ name, misses: await measureMisses(server, missFile, knot) });
      } catch (e) {
        log(`${name} failed: ${e.message}`);
        missResults.push({ name, error: e.message.split('\n')[0] });
      } finally {
        if (server) await stop(server.child);
      }
    }

    let cacheSection = '';
    let cacheFigures;
    if (agentBuilt && existsSync(join(repoRoot, 'dist', 'cache')) && wanted('cache')) {
      log('in-process cache micro-bench');
      const r = await run([process.execPath, '--expose-gc', join(here, 'cache-bench.mjs')], { cpu: 0, timeoutMs: 300_000 });
      if (r.code === 0) {
        const [text, json] = r.stdout.split('\nJSON ');
        cacheSection = text;
        cacheFigures = JSON.parse(json);
      } else {
        cacheSection = `cache-bench failed (exit ${r.code}, signal ${r.signal}): ${r.stderr}`;
      }
    }

    let hitScaleSection = '';
    let scale;
    if (agentBuilt && wanted('hitscale')) {
      log('hit cost vs cached entries through the agent (hitscale)');
      try {
        scale = await measureHitScale(dir, knot, repoRoot, { max: HITSCALE_MAX, log });
        servers.push(scale.servers[1]);
        hitScaleSection = hitScaleTable(scale);
      } catch (e) {
        log(`hitscale failed: ${e.message}`);
        hitScaleSection = `hitscale failed: ${e.message.split('\n')[0]}`;
      } finally {
        if (scale) for (const s of scale.servers) await stop(s.child);
      }
    }

    let nodecache;
    if (agentBuilt && wanted('nodecache')) {
      try {
        nodecache = await measureNodeCache(dir, knot, repoRoot, hitFile, { log, zipfSeconds: ZIPF_SECONDS });
        if (nodecache.error) log(`coredns: ${nodecache.error}`);
      } catch (e) {
        log(`node-cache comparison failed: ${e.message}`);
        nodecache = { error: `failed: ${e.message.split('\n')[0]}` };
      }
    }

    const versions = [
      version(['unbound', '-V'], /Version \S+/).replace('Version', 'unbound'),
      version(['dnsdist', '--version'], /dnsdist \S+/),
      version(['dnsmasq', '--version'], /Dnsmasq version \S+/),
      version(['knotd', '--version'], /version \S+/).replace('version', 'knotd'),
      version(['dnsperf', '-h'], /Version \S+/).replace('Version', 'dnsperf'),
    ];
    const text = [
      '# Benchmark results',
      '',
      'Written by `npm run bench` (bench/run.mjs); do not edit by hand. Rerun: see bench/README.md.',
      '',
      machineNote(versions),
      `- Zone: ${NAMES} A names under bench.svc.cluster.local plus a wildcard under miss.svc.cluster.local, served by knotd; every server forwards cluster.local to it and caches.`,
      `- Whole run took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
      '',
      '## Targets',
      '',
      targetsTable(results, missResults, cacheFigures, scale, nodecache, tail, maxRounds),
      '',
      '## Cache hits',
      '',
      `Caches warmed (each name asked once) before each phase; then (a) dnsperf as fast as it goes for ${PHASE_SECONDS} s`,
      `(with the share of its CPU each side kept busy: dnsperf has one CPU too, and at 95 % or more it, not the server, set the rate),`,
      `(b)+(c) dnsperf at a fixed ${FIXED_QPS} qps for ${PHASE_SECONDS} s: server CPU = utime+stime delta of its process`,
      'tree from /proc/<pid>/stat divided by queries answered; avg latency from dnsperf, p99 and p99.9 from its per-query `-v` output;',
      '(d) VmRSS right after start-up and after the phases (hit set cached). Ratios are against unbound in the same run (CPU: lower is better; qps: higher is better).',
      '`nodelocaldns-ts` reads and writes UDP with its batch I/O addon (src/native/udp_batch.c: recvmmsg/sendmmsg, one JS call per batch);',
      '`nodelocaldns-ts-dgram` is the same agent on its node:dgram fallback (NODELOCALDNS_UDP_IO=dgram, what runs where the addon is not built).',
      '`node-dgram-floor` is not a cache: bench/lib/floor-responder.mjs answers every query with a fixed record through the same',
      'node:dgram calls the fallback uses, so its row is the ceiling for any server built on node:dgram on this machine.',
      '`addon-floor` is not a cache either: bench/lib/addon-floor.c reads and sends as the batch addon does, answers in C with the same',
      'fixed record and calls an empty JS function once a batch, so the agent\'s figures above it are what its JS hit path costs.',
      '',
      hitTable(results),
      '',
      ...(results.some((r) => r.hits?.batchMax)
        ? [
            `Max qps again with a client that has CPU to spare (bench/lib/batch-client.c: one thread, 200 queries in flight over 4 connected`,
            'sockets, replies read with recvmmsg and their replacements sent with one sendmmsg per socket). dnsperf sends and receives one',
            'datagram per system call, and on this 2-CPU box its CPU has run out before the server\'s in every run; with this client the',
            'server\'s CPU is the limit, so these figures are each server\'s own ceiling. Each server started afresh for this phase (its hit phases above take ~22 s of the agent\'s 30 s TTL cap), warmed, the same query file and CPU pinning.',
            '',
            batchMaxTable(results),
            '',
          ]
        : []),
      ...(maxRounds
        ? [
            `The same batching client in ${MAX_ROUNDS} alternating rounds (bench/lib/max-rounds.mjs): each round starts every server below afresh in turn,`,
            `the order rotated each round, warms it and runs one ${PHASE_SECONDS} s phase; a ratio is taken within a round, between phases seconds apart.`,
            'One phase each compares two draws of the shared box\'s noise (bench/hot-path.md has pairs a quarter apart); the max-qps target',
            'reads the median of these ratios.',
            '',
            maxRoundsTable(maxRounds),
            '',
          ]
        : []),
      ...(results.some((r) => r.hits?.gc)
        ? [
            'The Node servers ran with V8\'s per-GC trace (`--trace-gc-nvp`, read by bench/lib/gc-trace.mjs): during the fixed-rate',
            'phase, the collections, their pauses and the JS heap bytes allocated per answered query.',
            '',
            gcTable(results),
            '',
          ]
        : []),
      ...(tail
        ? [
            `Alternating rounds (bench/lib/tail-rounds.mjs): every server above but the node:dgram ones up at once, each pinned to CPU 0,`,
            `and ${TAIL_ROUNDS} rounds of ${PHASE_SECONDS} s at ${FIXED_QPS} qps visiting each server in turn (the order rotated each round), so a burst`,
            'of noise on the shared box lands on one round of one server instead of on one server\'s only phase. The hot path\'s p99 and CPU',
            'targets compare these medians.',
            '',
            tailRoundsTable(tail),
            '',
          ]
        : []),
      ...results
        .filter((r) => r.hits?.cacheHitRatio !== undefined)
        .map((r) => `${r.name}: cache hit ratio during the fixed-rate phase, from its own /metrics: ${(r.hits.cacheHitRatio * 100).toFixed(2)} %.\n`),
      '## Miss path over TCP',
      '',
      `Every query a name never asked before (wildcard in knot), dnsperf with 500 outstanding for ${PHASE_SECONDS} s;`,
      'the server must go to knot over TCP for each. Connections counted from `ss -tnp` toward knot every 200 ms (not those a server measured before left in TIME-WAIT).',
      '',
      missTable(missResults),
      '',
      nodeCacheSection(nodecache),
      // Figures other harnesses measure (the crash rig needs namespaces; the fuzz run a million
      // datagrams): their own files, quoted here so RESULTS.md stays the one table of figures.
      ...MEASURED_ELSEWHERE.filter((f) => existsSync(join(here, f))).map((f) => `${readFileSync(join(here, f), 'utf8').trim()}\n\n(from bench/${f})\n`),
      cacheSection ? '## Cache micro-bench\n\n' + cacheSection.trim() + '\n' : '',
      hitScaleSection ? '## Hit cost vs cached entries through the agent\n\n' + hitScaleSection + '\n' : '',
      '## Commands',
      '',
      'Config files are generated by bench/lib/servers.mjs and bench/lib/knot.mjs into a temp dir.',
      '',
      commandList(servers),
      ...results.filter((r) => r.hits).slice(0, 1).map((r) => `- dnsperf, max qps (${r.name}): \`${r.hits.commands.max}\``),
      ...results.filter((r) => r.hits?.batchMax).slice(0, 1).map((r) => `- batching client, max qps (${r.name}): \`${r.hits.batchMax.command}\``),
      ...results.filter((r) => r.hits).slice(0, 1).map((r) => `- dnsperf, fixed rate (${r.name}): \`${r.hits.commands.fixed}\``),
      ...missResults.filter((r) => r.misses).map((r) => `- dnsperf, miss path (${r.name}): \`${r.misses.command}\``),
      '',
      configFiles(servers),
    ].join('\n');
    if (interrupted()) return;
    writeFileSync(OUT, text);
    log(`wrote ${OUT}`);
    console.log(hitTable(results));
    console.log(missTable(missResults));
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

// Created before the signal handlers, so an interrupt at any point removes it.
const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-bench-'));
stopAllOnSignals(() => rmSync(dir, { recursive: true, force: true }));
main().catch(async (e) => {
  if (interrupted()) return;
  console.error(e);
  await stopAll();
  process.exitCode = 1;
});

