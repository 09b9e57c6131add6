// `ready [ADDRESS]` (CoreDNS plugin/ready): /ready on :8181 by default.
import type { Directive } from '../parser.js';
import { argCount, listenArg, noBlock } from './util.js';

export function parseReady(d: Directive): { host: string; port: number } {
  const args = argCount(d, 0, 1);
  noBlock(d);
  return args[0] ? listenArg(args[0], 'ready', 8181) : { host: '', port: 8181 };
}
