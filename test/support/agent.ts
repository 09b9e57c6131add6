// An Agent in the test process, serving on a loopback address of the test's own and forwarding
// every zone to the given upstream(s); the real code path, minus the cli. Or in a child process
// (agent-child.ts), for tests that read what it writes to its real stdout or measure its RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Agent } from '../../src/agent/agent.js';
import { defaultForwardConfig, nodeCacheCacheConfig } from '../../src/config/defaults.js';
import type { AgentConfig, CacheConfig, ForwardConfig, UpstreamAddress } from '../../src/config/types.js';
import { createLogger, silentLogger, type Logger } from '../../src/observe/log.js';
import { parseUdpIo } from '../../src/config/env.js';
import type { UdpIo } from '../../src/config/types.js';
import { randomLoopback, randomPort, until } from './net.js';
import { serverBlock } from './server-block.js';

export interface TestAgentOptions {
  upstreams: UpstreamAddress[];
  zones?: string[]; // default: cluster zones over TCP + "."
  cache?: Partial<CacheConfig> | null;
  forward?: Partial<ForwardConfig>;
  host?: string;
  port?: number;
  metricsPort?: number;
  /** The caches' clock in ms (default Date.now): move it to expire entries without sleeping. */
  clock?: () => number;
  /** UDP I/O (default: the agent's, i.e. NODELOCALDNS_UDP_IO or auto). */
  udpIo?: UdpIo;
  /** Bound on queries pending upstream (default the agent's). */
  maxPending?: number;
  /** Agent log (default silent, or debug on stderr with TEST_AGENT_LOG set). */
  log?: Logger;
}

export interface TestAgent {
  agent: Agent;
  host: string;
  port: number;
  metricsUrl: string;
  config: AgentConfig;
  stop(): Promise<void>;
}

export function testConfig(o: TestAgentOptions & { host: string; port: number; metricsPort: number }): AgentConfig {
  const zones = o.zones ?? ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.', '.'];
  const servers = zones.map((zone) =>
    serverBlock({
      zones: [zone],
      port: o.port,
      bind: [o.host],
      cache: o.cache === null ? null : { ...nodeCacheCacheConfig(30), ...(o.cache ?? {}) },
      forward: { ...defaultForwardConfig(zone, o.upstreams), forceTcp: zone !== '.', ...(o.forward ?? {}) },
      prometheus: { host: o.host, port: o.metricsPort },
    }),
  );
  return { servers, corefileText: '' };
}

export async function startTestAgent(o: TestAgentOptions): Promise<TestAgent> {
  const host = o.host ?? randomLoopback();
  const port = o.port ?? randomPort();
  const metricsPort = o.metricsPort ?? randomPort();
  const config = testConfig({ ...o, host, port, metricsPort });
  const agent = new Agent({ log: o.log ?? (process.env.TEST_AGENT_LOG ? createLogger('debug') : silentLogger), clock: o.clock, udpIo: o.udpIo ?? parseUdpIo(process.env.NODELOCALDNS_UDP_IO), maxPending: o.maxPending });
  await agent.start(config);
  return { agent, host, port, metricsUrl: `http://${host}:${metricsPort}/metrics`, config, stop: () => agent.stop() };
}

const CHILD = fileURLToPath(new URL('./agent-child.ts', import.meta.url));

export interface AgentChild {
  child: ChildProcess;
  /** Everything the agent wrote so far (stdout only with `captureStdout`). */
  readonly stdout: string;
  readonly stderr: string;
  /** It reported serving within 15 s. */
  readonly ready: boolean;
}

/** `config` served by an Agent in a child process, with tap's TypeScript loader; killed when the test ends. */
export async function spawnAgentChild(t: { teardown(fn: () => unknown): void }, config: AgentConfig, captureStdout = false): Promise<AgentChild> {
  const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript') || a === '--enable-source-maps');
  const child = spawn(process.execPath, [...tsImport, CHILD, JSON.stringify(config)], { stdio: ['ignore', captureStdout ? 'pipe' : 'ignore', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const out = { child, stdout: '', stderr: '', ready: false };
  child.stdout?.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out.stderr += d.toString()));
  out.ready = await until(() => out.stderr.includes('READY'), 15_000);
  return out;
}
