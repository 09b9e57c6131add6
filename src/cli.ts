#!/usr/bin/env node
// nodelocaldns: node-cache's command line → configuration → Agent; signals and exit codes.
import { writeFileSync } from 'node:fs';
import { Agent } from './agent.js';
import { embeddedConfig } from './config/embedded.js';
import { helpText, parseFlags, parseHostPort, type Flags } from './config/flags.js';
import { readResolvConf } from './config/resolvconf.js';
import type { AgentConfig } from './config/types.js';
import { AgentError, FlagError } from './errors.js';
import { createLogger, type Logger } from './observe/log.js';
import { VERSION } from './observe/metrics.js';

export async function main(argv: string[]): Promise<number> {
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
  if (flags.version) {
    process.stdout.write(`nodelocaldns-ts ${VERSION}\n`);
    return 0;
  }
  const log = createLogger(flags.logLevel);
  let config: AgentConfig;
  try {
    config = loadConfig(flags);
  } catch (err) {
    log.error('configuration rejected', { err });
    process.stderr.write(`nodelocaldns: ${(err as Error).message}\n`);
    return 1;
  }
  const agent = new Agent({ log, metricsListenAddress: nodeCacheMetricsAddress(flags, argv) });
  process.on('uncaughtException', (err) => {
    agent.panics++;
    log.error('uncaught exception (kept serving)', { err, stack: err.stack });
  });
  try {
    await agent.start(config);
  } catch (err) {
    log.error('could not start serving', { err });
    process.stderr.write(`nodelocaldns: ${(err as Error).message}\n`);
    await agent.stop();
    return 1;
  }
  if (flags.pidfile) writeFileSync(flags.pidfile, `${process.pid}\n`);
  return await waitForSignals(agent, flags, log);
}

function loadConfig(flags: Flags): AgentConfig {
  const nameservers = readResolvConf();
  if (nameservers.length === 0) throw new AgentError('/etc/resolv.conf lists no nameserver for "."');
  return embeddedConfig(flags, nameservers);
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

function waitForSignals(agent: Agent, flags: Flags, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) return;
      stopping = true;
      const lameduckMs = Math.max(flags.lameduckMs, agent.lameduckMs);
      log.info('shutting down', { signal, lameduckMs });
      agent.enterLameduck();
      if (lameduckMs > 0) await new Promise((r) => setTimeout(r, lameduckMs));
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
