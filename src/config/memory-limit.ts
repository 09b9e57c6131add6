// The memory the agent may use: `-memory-limit SIZE` (a Kubernetes quantity), else the
// container's cgroup limit, and the budget below it that agent/memory-guard.ts keeps RSS under.
// src/supervise.sh reads the same two flags and cgroup files to size V8's heap at start, so both
// agree on one budget (the sizing rule and its measurement are in supervise.sh).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Binary (Ki = 1024) and decimal (k = 1000) suffixes of a Kubernetes quantity. */
const SUFFIX: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** Below this the agent cannot even start under the limit: it idles at ~63 MiB of RSS (bench/crash-safety.md). */
export const MIN_MEMORY_LIMIT = 64 * 2 ** 20;
/** An idle agent's RSS, measured (bench/crash-safety.md); a budget below it means pressure from the start. */
export const IDLE_RSS = 63 * 2 ** 20;

/**
 * A Kubernetes quantity as bytes ("128Mi", "1Gi", "200M", "1.5Gi", "134217728", "1e9"), rounded
 * up to a whole byte as the kubelet does; null when it is not one. Milli ("500m") is a valid
 * quantity but never a memory size, so it is refused with the rest.
 */
export function parseQuantity(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(?:([eE])(\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]) * (m[2] ? 10 ** Number(m[3]) : SUFFIX[m[4] ?? '']!);
  return Number.isFinite(n) && n <= Number.MAX_SAFE_INTEGER ? Math.ceil(n) : null;
}

/** Bytes, shown with the largest binary unit that keeps it readable ("96.0 MiB"). */
export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(n / 1024)} KiB`;
}

/**
 * cgroup v1 writes "no limit" as the largest page-aligned 64-bit value (9223372036854771712); any
 * figure this large (1 EiB) is no limit either.
 */
const V1_UNLIMITED = 2 ** 60;

export interface CgroupLimit {
  bytes: number;
  /** The file it was read from, for the start-up log. */
  file: string;
}

/**
 * The memory limit of the cgroup the process is in, seen through `root` (normally /sys/fs/cgroup,
 * which a container has mounted as its own cgroup): v2 `memory.max` ("max" = none), else v1
 * `memory/memory.limit_in_bytes` (the huge "unlimited" value = none). null when there is none or
 * neither file can be read.
 */
export function readCgroupLimit(root = '/sys/fs/cgroup'): CgroupLimit | null {
  for (const [rel, v2] of [['memory.max', true], ['memory/memory.limit_in_bytes', false]] as const) {
    const file = join(root, rel);
    let text: string;
    try {
      text = readFileSync(file, 'utf8').trim();
    } catch {
      continue;
    }
    if (v2 && text === 'max') return null;
    if (!/^\d+$/.test(text)) continue;
    const bytes = Number(text);
    if (bytes <= 0 || bytes >= V1_UNLIMITED) return null;
    return { bytes, file };
  }
  return null;
}

export interface MemoryBudget {
  /** The limit in force, bytes; 0 when there is none (no flag, no cgroup limit, or `-memory-limit 0`). */
  limit: number;
  /** Where the limit came from: "-memory-limit", a cgroup file, or "none". */
  source: string;
  /** RSS the agent keeps under, bytes (percent of the limit); 0 when there is no limit. */
  budget: number;
  percent: number;
}

/**
 * `flagLimit`: bytes from -memory-limit, 0 for "no limit whatever the cgroup says", null when the
 * flag was not given (the cgroup decides).
 */
export function memoryBudget(flagLimit: number | null, percent: number, cgroup: () => CgroupLimit | null = readCgroupLimit): MemoryBudget {
  let limit = 0;
  let source = 'none';
  if (flagLimit !== null) {
    limit = flagLimit;
    source = flagLimit > 0 ? '-memory-limit' : 'none (-memory-limit 0)';
  } else {
    const c = cgroup();
    if (c !== null) {
      limit = c.bytes;
      source = c.file;
    }
  }
  return { limit, source, budget: Math.floor((limit * percent) / 100), percent };
}
