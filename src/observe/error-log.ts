// The `errors` directive (CoreDNS plugin/errors): each failed query is logged as
// "<rcode> <name> <type>: <error>", the rcode as a number ("2 web.prod.svc.cluster.local. A: ...",
// as CoreDNS 1.11 writes it with %d); an error matching a `consolidate DURATION REGEXP` pattern is
// only counted, and once per period one line says "N errors like 'REGEXP' occurred in last D".
// Beyond CoreDNS: at most MAX_LINES_PER_SECOND unconsolidated lines, the rest summarised, so an
// upstream outage cannot turn the log into the bottleneck.
import type { ErrorsConfig } from '../config/types.js';
import type { Logger } from './log.js';

export const MAX_LINES_PER_SECOND = 100;

interface Pattern {
  re: RegExp;
  source: string;
  periodMs: number;
  count: number;
  timer: NodeJS.Timeout | null;
}

export class ErrorReporter {
  private readonly patterns: Pattern[];
  private windowStart = 0;
  private windowLines = 0;
  private suppressed = 0;
  private stopped = false;

  constructor(
    cfg: ErrorsConfig,
    private readonly log: Logger,
  ) {
    this.patterns = cfg.consolidate.map((c) => ({ re: new RegExp(c.pattern), source: c.pattern, periodMs: c.periodMs, count: 0, timer: null }));
  }

  /** A query failed: `rcode` as a number (2 = SERVFAIL), `name` with trailing dot, `type` ("A"). */
  report(rcode: number, name: string, type: string, err: Error): void {
    if (this.stopped) return;
    const text = err.message;
    for (const p of this.patterns) {
      if (!p.re.test(text)) continue;
      if (++p.count === 1) {
        p.timer = setTimeout(() => this.flushPattern(p), p.periodMs);
        p.timer.unref();
      }
      return;
    }
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      if (this.suppressed > 0) this.log.error(`${this.suppressed} further errors not logged in the last second`, { plugin: 'errors' });
      this.windowStart = now;
      this.windowLines = 0;
      this.suppressed = 0;
    }
    if (++this.windowLines > MAX_LINES_PER_SECOND) {
      this.suppressed++;
      return;
    }
    this.log.error(`${rcode} ${name} ${type}: ${text}`, { plugin: 'errors', code: (err as { code?: string }).code });
  }

  private flushPattern(p: Pattern): void {
    p.timer = null;
    const n = p.count;
    p.count = 0;
    if (n > 0) this.log.error(`${n} errors like '${p.source}' occurred in last ${goDuration(p.periodMs)}`, { plugin: 'errors' });
  }

  /** Shutdown or reload: say what was counted so far, then stay quiet. */
  stop(): void {
    this.stopped = true;
    for (const p of this.patterns) {
      if (p.timer) clearTimeout(p.timer);
      this.flushPattern(p);
    }
  }
}

/** Go's time.Duration.String() for whole milliseconds: "500ms", "30s", "5m0s", "1h0m0s". */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${s}s`;
}
