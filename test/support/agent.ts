// An Agent in the test process, serving on a loopback address of the test's own and forwarding
// every zone to the given upstream(s); the real code path, minus the cli.
import { Agent } from '../../src/agent/agent.js';
import { defaultForwardConfig, nodeCacheCacheConfig } from '../../src/config/defaults.js';
import type { AgentConfig, CacheConfig, ForwardConfig, UpstreamAddress } from '../../src/config/types.js';
import { createLogger, silentLogger, type Logger } from '../../src/observe/log.js';
import { parseUdpIo } from '../../src/config/env.js';
import type { UdpIo } from '../../src/config/types.js';
import { randomLoopback, randomPort } from './net.js';
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
