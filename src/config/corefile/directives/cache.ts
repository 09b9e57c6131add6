// `cache [TTL] [ZONES...] { success CAP [TTL [MINTTL]]; denial CAP [TTL [MINTTL]];
//   prefetch AMOUNT [DURATION [PERCENT%]]; serve_stale [DURATION] [immediate|verify];
//   servfail DURATION; disable success|denial [ZONES...]; keepttl; max_bytes BYTES }` — CoreDNS
// plugin/cache, with its ranges: TTLs > 0, MINTTL ≥ 0, prefetch 10%..90%, servfail ≤ 5m.
// `max_bytes` is ours: the byte budget of each partition (CoreDNS counts entries only).
import { defaultCacheConfig } from '../../defaults.js';
import type { CacheConfig } from '../../types.js';
import type { Token } from '../lexer.js';
import type { Directive } from '../parser.js';
import { argCount, durationArg, fail, intArg, zoneArg } from './util.js';

export function parseCache(d: Directive): CacheConfig {
  const c = defaultCacheConfig();
  let args = d.args;
  if (args[0] && /^-?\d+$/.test(args[0].text)) {
    const ttl = intArg(args[0], 'cache TTL', 1);
    c.successMaxTtl = ttl;
    c.denialMaxTtl = ttl;
    args = args.slice(1);
  }
  c.zones = args.map((z) => zoneArg(z, 'cache'));
  for (const sub of d.block ?? []) {
    if (sub.block) fail(sub.name, `cache: ${sub.name.text} takes no { } block`);
    option(c, sub);
  }
  return c;
}

function option(c: CacheConfig, sub: Directive): void {
  const name = sub.name.text;
  switch (name) {
    case 'success':
    case 'denial': {
      const a = argCount(sub, 1, 3);
      const cap = intArg(a[0]!, `cache ${name} capacity`, 1);
      const ttl = a[1] ? intArg(a[1], `cache ${name} TTL`, 1) : null;
      const min = a[2] ? intArg(a[2], `cache ${name} MINTTL`, 0) : null;
      if (name === 'success') {
        c.successCapacity = cap;
        if (ttl !== null) c.successMaxTtl = ttl;
        if (min !== null) c.successMinTtl = min;
      } else {
        c.denialCapacity = cap;
        if (ttl !== null) c.denialMaxTtl = ttl;
        if (min !== null) c.denialMinTtl = min;
      }
      return;
    }
    case 'prefetch': {
      const a = argCount(sub, 1, 3);
      const amount = intArg(a[0]!, 'cache prefetch amount', 0);
      const durationMs = a[1] ? durationArg(a[1], 'cache prefetch') : 60_000;
      const percentage = a[2] ? percent(a[2]) : 10;
      c.prefetch = amount === 0 ? null : { amount, durationMs, percentage };
      return;
    }
    case 'serve_stale': {
      const a = argCount(sub, 0, 2);
      const durationMs = a[0] ? durationArg(a[0], 'cache serve_stale') : 3_600_000;
      const mode = a[1] ? a[1].text.toLowerCase() : 'immediate';
      if (mode !== 'immediate' && mode !== 'verify') fail(a[1]!, `cache serve_stale: invalid refresh mode ${JSON.stringify(a[1]!.text)} (immediate or verify)`);
      c.serveStale = { durationMs, mode };
      return;
    }
    case 'servfail': {
      const a = argCount(sub, 1, 1);
      const ms = durationArg(a[0]!, 'cache servfail');
      if (ms > 300_000) fail(a[0]!, 'cache servfail: caching SERVFAIL responses over 5 minutes is not permitted');
      c.servfailTtl = ms / 1000;
      return;
    }
    case 'disable': {
      const a = argCount(sub, 1, Infinity);
      const zones = a.slice(1).map((z) => zoneArg(z, 'cache disable'));
      if (a[0]!.text === 'success') {
        c.disableSuccess = true;
        c.disableSuccessZones = zones;
      } else if (a[0]!.text === 'denial') {
        c.disableDenial = true;
        c.disableDenialZones = zones;
      } else {
        fail(a[0]!, 'cache disable: cache type must be "success" or "denial"');
      }
      return;
    }
    case 'keepttl':
      argCount(sub, 0, 0);
      c.keepTtl = true;
      return;
    case 'max_bytes': {
      // A large `success` capacity needs a budget to match: ~400 B are charged per small entry.
      const a = argCount(sub, 1, 1);
      c.maxBytes = intArg(a[0]!, 'cache max_bytes', 1024);
      return;
    }
    default:
      fail(sub.name, `cache: unknown option ${JSON.stringify(name)}`);
  }
}

function percent(t: Token): number {
  if (!t.text.endsWith('%')) fail(t, `cache prefetch: last character of percentage should be \`%\`, got ${JSON.stringify(t.text)}`);
  return intArg({ ...t, text: t.text.slice(0, -1) }, 'cache prefetch percentage', 10, 90);
}
