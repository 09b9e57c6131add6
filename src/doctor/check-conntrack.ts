// The conntrack table: DNS flows that conntrack tracks fill it at peak ("nf_conntrack: table
// full, dropping packet"), and glibc's parallel A/AAAA from one socket lose the insert race
// (insert_failed, the 5 s stall). Read from /proc, per network namespace, as the kernel keeps it.
import { readFileSync } from 'node:fs';
import { createRunner, type Runner } from '../node/exec.js';
import { result, type CheckResult, type Status } from './types.js';

export interface ConntrackNumbers {
  count: number;
  max: number;
  /** Summed over CPUs; null when /proc/net/stat/nf_conntrack cannot be read. */
  insertFailed: number | null;
  drop: number | null;
  earlyDrop: number | null;
}

const WARN_FILL = 0.75;
const FAIL_FILL = 0.9;

/** /proc/net/stat/nf_conntrack: a header of column names, then one line of hex counters per CPU. */
export function sumConntrackStats(text: string): Record<string, number> {
  const [head, ...rows] = text.trim().split('\n');
  const names = (head ?? '').trim().split(/\s+/);
  const sums: Record<string, number> = {};
  for (const row of rows) {
    const cells = row.trim().split(/\s+/);
    names.forEach((n, i) => (sums[n] = (sums[n] ?? 0) + parseInt(cells[i] ?? '0', 16)));
  }
  return sums;
}

export function judgeConntrack(n: ConntrackNumbers): { status: Status; evidence: string; action: string } {
  const fill = n.max > 0 ? n.count / n.max : 0;
  const stats = n.insertFailed === null ? 'statistics unreadable' : `insert_failed ${n.insertFailed}, drop ${n.drop}, early_drop ${n.earlyDrop}`;
  const evidence = `count ${n.count} of max ${n.max} (${(fill * 100).toFixed(1)}%); ${stats}`;
  if (fill >= FAIL_FILL)
    return { status: 'fail', evidence, action: 'table nearly full: new flows are dropped (dmesg: "table full"); make sure DNS has NOTRACK rules, raise net.netfilter.nf_conntrack_max' };
  if (fill >= WARN_FILL) return { status: 'warn', evidence, action: 'table filling: check which flows hold it (conntrack -L | sort), raise net.netfilter.nf_conntrack_max' };
  if ((n.insertFailed ?? 0) > 0 || (n.drop ?? 0) > 0)
    return { status: 'warn', evidence, action: 'counters since boot: if they grow under DNS load (watch conntrack -S), DNS still goes through conntrack; check the NOTRACK rules' };
  return { status: 'ok', evidence, action: '' };
}

function readNumber(path: string): number | null {
  try {
    return Number(readFileSync(path, 'utf8').trim());
  } catch {
    return null;
  }
}

/** `conntrack -S`: one line per CPU of `key=value` counters (decimal). */
export function sumConntrackCli(text: string): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const m of text.matchAll(/([a-z_]+)=(\d+)/g)) if (m[1] !== 'cpu') sums[m[1]!] = (sums[m[1]!] ?? 0) + Number(m[2]);
  return sums;
}

/**
 * /proc/net/stat/nf_conntrack exists only with CONFIG_NF_CONNTRACK_PROCFS; without it the same
 * counters come over netlink from `conntrack -S`.
 */
async function readStats(proc: string, run: Runner, timeoutMs: number): Promise<Record<string, number> | null> {
  try {
    return sumConntrackStats(readFileSync(`${proc}/net/stat/nf_conntrack`, 'utf8'));
  } catch {
    const r = await run('conntrack', ['-S'], timeoutMs);
    return r.code === 0 ? sumConntrackCli(r.stdout) : null;
  }
}

export async function checkConntrack(proc = '/proc', run: Runner = createRunner(), timeoutMs = 2000): Promise<CheckResult> {
  const command = 'cat /proc/sys/net/netfilter/nf_conntrack_{count,max}; conntrack -S';
  const count = readNumber(`${proc}/sys/net/netfilter/nf_conntrack_count`);
  const max = readNumber(`${proc}/sys/net/netfilter/nf_conntrack_max`);
  if (count === null || max === null) return result('conntrack', 'ok', 'nf_conntrack not loaded: no table to fill', command);
  const stats = await readStats(proc, run, timeoutMs);
  const j = judgeConntrack({ count, max, insertFailed: stats?.insert_failed ?? null, drop: stats?.drop ?? null, earlyDrop: stats?.early_drop ?? null });
  return result('conntrack', j.status, j.evidence, command, j.action);
}
