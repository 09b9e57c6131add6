// Field incidents replayed on a one-machine cluster (rig.mjs) for three systems on identical
// traffic: none (pods → kube-dns ClusterIP → kube-proxy DNAT → CoreDNS replicas), node-cache
// (CoreDNS with node-cache's Corefile, its interface and NOTRACK rules) and ours (supervise.sh and
// the agent doing its own node setup, the Corefile our manifests ship).
//
//   npm run incidents                full: every scenario × system, writes RESULTS.md and SVGs
//   npm run incidents -- --quick     scenarios 1, 2, 4, ours only; exit 1 if ours fails a lookup
//   options: --seconds N (per scenario, default 60), --soak-seconds N (default 600), --rate N
//            (lookups/s per client, default 10), --only 1,5 (scenarios), --systems ours,none,
//            --no-flush (kube-proxy keeps UDP conntrack entries of removed endpoints, IPVS-like;
//            written to RESULTS-no-flush.md), --name N (results to RESULTS-N.md and its own SVGs),
//            --dump FILE (every lookup as JSON, written after each run), --report FILE (RESULTS.md
//            from such a dump), --merge FILE (this invocation's runs replace theirs in a full run's
//            dump, then RESULTS.md from the whole; --note TEXT says why)
//
// Load: three pods, each with one open-loop client of its own kind (glibc getaddrinfo, musl
// getaddrinfo, Node's dns.lookup), `rate` lookups/s each, names through the search list. A lookup
// fails when it errs or has no answer within 5 s (the resolver's own timeout).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rssAnonKiB, rssKiB, run, stopAll, stopAllOnSignals } from '../lib/procs.mjs';
import { COREDNS_VERSION } from '../lib/coredns.mjs';
import { deleteAllNamespaces, HEADLESS_ENDPOINTS, Rig, rigMissing, sh } from './rig.mjs';
import { timelineSvg } from './svg.mjs';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const here = fileURLToPath(new URL('.', import.meta.url));

function option(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const quick = process.argv.includes('--quick');
const SECONDS = Number(option('seconds', quick ? 45 : 60));
const SOAK_SECONDS = Number(option('soak-seconds', 600));
const RATE = Number(option('rate', 10));
const FLUSH = !process.argv.includes('--no-flush');
/** What RESULTS.md says about the run: this run's settings, or a dump's (--report). */
const settings = { seconds: SECONDS, soakSeconds: SOAK_SECONDS, rate: RATE, flush: FLUSH };
/**
 * A run with --no-flush writes RESULTS-no-flush.md and its own timelines beside the full run's;
 * --name N writes RESULTS-N.md (e.g. a longer soak, or --report of its dump).
 */
const variant = () => (option('name', '') ? `-${option('name', '')}` : settings.flush ? '' : '-no-flush');
const FAIL_MS = 5000;
const SLOW_MS = 1000;
const SYSTEMS = ['none', 'node-cache', 'ours'];
/** Ours on node-cache's exact Corefile: run where our manifests' additions (serve_stale) matter. */
const OURS_NC = 'ours, node-cache Corefile';
const NAMES = ['web', 'api', 'db.data', 'kubernetes.default', 'www.example.com'];
const log = (m) => console.error(`[incidents ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `sec` seconds after the load started (ctx.t0). */
const at = (ctx, sec) => sleep(Math.max(0, ctx.t0 + sec * 1000 - Date.now()));
const now = (ctx) => (Date.now() - ctx.t0) / 1000;

/**
 * SIGKILL the node cache's serving process; with `pod`, ours' supervise.sh too (every process of
 * the pod). Whatever has no supervisor left comes back after the kubelet's 10 s CrashLoop delay:
 * node-cache always (its pod is one process), ours only when its supervisor died with it.
 */
async function killNodeCache(ctx, { pod }) {
  const pid = ctx.rig.servingPid();
  if (!pid) throw new Error('no serving process to kill');
  const ours = ctx.system === 'ours';
  if (ours && pod) process.kill(ctx.rig.oursProc.pid, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
  if (ours && !pod) return;
  await sleep(10_000);
  await (ours ? ctx.rig.launchOurs() : ctx.rig.launchNodeCache());
}

const SCENARIOS = [
  {
    id: 1, title: 'steady state', fault: async () => [],
  },
  {
    id: 2, title: 'rolling restart of every CoreDNS replica',
    what: 'Deployment rollout: per replica a new pod (new IP) becomes ready and is added, then the old one is removed and gets SIGTERM (CoreDNS lameduck 5 s); kube-proxy syncs 1 s after each change',
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 4);
      const from = now(ctx);
      for (const s of ctx.rig.slots) await ctx.rig.rollReplica(s);
      return [{ from, to: now(ctx), label: 'rollout' }];
    },
  },
  {
    id: 3, title: 'scale-down: a replica vanishes silently',
    what: 'replica 1 drops every packet (no RST, no ICMP); kube-proxy removes its endpoint 10 s later',
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 3);
      const from = now(ctx);
      const s = ctx.rig.slots[0];
      sh(['ip', 'netns', 'exec', s.ns, 'iptables-nft', '-I', 'INPUT', '-j', 'DROP']);
      await sleep(10_000);
      await ctx.rig.setEndpoints(ctx.rig.endpoints.filter((ip) => ip !== s.live[0].ip), 0);
      return [{ from, to: now(ctx), label: 'replica silent, still an endpoint' }];
    },
    graceSeconds: 2,
    extraSystems: [OURS_NC],
  },
  {
    id: 4, title: 'every replica down for 20 s',
    what: 'every CoreDNS process SIGKILLed (their IPs stay: ICMP port unreachable / RST), started again 20 s later; endpoints unchanged',
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 3);
      const from = now(ctx);
      await ctx.rig.scrape();
      const pods = ctx.rig.slots.map((s) => s.live[0]);
      for (const p of pods) p.proc.kill('SIGKILL');
      await sleep(20_000);
      const to = now(ctx);
      await Promise.all(ctx.rig.slots.map((s, i) => ctx.rig.revive(s, pods[i])));
      return [{ from, to, label: 'all replicas down' }];
    },
    extraSystems: [OURS_NC],
  },
  {
    id: 5, title: `headless service, ${HEADLESS_ENDPOINTS} endpoints (2.1 KB answer) over UDP`,
    what: 'every lookup asks `big` (big.prod.svc.cluster.local, 130 A records); glibc retries a truncated answer over TCP, musl 1.2.3 takes the records of the truncated one',
    names: ['big'],
    fault: async () => [],
  },
  {
    id: 6, title: 'one replica 2 s slow',
    what: 'a delaying proxy in front of replica 1 (port 53 → CoreDNS on 1053) holds every query 2 s from a third of the run on',
    rigOptions: { slowSlot: 0 },
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 3);
      const from = now(ctx);
      ctx.rig.slots[0].live[0].proxy.kill('SIGUSR1');
      return [{ from, to: ctx.seconds, label: 'replica 1 answers 2 s late' }];
    },
  },
  {
    id: 7, title: 'the node cache SIGKILLed',
    what: 'the serving process SIGKILLed: node-cache (CoreDNS, no supervisor in its pod) comes back after a 10 s CrashLoop delay with its rules left in place; ours: supervise.sh starts the agent again',
    systems: ['node-cache', 'ours'],
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 3);
      const from = now(ctx);
      await killNodeCache(ctx, { pod: false });
      return [{ from, to: now(ctx), label: ctx.system === 'node-cache' ? 'killed, back after 10 s' : 'killed' }];
    },
  },
  {
    id: 8, title: 'soak: a replica restart every minute',
    what: 'one replica rolled (new pod, old SIGTERM) every 60 s, in turn; RSS of the node cache sampled every second',
    soak: true,
    fault: async (ctx) => {
      const marks = [];
      for (let k = 1; k * 60 < ctx.seconds - 5; k++) {
        await at(ctx, k * 60);
        const from = now(ctx);
        await ctx.rig.rollReplica(ctx.rig.slots[(k - 1) % ctx.rig.slots.length]);
        marks.push({ from, to: now(ctx), label: '' });
      }
      return marks;
    },
  },
  {
    id: 9, title: 'the whole node cache pod SIGKILLed',
    what: 'every process of the node cache SIGKILLed at once (a container runtime crash, or an OOM kill of the whole cgroup) and the pod back after a 10 s CrashLoop delay: for node-cache the same as scenario 7 (its pod is one process); ours loses supervise.sh too, and its fail-open chain is what serves meanwhile',
    systems: ['node-cache', 'ours'],
    fault: async (ctx) => {
      await at(ctx, ctx.seconds / 3);
      const from = now(ctx);
      await killNodeCache(ctx, { pod: true });
      return [{ from, to: now(ctx), label: 'every process killed, back after 10 s' }];
    },
  },
];

function buildClients(dir) {
  const src = join(here, 'lookup-load.c');
  execFileSync('gcc', ['-O2', '-pthread', '-o', join(dir, 'lookup-glibc'), src]);
  execFileSync('musl-gcc', ['-O2', '-static', '-o', join(dir, 'lookup-musl'), src, '-lpthread']);
  return [
    { kind: 'glibc', argv: [join(dir, 'lookup-glibc')] },
    { kind: 'musl', argv: [join(dir, 'lookup-musl')] },
    { kind: 'node', argv: ['env', 'UV_THREADPOOL_SIZE=128', process.execPath, join(here, 'node-lookup-load.mjs')] },
  ];
}

function parseLookups(stdout, kind, t0) {
  const out = [];
  for (const line of stdout.split('\n')) {
    const f = line.trim().split(' ');
    if (f.length !== 4) continue;
    const start = (Number(f[0]) - t0) / 1000;
    const ms = Number(f[1]);
    const failed = f[2] !== '1' || ms < 0 || ms > FAIL_MS;
    out.push({ kind, start, ms: ms < 0 ? Infinity : ms, failed, addrs: Number(f[3]) });
  }
  return out;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function runOne(scn, system, clients, dir) {
  const seconds = scn.soak ? SOAK_SECONDS : SECONDS;
  const rig = new Rig(repoRoot, mkdtempSync(join(dir, `s${scn.id}-${system.replace(/[^a-z]+/g, '-')}-`)), { flushUdp: FLUSH, log, ...(scn.rigOptions ?? {}) });
  const result = { scenario: scn.id, system, seconds };
  try {
    await rig.up();
    if (system === 'node-cache') await rig.startNodeCache();
    if (system === 'ours') await rig.startOurs();
    if (system === OURS_NC) await rig.startOurs({ nodeCacheCorefile: true });
    // The ClusterIP answers from every pod before the load starts.
    for (const p of rig.pods) await rig.waitAnswers(p);
    await rig.scrape();
    // The agent loads its metrics library at the first scrape: scrape it now, so its event-loop
    // and GC figures cover the whole run.
    if (rig.system?.name === 'ours') await agentMetrics(rig);
    const queriesBefore = rig.corednsQueries();
    const ctx = { rig, system, seconds, t0: Date.now() + 300 };
    const names = (scn.names ?? NAMES).join(',');
    const load = clients.map((c, j) => run(['ip', 'netns', 'exec', rig.pods[j], ...c.argv, String(RATE), String(seconds), names], { timeoutMs: (seconds + 20) * 1000 })
      .then((r) => parseLookups(r.stdout, c.kind, ctx.t0)));
    const rss = [];
    const sampler = setInterval(() => {
      const pid = rig.system?.pid();
      if (pid) rss.push([now(ctx), rssKiB(pid), rssAnonKiB(pid)]);
    }, 1000);
    const scraper = setInterval(() => rig.scrape().catch(() => {}), 2000);
    let faults;
    try {
      faults = await scn.fault(ctx);
    } finally {
      // The load runs its course whatever the fault did.
      const lookups = (await Promise.all(load)).flat();
      clearInterval(sampler);
      clearInterval(scraper);
      result.lookups = lookups;
    }
    await rig.scrape();
    result.faults = faults;
    result.corednsQueries = rig.corednsQueries() - queriesBefore;
    result.rss = rss;
    result.log = rig.system?.name === 'ours' ? rig.oursProc.output : '';
    if (rig.system?.name === 'ours') result.agent = await agentMetrics(rig);
  } catch (e) {
    result.error = String(e?.stack ?? e);
    log(`scenario ${scn.id} ${system}: ${result.error}`);
  } finally {
    await rig.down();
  }
  return result;
}

/** The agent's own view of the run: event-loop delay and GC pauses (prom-client's process metrics). */
async function agentMetrics(rig) {
  const r = await run(['ip', 'netns', 'exec', rig.node, 'curl', '-s', '-m', '2', 'http://127.0.0.1:9253/metrics'], { timeoutMs: 5000 });
  const get = (re) => {
    let sum = 0;
    for (const line of r.stdout.split('\n')) if (re.test(line)) sum += Number(line.split(' ').pop());
    return sum;
  };
  return {
    lagMaxMs: get(/^nodejs_eventloop_lag_max_seconds /) * 1000,
    lagP99Ms: get(/^nodejs_eventloop_lag_p99_seconds /) * 1000,
    gcMajor: get(/^nodejs_gc_duration_seconds_count\{kind="major"/),
    gcMajorMs: get(/^nodejs_gc_duration_seconds_sum\{kind="major"/) * 1000,
    gcAllMs: get(/^nodejs_gc_duration_seconds_sum\{/) * 1000,
    stale: get(/^coredns_cache_served_stale_total/),
  };
}

function summarize(r) {
  const ls = r.lookups ?? [];
  const failed = ls.filter((l) => l.failed);
  const lat = ls.map((l) => Math.min(l.ms, 1e9)).sort((a, b) => a - b);
  const byKind = {};
  for (const l of ls) {
    byKind[l.kind] ??= { n: 0, failed: 0 };
    byKind[l.kind].n++;
    if (l.failed) byKind[l.kind].failed++;
  }
  const peak = r.rss?.length ? Math.max(...r.rss.map((s) => s[1])) / 1024 : NaN;
  return {
    n: ls.length, failed: failed.length, slow: ls.filter((l) => !l.failed && l.ms > SLOW_MS).length,
    p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), max: lat.length ? lat[lat.length - 1] : NaN,
    byKind, peakMiB: peak,
    firstRssMiB: r.rss?.length ? r.rss[Math.min(r.rss.length - 1, 10)][1] / 1024 : NaN,
    lastRssMiB: r.rss?.length ? r.rss[r.rss.length - 1][1] / 1024 : NaN,
    lastRssKiB: r.rss?.length ? r.rss[r.rss.length - 1][1] : NaN,
    failedTimes: failed.map((l) => l.start),
  };
}

/** The first RSS sample at or after `sec` seconds: [t, RSS KiB, RssAnon KiB]. */
function rssAt(r, sec) {
  return r.rss.find((x) => x[0] >= sec) ?? r.rss[r.rss.length - 1];
}

const signed = (v) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(1)}`;

function perSecond(r) {
  const n = Math.ceil(r.seconds);
  const ok = new Array(n).fill(0);
  const failed = new Array(n).fill(0);
  for (const l of r.lookups ?? []) {
    const i = Math.floor(l.start);
    if (i < 0 || i >= n) continue;
    (l.failed ? failed : ok)[i]++;
  }
  return { ok, failed };
}

const ms = (v) => (!Number.isFinite(v) || v >= 1e9 ? '≥5000' : v < 10 ? v.toFixed(1) : v.toFixed(0));

function tableRows(results) {
  const rows = [];
  for (const r of results) {
    const scn = SCENARIOS.find((s) => s.id === r.scenario);
    if (r.error && !r.lookups) {
      rows.push(`| ${r.scenario} | ${r.system} | error: ${r.error.split('\n')[0].slice(0, 120)} |||||||||`);
      continue;
    }
    const s = summarize(r);
    const kinds = Object.entries(s.byKind).map(([k, v]) => `${k} ${v.failed}/${v.n}`).join(', ');
    const notes = [`failed by client: ${kinds}`];
    if (scn.graceSeconds && r.faults?.[0]) {
      const late = s.failedTimes.filter((t) => t >= r.faults[0].from + scn.graceSeconds).length;
      notes.push(`failed from ${scn.graceSeconds} s after the fault on: ${late}`);
    }
    if (r.faults?.length && s.failed) {
      const f0 = r.faults[0].from;
      notes.push(`failures started ${(Math.min(...s.failedTimes) - f0).toFixed(1)} … ${(Math.max(...s.failedTimes) - f0).toFixed(1)} s after the fault`);
    }
    if (scn.soak && Number.isFinite(s.peakMiB)) {
      const half = rssAt(r, r.seconds / 2);
      notes.push(`RSS ${s.firstRssMiB.toFixed(1)} MiB at 10 s → ${(half[1] / 1024).toFixed(1)} MiB at half time → ${s.lastRssMiB.toFixed(1)} MiB at the end (second half ${signed((s.lastRssKiB - half[1]) / 1024)} MiB)`);
    }
    if (r.error) notes.push(`error: ${r.error.split('\n')[0].slice(0, 100)}`);
    rows.push(`| ${r.scenario} | ${r.system} | ${s.n} | **${s.failed}** | ${s.slow} | ${ms(s.p50)} | ${ms(s.p99)} | ${ms(s.max)} | ${r.corednsQueries ?? '?'} | ${Number.isFinite(s.peakMiB) ? s.peakMiB.toFixed(1) : '—'} | ${notes.join('; ')} |`);
  }
  return ['| # | system | lookups | failed | > 1 s | p50 ms | p99 ms | max ms | queries at CoreDNS | peak RSS MiB | notes |', '|---|---|---|---|---|---|---|---|---|---|---|', ...rows];
}

function writeResults(results, startedAt, endedAt = new Date().toISOString().slice(0, 19).replace('T', ' '), notes = []) {
  const outDir = here;
  const lines = [
    '# Field incidents replayed',
    '',
    `Written by \`npm run incidents\` (bench/incidents/run.mjs), run started ${startedAt} UTC, ended ${endedAt} UTC.`,
    `Machine: ${sh(['nproc']).stdout.trim()} cores shared with other work, kernel ${sh(['uname', '-r']).stdout.trim()}, Node ${process.version}, CoreDNS ${COREDNS_VERSION} built from its Go module.`,
    '',
    ...notes.map((n) => `Run again after the full run: ${n}`),
    '',
    '## Rig',
    '',
    'Network namespaces on one machine (rig.mjs): a node namespace with kube-proxy emulated in iptables mode (its chain names and hashes,',
    '`statistic --mode random` DNAT per endpoint, UDP and TCP, for kube-dns 10.96.0.10 and kube-dns-upstream 10.96.0.11; rules rewritten 1 s',
    `after an endpoint change; UDP conntrack entries of removed endpoints ${settings.flush ? 'flushed, as kube-proxy\'s iptables mode does' : 'kept (IPVS-like)'}),`,
    '3 CoreDNS replicas (`file` plugin for cluster.local and 10.in-addr.arpa, TTL 5 s as the kubernetes plugin answers, `forward .` to',
    'a knot "cloud resolver" authoritative for example.com, `cache 30`, `health { lameduck 5s }`), 3 pods with kubelet\'s resolv.conf',
    '(`nameserver 10.96.0.10`, `search prod.svc.cluster.local svc.cluster.local cluster.local`, `options ndots:5`). Pods keep the kube-dns',
    'ClusterIP as nameserver for all three systems (transparent mode for both node caches: they own 10.96.0.10 and 169.254.20.10).',
    '',
    `Load, the same for every system: each pod runs one open-loop client at ${settings.rate} lookups/s — glibc getaddrinfo (lookup-load.c built with gcc:`,
    'A and AAAA in parallel from one socket), musl getaddrinfo (the same file built with musl-gcc, musl 1.2.3) and Node\'s dns.lookup —',
    `over the names ${NAMES.map((n) => `\`${n}\``).join(', ')} (each through the search list, so 2 to 8 queries per lookup). A lookup fails when it errs or`,
    'has no answer within 5 s; an open loop, so a fast failure does not buy more lookups. p50/p99/max are over every lookup, failures included',
    '(≥5000 when a lookup was still unanswered when the client gave up).',
    '',
    'Systems: **none** (pods → ClusterIP → DNAT → replicas); **node-cache** (CoreDNS v1.11.3 with node-cache\'s Corefile, its upstream template',
    'test/fixtures/upstream-Corefile.base, bound to 169.254.20.10 and 10.96.0.10, plus the interface and NOTRACK/ACCEPT rules node-cache\'s setup installs,',
    'made by the rig); **ours** (src/supervise.sh running dist/cli.js with the DaemonSet\'s arguments, doing its own node setup, the Corefile of',
    'manifests/base/configmap.yaml). That Corefile is node-cache\'s plus `ready` in the cluster.local block and `serve_stale` in the caches of',
    'the three blocks forwarded to kube-dns; where that matters (scenarios 3 and 4) the table also shows **ours, node-cache Corefile**: the',
    'agent on node-cache\'s exact template (test/fixtures/upstream-Corefile.base).',
    '',
    `Each scenario runs ${settings.seconds} s (the soak ${settings.soakSeconds} s) on a rig built fresh for each system. "queries at CoreDNS" is the sum of`,
    'coredns_dns_requests_total over every replica pod that lived, scraped every 2 s (the last seconds of a killed replica are missing).',
    'Peak RSS is the node cache\'s process tree (for ours: supervise.sh and the agent).',
    '',
    '## Results',
    '',
    ...tableRows(results),
    '',
    '## Scenarios',
    '',
  ];
  for (const scn of SCENARIOS) {
    const rs = results.filter((r) => r.scenario === scn.id);
    if (!rs.length) continue;
    const svg = `timeline${variant()}-${scn.id}.svg`;
    const seconds = rs[0].seconds;
    const faults = rs.find((r) => r.faults?.length)?.faults ?? [];
    writeFileSync(join(outDir, svg), timelineSvg({
      title: `${scn.id}. ${scn.title}`, seconds: Math.ceil(seconds),
      series: rs.filter((r) => r.lookups).map((r) => ({ system: r.system, ...perSecond(r) })), faults,
    }));
    lines.push(`### ${scn.id}. ${scn.title}`, '', scn.what ? `${scn.what}.` : 'No fault.', '', `![${scn.title}](${svg})`, '');
    for (const r of rs) if (r.faults?.length) lines.push(`- ${r.system}: fault ${r.faults.map((f) => `${f.from.toFixed(1)}–${f.to.toFixed(1)} s`).slice(0, 12).join(', ')}`);
    if (scn.soak) {
      lines.push('', 'RSS of the node cache\'s process tree (MiB), at the start of each minute of the soak, and in brackets its anonymous part (RssAnon: heap, stacks, buffers; the rest is file pages the kernel may drop and read again):', '');
      for (const r of rs) {
        if (!r.rss?.length) continue;
        const perMinute = [];
        for (let m = 0; m * 60 <= r.seconds; m++) {
          const sample = rssAt(r, m * 60);
          perMinute.push(`${(sample[1] / 1024).toFixed(1)}${sample[2] === undefined ? '' : ` (${(sample[2] / 1024).toFixed(1)})`}`);
        }
        lines.push(`- ${r.system}: ${perMinute.join(' → ')}`);
      }
    }
    for (const r of rs) if (r.agent) lines.push(`- ours, the agent's own view: event-loop delay p99 ${r.agent.lagP99Ms.toFixed(0)} ms (max ${r.agent.lagMaxMs.toFixed(0)} ms, 20 ms resolution included), ${r.agent.gcMajor} major GCs (${r.agent.gcMajorMs.toFixed(0)} ms), ${r.agent.stale} stale answers`);
    lines.push('');
  }
  writeFileSync(join(outDir, `RESULTS${variant()}.md`), lines.join('\n'));
}

const serializable = (r) => ({ ...r, lookups: r.lookups?.map((l) => ({ ...l, ms: Number.isFinite(l.ms) ? l.ms : -1 })) });
const revive = (r) => ({ ...r, lookups: r.lookups?.map((l) => ({ ...l, ms: l.ms < 0 ? Infinity : l.ms })) });

async function main() {
  const report = option('report', '');
  if (report) {
    // RESULTS.md and the timelines again from a dump (a run cut short, or a change of layout).
    const d = JSON.parse(readFileSync(report, 'utf8'));
    Object.assign(settings, { seconds: d.seconds, soakSeconds: d.soakSeconds, rate: d.rate, flush: d.flush });
    writeResults(d.results.map(revive), d.startedAt, d.endedAt, d.notes ?? []);
    return 0;
  }
  const missing = rigMissing(repoRoot);
  if (missing) {
    console.log(`incidents: skipped: ${missing}`);
    return 0;
  }
  const only = option('only', quick ? '1,2,4' : '').split(',').filter(Boolean).map(Number);
  const systems = option('systems', quick ? 'ours' : SYSTEMS.join(',')).split(',').map((n) => (n === 'ours-nc' ? OURS_NC : n));
  const dir = mkdtempSync(join(tmpdir(), 'incidents-'));
  stopAllOnSignals(() => {
    deleteAllNamespaces();
    rmSync(dir, { recursive: true, force: true });
  });
  const startedAt = new Date().toISOString().slice(0, 19).replace('T', ' ');
  const dump = option('dump', join(tmpdir(), `incidents-${quick ? 'quick' : option('merge', '') ? 'merge' : 'full'}.json`));
  if (dump === option('merge', '')) throw new Error('--dump and --merge name the same file');
  const clients = buildClients(dir);
  const results = [];
  for (const scn of SCENARIOS) {
    if (only.length && !only.includes(scn.id)) continue;
    for (const system of [...systems, ...(quick || option('systems', '') ? [] : scn.extraSystems ?? [])]) {
      if (scn.systems && !scn.systems.includes(system)) continue;
      log(`scenario ${scn.id} (${scn.title}), ${system}`);
      const r = await runOne(scn, system, clients, dir);
      results.push(r);
      // Every lookup so far, after each run: a run cut short can still be reported (--report).
      writeFileSync(dump, JSON.stringify({ startedAt, endedAt: new Date().toISOString().slice(0, 19).replace('T', ' '), seconds: SECONDS, soakSeconds: SOAK_SECONDS, rate: RATE, flush: FLUSH, results: results.map(serializable) }));
      if (r.lookups) {
        const s = summarize(r);
        if (r.agent) log(`  agent: ${JSON.stringify(r.agent)}`);
        log(`  ${s.n} lookups, ${s.failed} failed, ${s.slow} over 1 s, p50 ${ms(s.p50)} p99 ${ms(s.p99)} max ${ms(s.max)} ms, ${r.corednsQueries} at CoreDNS, peak RSS ${Number.isFinite(s.peakMiB) ? s.peakMiB.toFixed(1) : '—'} MiB`);
      }
    }
  }
  await stopAll();
  rmSync(dir, { recursive: true, force: true });
  console.log(tableRows(results).join('\n'));
  const merge = option('merge', '');
  if (merge) {
    // Runs of this invocation replace the same scenario × system in an earlier full run's dump.
    const d = JSON.parse(readFileSync(merge, 'utf8'));
    const key = (r) => `${r.scenario}/${r.system}`;
    const fresh = new Set(results.map(key));
    const order = [...SYSTEMS, OURS_NC];
    const all = [...d.results.map(revive).filter((r) => !fresh.has(key(r))), ...results]
      .sort((a, b) => a.scenario - b.scenario || order.indexOf(a.system) - order.indexOf(b.system));
    const notes = [...(d.notes ?? []), `${startedAt} UTC: ${results.map((r) => `${r.scenario} × ${r.system}`).join(', ')} run again${option('note', '') ? ` (${option('note', '')})` : ''}.`];
    writeFileSync(merge, JSON.stringify({ ...d, notes, results: all.map(serializable) }));
    writeResults(all, d.startedAt, d.endedAt, notes);
  } else if (!quick) writeResults(results, startedAt);
  const ours = results.filter((r) => r.system === 'ours');
  const bad = ours.filter((r) => r.error || summarize(r).failed > 0);
  if (quick && bad.length) {
    console.error(`incidents --quick: ours failed lookups in scenario(s) ${bad.map((r) => r.scenario).join(', ')}`);
    for (const r of bad) console.error(`  scenario ${r.scenario}: ${r.error ?? `${summarize(r).failed} failed`}\n  agent log tail: ${(r.log ?? '').slice(-1500)}`);
    return 1;
  }
  return 0;
}

mkdirSync(here, { recursive: true });
main().then((code) => process.exit(code), (e) => {
  console.error(e);
  stopAll().finally(() => process.exit(2));
});
