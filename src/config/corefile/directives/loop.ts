// `loop` (CoreDNS plugin/loop): no arguments; the agent probes itself at start.
import type { Directive } from '../parser.js';
import { argCount, noBlock } from './util.js';

export function parseLoop(d: Directive): true {
  argCount(d, 0, 0);
  noBlock(d);
  return true;
}
