#!/usr/bin/env node
// nodelocaldns: node-cache's command line → configuration → Agent; signals and exit codes.
import { writeFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Agent } from './agent/agent.js';
import { helpText, parseFlags, parseHostPort, type Flags } from './config/flags.js';
import { effectiveLogLevel, readAgentEnv, type AgentEnv } from './config/env.js';
import { SUPPORTED_DIRECTIVES } from './config/corefile/build.js';
import { loadAgentConfig, type LoadResult } from './config/load.js';
import { ConfigWatcher } from './config/watch.js';
import { FlagError } from './errors.js';
import { IDLE_RSS, formatBytes, memoryBudget } from './config/memory-limit.js';
import { createLogger, type Logger } from './observe/log.js';
import { nodeSetupFromFlags, startFailureLine } from './node/from-flags.js';
import type { NodeSetup } from './node/setup.js';
import { VERSION } from './observe/registry.js';

export async function main(argv: string[]): Promise<number> {
  // Loaded only when asked for: the agent never pays for the doctor's code.
  if (argv[0] === 'doctor') return (await import('./doctor/doctor.js')).runDoctor(argv.slice(1));
  let flags: Flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      process.stderr.write(`${err.message}\n${helpText()}`);
      return 2;
    }
    throw err;
  }
  if (flags.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (flags.args.length > 0) {
    process.stderr.write(`nodelocaldns: extra command line arguments: ${flags.args.map((a) => JSON.stringify(a)).join(' ')} (flags start with -, see -h)\n`);
    return 2;
  }
  if (flags.version) {
    // CoreDNS's -version: name-version, then platform and runtime.
    process.stdout.write(`nodelocaldns-ts-${VERSION}\n${process.platform}/${process.arch}, node${process.versions.node}\n`);
    return 0;
  }
  if (flags.plugins) {
    process.stdout.write(`Server types:\n  dns\n\nOther plugins:\n${SUPPORTED_DIRECTIVES.map((d) => `  dns.${d}\n`).join('')}`);
    return 0;
  }
  let env: AgentEnv;
  try {
    env = readAgentEnv(process.env);
  } catch (err) {
    process.stderr.write(`nodelocaldns: ${(err as Error).message}\n`);
    return 2;
  }
  const log = createLogger(effectiveLogLevel(flags.logLevel, argv.some((a) => /^--?log-level(=|$)/.test(a)), env));
  for (const { flag, why } of flags.noEffect) log.info('flag accepted for node-cache compatibility, no effect here', { flag, why });
  let loaded: LoadResult;
  try {
    loaded = loadAgentConfig(flags, process.env);
  } catch (err) {
    log.error('configuration rejected', { err });
    process.stderr.write(`nodelocaldns: ${(err as Error).message}\n`);
    return 1;
  }
  const memory = memoryBudget(flags.memoryLimit, flags.memoryBudgetPercent);
  // V8's heap limit is set at start (src/supervise.sh sizes it from the same budget); said here
  // so a run without the supervisor shows what it got.
  log.info('memory budget', {
    limit: memory.limit > 0 ? formatBytes(memory.limit) : 'none',
    source: memory.source,
    budget: memory.budget > 0 ? `${formatBytes(memory.budget)} (${memory.percent} %)` : 'none',
    v8HeapLimit: formatBytes(getHeapStatistics().heap_size_limit),
  });
  if (memory.budget > 0 && memory.budget < IDLE_RSS * 1.25)
    log.warn('memory budget leaves little room above the agent\'s idle footprint: expect memory pressure (no new cache entries, misses shed) under load', {
      budget: formatBytes(memory.budget),
      idle: formatBytes(IDLE_RSS),
    });
  const agent = new Agent({ log, metricsListenAddress: nodeCacheMetricsAddress(flags, argv), udpIo: env.udpIo, maxPending: flags.maxPending, memory });
  process.on('uncaughtException', (err) => {
    agent.panics++;
    log.error('uncaught exception (kept serving)', { err, stack: err.stack });
  });
  for (const p of loaded.problems) {
    agent.setupErrors[p.errortype] = (agent.setupErrors[p.errortype] ?? 0) + 1;
    log.error('kube-dns ConfigMap rejected, serving without it', { err: p.error, errortype: p.errortype });
  }
  // Node setup, node-cache's order: interface → serve → pidfile → rules → sync (src/node/).
  const node = nodeSetupFromFlags(flags, agent.setupErrors, log);
  await node?.ensureInterface();
  try {
    await agent.start(loaded.config);
  } catch (err) {
    log.error('could not start serving', { err });
    // Serving failed: no rules, no interface. The node goes first so that "stopped" is the last
    // log line; a node setup refused for lack of privilege has nothing to undo.
    const refused = node?.privilegeProblem ?? null;
    if (!flags.skipteardown && !refused) await node?.teardown();
    await agent.stop();
    process.stderr.write(`nodelocaldns: ${startFailureLine(err as Error, refused, flags)}\n`);
    return 1;
  }
  if (flags.pidfile) writeFileSync(flags.pidfile, `${process.pid}\n`);
  // Signal handlers are in place before the rules go in: a SIGTERM arriving while they are being
  // installed waits for that, then tears them down, instead of killing us with rules left behind.
  const nodeReady = (async () => {
    await node?.installRules();
    node?.startSync();
  })();
  const watcher = watchConfig(agent, flags, loaded, log);
  // Loaded only when asked for: undici alone is ~8 MiB of RSS every node would pay for.
  const discovery = flags.endpointslices
    ? (await import('./upstream/discovery-binding.js')).startEndpointSliceDiscovery(agent, flags.upstreamsvc, process.env, log)
    : null;
  const code = await waitForSignals(agent, flags, log, node, nodeReady);
  watcher.stop();
  await discovery?.stop();
  return code;
}

/** Hot reload: a bad config keeps the old one serving and is counted, as CoreDNS/node-cache. */
function watchConfig(agent: Agent, flags: Flags, loaded: LoadResult, log: Logger): ConfigWatcher {
  const failed = (err: unknown, errortype: string): void => {
    if (errortype === 'configmap') agent.setupErrors.configmap = (agent.setupErrors.configmap ?? 0) + 1;
    else agent.reloadFailed++;
    log.error('configuration rejected, keeping the previous one', { err, errortype });
  };
  const watcher = new ConfigWatcher(flags, process.env, loaded, {
    onConfig: (config) => void agent.reload(config).catch((err) => failed(err, 'corefile')),
    onError: failed,
  });
  watcher.start();
  return watcher;
}

/**
 * node-cache always serves its own metrics on -metrics-listen-address (0.0.0.0:9353). The
 * embedded laptop default does so only when asked, so it stays on loopback and rootless runs
 * in parallel do not fight over one port.
 */
function nodeCacheMetricsAddress(flags: Flags, argv: string[]): { host: string; port: number } | null {
  const explicit = argv.some((a) => /^--?metrics-listen-address(=|$)/.test(a));
  if (!flags.metricsListenAddress || (!explicit && flags.localip.length === 0)) return null;
  return parseHostPort(flags.metricsListenAddress, true, 9353);
}

function waitForSignals(agent: Agent, flags: Flags, log: Logger, node: NodeSetup | null, nodeReady: Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      const lameduckMs = Math.max(flags.lameduckMs, agent.lameduckMs);
      log.info('shutting down', { signal, lameduckMs });
      agent.enterLameduck();
      if (lameduckMs > 0) await new Promise((r) => setTimeout(r, lameduckMs));
      // Rules and interface go before the listeners close, so pods fall back to kube-dns
      // (transparent mode) while the agent still answers. -skipteardown: an HA peer keeps them.
      await nodeReady;
      if (flags.skipteardown) node?.stopSync();
      else await node?.teardown();
      await agent.stop();
      resolve(0);
    };
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const) process.on(sig, () => void shutdown(sig));
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`nodelocaldns: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
