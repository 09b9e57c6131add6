// `errors [stdout] { consolidate DURATION REGEXP [LEVEL] }` (CoreDNS plugin/errors).
import type { ErrorsConfig } from '../../types.js';
import type { Directive } from '../parser.js';
import { argCount, durationArg, fail } from './util.js';

const LEVELS = ['warning', 'error', 'info', 'debug'];

export function parseErrors(d: Directive): ErrorsConfig {
  const args = argCount(d, 0, 1);
  if (args[0] && args[0].text !== 'stdout') fail(args[0], `errors: only "stdout" is a valid destination, got ${JSON.stringify(args[0].text)}`);
  const out: ErrorsConfig = { enabled: true, consolidate: [] };
  for (const sub of d.block ?? []) {
    if (sub.name.text !== 'consolidate') fail(sub.name, `errors: unknown option ${JSON.stringify(sub.name.text)} (supported: consolidate)`);
    if (sub.block) fail(sub.name, 'errors: consolidate takes no { } block');
    const a = argCount(sub, 2, 3);
    const periodMs = durationArg(a[0]!, 'errors consolidate');
    if (periodMs <= 0) fail(a[0]!, 'errors consolidate: the period must be positive');
    try {
      new RegExp(a[1]!.text);
    } catch (e) {
      fail(a[1]!, `errors consolidate: bad regular expression: ${(e as Error).message}`);
    }
    if (a[2] && !LEVELS.includes(a[2].text)) fail(a[2], `errors consolidate: level must be one of ${LEVELS.join(', ')}`);
    out.consolidate.push({ periodMs, pattern: a[1]!.text });
  }
  return out;
}
