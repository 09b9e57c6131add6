// `health [ADDRESS] { lameduck DURATION }` (CoreDNS plugin/health): /health on :8080 by default;
// lameduck keeps serving (health still OK) that long after a shutdown signal.
import type { Directive } from '../parser.js';
import { argCount, durationArg, fail, listenArg } from './util.js';

export function parseHealth(d: Directive): { host: string; port: number; lameduckMs: number } {
  const args = argCount(d, 0, 1);
  const addr = args[0] ? listenArg(args[0], 'health', 8080) : { host: '', port: 8080 };
  let lameduckMs = 0;
  for (const sub of d.block ?? []) {
    if (sub.name.text !== 'lameduck') fail(sub.name, `health: unknown option ${JSON.stringify(sub.name.text)} (supported: lameduck)`);
    if (sub.block) fail(sub.name, 'health: lameduck takes no { } block');
    lameduckMs = durationArg(argCount(sub, 1, 1)[0]!, 'health lameduck');
  }
  return { ...addr, lameduckMs };
}
