// An Agent in a child process, for tests that must read what the agent writes to its real
// stdout (the query log). argv[2] is the AgentConfig as JSON. "READY" on stderr once serving;
// SIGTERM stops it.
import { Agent } from '../../src/agent/agent.js';
import type { AgentConfig } from '../../src/config/types.js';
import { createLogger } from '../../src/observe/log.js';

const config = JSON.parse(process.argv[2]!) as AgentConfig;
const agent = new Agent({ log: createLogger('warn') });
await agent.start(config);
process.stderr.write('READY\n');
process.on('SIGTERM', () => {
  void agent.stop().then(() => process.exit(0));
});
