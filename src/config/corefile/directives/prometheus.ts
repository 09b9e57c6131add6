// `prometheus [ADDRESS]` (CoreDNS plugin/metrics): default localhost:9153. Blocks that name the
// same address share one listener.
import type { Directive } from '../parser.js';
import { argCount, listenArg, noBlock } from './util.js';

export function parsePrometheus(d: Directive): { host: string; port: number } {
  const args = argCount(d, 0, 1);
  noBlock(d);
  return args[0] ? listenArg(args[0], 'prometheus', 9153) : { host: '127.0.0.1', port: 9153 };
}
