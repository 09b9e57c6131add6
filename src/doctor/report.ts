// The report: one line per check for people, one JSON document for machines.
import type { CheckResult, Status } from './types.js';

export interface Report {
  checks: CheckResult[];
  summary: Record<Status, number>;
  elapsedMs: number;
}

export function makeReport(checks: CheckResult[], elapsedMs: number): Report {
  const summary: Record<Status, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) summary[c.status]++;
  return { checks, summary, elapsedMs };
}

export function exitCode(r: Report): number {
  return r.summary.fail > 0 ? 1 : 0;
}

export function formatText(r: Report): string {
  const width = Math.max(...r.checks.map((c) => c.check.length));
  const lines = r.checks.map((c) => {
    const next = c.action ? ` → ${c.action}` : '';
    return `${c.status.padEnd(4)}  ${c.check.padEnd(width)}  ${c.evidence} (see: ${c.command})${next}`;
  });
  const s = r.summary;
  lines.push(`${r.checks.length} checks in ${(r.elapsedMs / 1000).toFixed(1)} s: ${s.ok} ok, ${s.warn} warn, ${s.fail} fail, ${s.skip} skip`);
  return lines.join('\n') + '\n';
}

export function formatJson(r: Report): string {
  return JSON.stringify(r, null, 2) + '\n';
}
