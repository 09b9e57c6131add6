// `reload [INTERVAL [JITTER]]` (CoreDNS plugin/reload): defaults 30s / 15s, interval ≥ 2s,
// jitter ≥ 1s, and jitter is cut to half the interval as CoreDNS does.
import type { Directive } from '../parser.js';
import { argCount, durationArg, fail, noBlock } from './util.js';

export function parseReload(d: Directive): { intervalMs: number; jitterMs: number } {
  const args = argCount(d, 0, 2);
  noBlock(d);
  let intervalMs = 30_000;
  let jitterMs = 15_000;
  if (args[0]) {
    intervalMs = durationArg(args[0], 'reload');
    if (intervalMs < 2_000) fail(args[0], 'reload: interval value must be greater or equal to 2s');
  }
  if (args[1]) {
    jitterMs = durationArg(args[1], 'reload');
    if (jitterMs < 1_000) fail(args[1], 'reload: jitter value must be greater or equal to 1s');
  }
  return { intervalMs, jitterMs: Math.min(jitterMs, intervalMs / 2) };
}
