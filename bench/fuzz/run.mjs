// Fuzz the agent: mutated and hostile datagrams over UDP, framing abuse over TCP, against the
// real agent (dist/cli.js in a child process, with the Dockerfile's node flags) forwarding every
// zone to knot. After each phase: the agent still runs, answers known names as knot does, and
// its RSS and heap are printed; then it idles `--settle` s and memory is read again.
//   node bench/fuzz/run.mjs [--seed N] [--count N] [--rate N/s] [--settle s] [--max-seconds s]
//                           [--snapshot file.heapsnapshot [--snapshot-at PHASE]] [--node-flags '...'] [--json]
// --node-flags replaces the Dockerfile's node flags (to compare V8 settings). --replay FILE sends
// the hex lines a failed run saved (one datagram each, over UDP) instead of the generated phases.
// The snapshot is taken after PHASE (udp-mutated, udp-structured, tcp; default: after the idle wait).
// Exit 0 when nothing failed; 1 with the failures and the seed (and the last datagrams sent) else.
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKnot } from '../lib/knot.mjs';
import { freePort, randomLoopback, waitForAnswer } from '../lib/net.mjs';
import { start, stopAll, stopAllOnSignals } from '../lib/procs.mjs';
import { agentNodeFlags } from '../lib/servers.mjs';
import { Rng } from './prng.mjs';
import { mutated, structured } from './mutate.mjs';
import { runTcpScript, tcpScript } from './tcp.mjs';
import { Inspector, cacheEntries, checkAnswers, cpuSeconds, rss } from './probe.mjs';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const KEEP_LAST = 2000; // datagrams kept for a failure report

/** The last `size` datagrams or TCP writes sent, oldest first: what a failure report replays. */
class Recent {
  constructor(size) {
    this.ring = new Array(size);
    this.n = 0;
  }

  add(d) {
    this.ring[this.n++ % this.ring.length] = d;
  }

  list() {
    const size = this.ring.length;
    if (this.n <= size) return this.ring.slice(0, this.n);
    const at = this.n % size;
    return [...this.ring.slice(at), ...this.ring.slice(0, at)];
  }
}

function parseArgs(argv) {
  const o = { seed: (Math.random() * 2 ** 32) >>> 0, count: 200_000, rate: 25_000, settle: 30, maxSeconds: 0, snapshot: '', snapshotAt: 'idle', nodeFlags: null, replay: '', json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === '--seed') o.seed = Number(v()) >>> 0;
    else if (a === '--count') o.count = Number(v());
    else if (a === '--rate') o.rate = Number(v());
    else if (a === '--settle') o.settle = Number(v());
    else if (a === '--max-seconds') o.maxSeconds = Number(v());
    else if (a === '--snapshot') o.snapshot = v();
    else if (a === '--snapshot-at') o.snapshotAt = v();
    else if (a === '--node-flags') o.nodeFlags = v().split(' ').filter(Boolean);
    else if (a === '--replay') o.replay = v();
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.maxSeconds) o.maxSeconds = Math.ceil((2 * o.count) / o.rate) + 60;
  return o;
}

/** node-cache's Corefile shape (its default cache sizes), every zone forwarded to knot. */
function corefile(ip, port, knot, metrics) {
  const block = (zone, cache, tcp) =>
    `${zone}:${port} {\n  errors\n  ${cache}\n  reload\n  loop\n  bind ${ip}\n  forward . ${knot.ip}:${knot.port}${tcp ? ' {\n    force_tcp\n  }' : ''}\n  prometheus ${metrics}\n}\n`;
  return [
    block('cluster.local', 'cache {\n    success 9984 30\n    denial 9984 5\n  }', true),
    block('in-addr.arpa', 'cache 30', true),
    block('ip6.arpa', 'cache 30', true),
    block('.', 'cache 30', false),
  ].join('');
}

async function startAgent(dir, knot, nodeFlags) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const inspectPort = await freePort(ip);
  const metrics = `${ip}:${await freePort(ip)}`;
  const conf = join(dir, 'Corefile');
  writeFileSync(conf, corefile(ip, port, knot, metrics));
  const argv = [
    process.execPath,
    ...(nodeFlags ?? agentNodeFlags(REPO)),
    `--inspect-port=${ip}:${inspectPort}`,
    join(REPO, 'dist', 'cli.js'),
    '-localip', ip,
    '-dns.port', String(port),
    '-setupinterface=false',
    '-setupiptables=false',
    '-conf', conf,
    '-health-port', String(await freePort(ip)),
  ];
  const child = start(argv, { name: 'agent' });
  await waitForAnswer(ip, port, 'n1.bench.svc.cluster.local', { timeoutMs: 30_000, child });
  return { ip, port, inspectPort, metrics, child };
}

/** Send `count` datagrams from `gen` at `rate`/s over a few client sockets, bounded by `deadline`. */
async function udpPhase(agent, rng, gen, count, rate, deadline, recent) {
  const socks = [];
  let replies = 0;
  for (let i = 0; i < 4; i++) {
    const s = createSocket('udp4');
    s.on('message', () => replies++);
    s.on('error', () => {});
    await new Promise((r) => s.bind(0, '127.0.0.1', r));
    socks.push(s);
  }
  const t0 = performance.now();
  let sent = 0;
  while (sent < count && Date.now() < deadline && agent.child.exitCode === null) {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; sent < due; sent++) {
      const d = gen(rng);
      recent.add(d);
      socks[sent & 3].send(d, agent.port, agent.ip);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 500)); // answers to the last datagrams
  for (const s of socks) s.close();
  return { sent, replies, seconds: +((performance.now() - t0) / 1000).toFixed(1) };
}

/** TCP connections with framing abuse, 16 at a time, until `count` frames or `deadline`. */
async function tcpPhase(agent, rng, count, deadline, recent) {
  let sent = 0;
  let conns = 0;
  const t0 = performance.now();
  while (sent < count && Date.now() < deadline && agent.child.exitCode === null) {
    const batch = [];
    for (let i = 0; i < 16; i++) {
      const writes = tcpScript(rng);
      for (const w of writes) recent.add(w);
      sent += writes.length;
      batch.push(runTcpScript(agent.ip, agent.port, writes));
    }
    conns += batch.length;
    await Promise.all(batch);
  }
  return { sent, connections: conns, seconds: +((performance.now() - t0) / 1000).toFixed(1) };
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'nodelocaldns-fuzz-'));
  stopAllOnSignals(() => rmSync(dir, { recursive: true, force: true }));
  const say = (obj) => console.log(o.json ? JSON.stringify(obj) : Object.entries(obj).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join(' '));
  say({ event: 'start', nodeFlags: (o.nodeFlags ?? agentNodeFlags(REPO)).join(' '), seed: o.seed, count: o.count, rate: o.rate, replay: `npm run fuzz -- --seed ${o.seed} --count ${o.count} --rate ${o.rate}` });
  const failures = [];
  const recent = new Recent(KEEP_LAST);
  let inspector;
  try {
    const knot = await startKnot(dir, 100);
    const agent = await startAgent(dir, knot, o.nodeFlags);
    inspector = await Inspector.open(agent.child.pid, agent.ip, agent.inspectPort);
    const deadline = Date.now() + o.maxSeconds * 1000;
    const rng = new Rng(o.seed);
    const check = async (phase, stats) => {
      const alive = agent.child.exitCode === null && agent.child.signalCode === null;
      if (!alive) {
        failures.push(`${phase}: agent exited (${agent.child.exitCode ?? agent.child.signalCode}): ${agent.child.output.slice(-2000)}`);
        return say({ event: 'phase', phase, ...stats, alive });
      }
      const wrong = await checkAnswers(agent, knot);
      for (const w of wrong) failures.push(`${phase}: ${w}`);
      say({ event: 'phase', phase, ...stats, alive, wrong: wrong.length, cpuS: cpuSeconds(agent.child.pid), ...rss(agent.child.pid), ...(await inspector.heap()), cache: await cacheEntries(agent.metrics) });
      if (o.snapshot && phase.startsWith(o.snapshotAt)) {
        writeFileSync(o.snapshot, await inspector.snapshot());
        say({ event: 'snapshot', path: o.snapshot });
      }
    };
    await check('baseline', {});
    if (o.replay) {
      const saved = readFileSync(o.replay, 'utf8').split('\n').filter(Boolean).map((h) => Buffer.from(h, 'hex'));
      let i = 0;
      await check('replay', await udpPhase(agent, rng, () => saved[i++ % saved.length], saved.length, o.rate, deadline, recent));
    } else {
      await check('udp-mutated', await udpPhase(agent, rng, mutated, Math.round(o.count * 0.6), o.rate, deadline, recent));
      await check('udp-structured', await udpPhase(agent, rng, structured, Math.round(o.count * 0.35), o.rate, deadline, recent));
      await check('tcp', await tcpPhase(agent, rng, Math.round(o.count * 0.05), deadline, recent));
    }
    if (agent.child.exitCode === null && o.settle > 0) {
      await new Promise((r) => setTimeout(r, o.settle * 1000));
      await check(`idle-${o.settle}s`, {});
      say({ event: 'after-full-gc', ...rss(agent.child.pid), ...(await inspector.heap(true)) });
    }
  } catch (e) {
    failures.push(`harness: ${e.stack ?? e}`);
  } finally {
    inspector?.close();
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  if (failures.length > 0) {
    const dump = join(tmpdir(), `nodelocaldns-fuzz-${o.seed}.hex`);
    writeFileSync(dump, recent.list().map((d) => d.toString('hex')).join('\n') + '\n');
    say({ event: 'fail', seed: o.seed, failures, lastDatagrams: dump });
    process.exit(1);
  }
  say({ event: 'done', seed: o.seed, failures: 0 });
}

await main();
