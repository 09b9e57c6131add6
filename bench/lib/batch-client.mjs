// The batching load generator (batch-client.c), built with gcc into the run's directory, for a
// max-qps phase whose client has CPU to spare (see the C file for why dnsperf does not).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gcc } from './gcc.mjs';
import { run } from './procs.mjs';
import { CLIENT_CPU, parseReport } from './dnsperf.mjs';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'batch-client.c');

/** Build it into `dir`: { path } or { why } when it cannot be (no gcc). */
export function buildBatchClient(dir) {
  return gcc(['-O2', SOURCE], join(dir, 'batch-client'));
}

/** One closed-loop run against server {ip, port}, pinned to dnsperf's CPU; dnsperf's report fields. */
export async function batchClient(path, server, queryFile, { seconds, outstanding = 200, sockets = 4 }) {
  const argv = [path, server.ip, String(server.port), queryFile, String(seconds), String(outstanding), String(sockets)];
  const r = await run(argv, { cpu: CLIENT_CPU, timeoutMs: (seconds + 10) * 1000 });
  const stats = parseReport(r.stdout);
  if (r.code !== 0 || stats.completed === undefined) throw new Error(`${argv.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr}`);
  stats.command = `taskset -c ${CLIENT_CPU} batch-client ${argv.slice(1).join(' ')}`;
  return stats;
}
