// The servers under test, each on its own loopback address, pinned to CPU 0, forwarding
// cluster.local to the same knot and caching. Config files go to the run's temp dir.
import { cacheCounters } from './metrics.mjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, stop } from './procs.mjs';
import { freePort, randomLoopback, waitForAnswer } from './net.mjs';
import { HIT_SUFFIX } from './zone.mjs';
import { GC_TRACE_FLAGS, watchGc } from './gc-trace.mjs';
import { LAUNCHER as ADDON_FLOOR_LAUNCHER } from './addon-floor.mjs';

export const SERVER_CPU = 0;

/**
 * `argv` started pinned to the server CPU, once it answers `qname` at ip:port. A server that
 * never does is stopped at once rather than left on CPU 0 until the end of the run.
 */
export async function startServing(argv, { name, env, ip, port, qname, timeoutMs }) {
  const child = start(argv, { cpu: SERVER_CPU, name, env });
  try {
    await waitForAnswer(ip, port, qname, { timeoutMs, child });
  } catch (e) {
    await stop(child);
    throw e;
  }
  return child;
}

async function launch(name, argv, ip, port, opts = {}) {
  // `config`: the generated file, quoted in RESULTS.md; `env`: extra environment.
  const env = opts.env ? { ...process.env, ...opts.env } : undefined;
  const child = await startServing(argv, { name, env, ip, port, qname: `n0.${HIT_SUFFIX}`, timeoutMs: 20_000 });
  return { name, ip, port, child, pid: child.pid, argv, config: opts.config };
}

/** unbound, one thread, no validation; `tcpUpstream` for the miss-path comparison. */
export async function startUnbound(dir, knot, { tcpUpstream = false } = {}) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const conf = join(dir, `unbound${tcpUpstream ? '-tcp' : ''}.conf`);
  writeFileSync(
    conf,
    [
      'server:',
      `  interface: ${ip}@${port}`,
      '  port: ' + port,
      '  num-threads: 1',
      '  so-reuseport: no',
      '  access-control: 127.0.0.0/8 allow',
      '  do-not-query-localhost: no',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      `  pidfile: "${join(dir, `unbound${tcpUpstream ? '-tcp' : ''}.pid`)}"`,
      '  use-syslog: no',
      '  logfile: ""',
      '  verbosity: 0',
      '  module-config: "iterator"',
      '  msg-cache-size: 64m',
      '  rrset-cache-size: 128m',
      '  num-queries-per-thread: 4096',
      '  outgoing-range: 8192',
      '  incoming-num-tcp: 100',
      '  outgoing-num-tcp: 100',
      `  tcp-upstream: ${tcpUpstream ? 'yes' : 'no'}`,
      '  domain-insecure: "cluster.local"',
      '  local-zone: "cluster.local." nodefault',
      'remote-control:',
      '  control-enable: no',
      'forward-zone:',
      '  name: "cluster.local."',
      `  forward-addr: ${knot.ip}@${knot.port}`,
      '',
    ].join('\n'),
  );
  return launch(tcpUpstream ? 'unbound (tcp-upstream)' : 'unbound', ['/usr/sbin/unbound', '-d', '-c', conf], ip, port, { config: conf });
}

/** dnsdist with one backend and a packet cache on the default pool. */
export async function startDnsdist(dir, knot) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const conf = join(dir, 'dnsdist.conf');
  writeFileSync(
    conf,
    [
      `setLocal('${ip}:${port}')`,
      `newServer({address='${knot.ip}:${knot.port}', checkName='n0.${HIT_SUFFIX}.'})`,
      "pc = newPacketCache(100000, {maxTTL=86400, minTTL=0})",
      "getPool(''):setCache(pc)",
      "setSecurityPollSuffix('')",
      '',
    ].join('\n'),
  );
  return launch('dnsdist', ['/usr/bin/dnsdist', '--supervised', '--disable-syslog', '-C', conf], ip, port, { config: conf });
}

/** dnsmasq forwarding cluster.local only, with a cache big enough for the hit set. */
export async function startDnsmasq(dir, knot, names) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  return launch(
    'dnsmasq',
    [
      '/usr/sbin/dnsmasq',
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      `--listen-address=${ip}`,
      '--bind-interfaces',
      `--port=${port}`,
      '--no-resolv',
      '--no-hosts',
      `--server=/cluster.local/${knot.ip}#${knot.port}`,
      `--cache-size=${names * 2}`,
      '--dns-forward-max=1000',
      `--pid-file=${join(dir, 'dnsmasq.pid')}`,
      '--user=root',
    ],
    ip,
    port,
  );
}

/** The node flags the image runs the agent with (Dockerfile ENTRYPOINT), so the bench measures them. */
export function agentNodeFlags(repoRoot) {
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile: no ENTRYPOINT [..., "node", ...] line');
  const argv = JSON.parse(m[1]);
  // The supervisor comes first; the bench runs the agent itself.
  return argv.slice(argv.indexOf('node') + 1, argv.findIndex((a) => a.endsWith('cli.js')));
}

/** The Node dgram floor (floor-responder.mjs): not a DNS cache, the ceiling for one built on node:dgram. */
export async function startNodeFloor() {
  const ip = randomLoopback();
  const port = await freePort(ip);
  return launch('node-dgram-floor', [process.execPath, fileURLToPath(new URL('floor-responder.mjs', import.meta.url)), ip, String(port)], ip, port);
}

/** The batch addon's floor (addon-floor.c, built by `buildAddonFloor`): not a DNS cache, C answering inside Node's event loop. */
export async function startAddonFloor(modulePath) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  return launch('addon-floor', [process.execPath, ADDON_FLOOR_LAUNCHER, modulePath, ip, String(port)], ip, port);
}

/**
 * Our agent from dist/ (built by `npm run build`): node-cache flags, no interface or iptables
 * setup. `udpIo`: NODELOCALDNS_UDP_IO; `batch` (the default here) fails the start when the addon
 * is not built, so a row named after the batch path never measures the fallback. `traceGc` runs
 * it with V8's per-GC trace (lib/gc-trace.mjs) so a phase can report its pauses and allocations.
 * `repoRoot` may be another checkout (`--compare`): its own dist/ and its own node flags.
 */
export async function startAgent(knot, repoRoot, { udpIo = 'batch', name = 'nodelocaldns-ts', traceGc = false } = {}) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const healthPort = await freePort(ip);
  const metrics = `${ip}:${await freePort(ip)}`;
  const argv = [
    process.execPath,
    ...agentNodeFlags(repoRoot),
    ...(traceGc ? GC_TRACE_FLAGS : []),
    join(repoRoot, 'dist', 'cli.js'),
    '-localip', ip,
    '-dns.port', String(port),
    '-setupinterface=false',
    '-setupiptables=false',
    '-upstream', `${knot.ip}:${knot.port}`,
    '-health-port', String(healthPort),
    '-prometheus-listen-address', metrics,
    // node-cache's own metrics server defaults to 0.0.0.0:9353: a port of the run's own instead.
    '-metrics-listen-address', `${ip}:${await freePort(ip)}`,
  ];
  const s = await launch(name, argv, ip, port, { env: { NODELOCALDNS_UDP_IO: udpIo } });
  s.metrics = metrics;
  // The agent loads its metrics library at the first scrape, as Prometheus scrapes within seconds
  // of a pod's start: scrape once now, so that load (a few MiB of heap, and whatever collection follows)
  // happens before any phase instead of inside the first one that scrapes.
  try {
    await cacheCounters(metrics);
  } catch (e) {
    await stop(s.child);
    throw e;
  }
  if (traceGc) s.gc = watchGc(s.child);
  return s;
}
