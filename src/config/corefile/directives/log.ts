// `log` (CoreDNS plugin/log). Only the plain form: every query, CoreDNS's common format.
// Name filters, custom formats and class blocks are refused rather than ignored.
import type { LogConfig } from '../../types.js';
import type { Directive } from '../parser.js';
import { fail, noBlock } from './util.js';

export function parseLog(d: Directive): LogConfig {
  noBlock(d);
  for (const a of d.args) {
    if (a.text !== '.') fail(a, `log: only "log" (or "log .") is supported; names and formats are not: ${JSON.stringify(a.text)}`);
  }
  return { enabled: true };
}
