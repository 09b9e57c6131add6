// Small argument checkers shared by the directive parsers. Every error names file:line and the
// directive, in the words CoreDNS uses where it has any.
import { isIP } from 'node:net';
import { ConfigError } from '../../../errors.js';
import { parseGoDuration, parseHostPort } from '../../flags.js';
import { where, type Token } from '../lexer.js';
import type { Directive } from '../parser.js';

export function fail(t: Token, message: string): never {
  throw new ConfigError(where(t), message);
}

export function argCount(d: Directive, min: number, max: number): Token[] {
  if (d.args.length < min || d.args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    fail(d.args[max] ?? d.name, `${d.name.text}: wrong argument count: want ${want}, got ${d.args.length}`);
  }
  return d.args;
}

export function noBlock(d: Directive): void {
  if (d.block) fail(d.name, `${d.name.text}: takes no { } block`);
}

/** Whole number in [min, max]. */
export function intArg(t: Token, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^-?\d+$/.test(t.text)) fail(t, `${what}: not a whole number: ${JSON.stringify(t.text)}`);
  const n = Number(t.text);
  if (n < min || n > max) fail(t, `${what}: ${n} is out of range [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}]`);
  return n;
}

/** Go duration ("30s", "1m30s", "500ms") in milliseconds; negatives rejected. */
export function durationArg(t: Token, what: string): number {
  if (t.text.startsWith('-')) fail(t, `${what}: duration can not be negative: ${t.text}`);
  const ms = parseGoDuration(t.text);
  if (ms === null) fail(t, `${what}: not a duration (like 30s, 1m, 500ms): ${JSON.stringify(t.text)}`);
  return ms;
}

/** A zone name as CoreDNS normalizes it: lowercase, with the trailing dot. */
export function zoneArg(t: Token, what: string, text = t.text): string {
  let z = text.toLowerCase();
  if (z.startsWith('dns://')) z = z.slice(6);
  if (z === '' || z === '.') return '.';
  if (!z.endsWith('.')) z += '.';
  if (z.includes('__pillar__')) fail(t, `${what}: ${JSON.stringify(text)} holds an unsubstituted __PILLAR__ variable`);
  const labels = z.slice(0, -1).split('.');
  if (z.length > 254 || labels.some((l) => l.length === 0 || l.length > 63 || !/^[a-z0-9_*-]+$/.test(l))) {
    fail(t, `${what}: not a valid zone name: ${JSON.stringify(text)}`);
  }
  return z;
}

/** HOST:PORT or :PORT for an HTTP listener (prometheus, health, ready). */
export function listenArg(t: Token, what: string, defaultPort: number): { host: string; port: number } {
  const hp = parseHostPort(t.text, true, defaultPort);
  if (!hp || (hp.port === 0 && !t.text.endsWith(':0'))) fail(t, `${what}: want [HOST]:PORT, got ${JSON.stringify(t.text)}`);
  // Bind the same address every time: "localhost" may resolve to ::1 or 127.0.0.1.
  return { host: hp.host === 'localhost' ? '127.0.0.1' : hp.host, port: hp.port };
}

export function isIpLiteral(s: string): boolean {
  return isIP(s) !== 0;
}
