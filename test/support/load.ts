// A bounded query load for resilience tests: a few workers send queries back to back for a fixed
// time (and at most `maxQueries`), recording when each started, how long it took and its rcode,
// so a test can state how many queries failed and how long a disruption lasted.
import { queryUdp } from './dnsclient.js';
import { sleep } from './net.js';

export interface Sample {
  startedAt: number;
  latencyMs: number;
  rcode: string | null; // null = no answer within the client timeout
}

export interface LoadOptions {
  durationMs: number;
  workers?: number;
  gapMs?: number;
  timeoutMs?: number;
  maxQueries?: number;
  name?: (i: number) => string;
  type?: string;
}

export async function runLoad(host: string, port: number, o: LoadOptions): Promise<Sample[]> {
  const end = Date.now() + o.durationMs;
  const max = o.maxQueries ?? 5_000;
  const samples: Sample[] = [];
  let n = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end && n < max) {
      const i = n++;
      const startedAt = Date.now();
      const r = await queryUdp(host, port, o.name ? o.name(i) : 'web.prod.svc.cluster.local', o.type ?? 'A', { timeoutMs: o.timeoutMs ?? 5_000 });
      samples.push({ startedAt, latencyMs: Date.now() - startedAt, rcode: r?.rcode ?? null });
      if (o.gapMs) await sleep(o.gapMs);
    }
  };
  await Promise.all(Array.from({ length: o.workers ?? 4 }, worker));
  return samples.sort((a, b) => a.startedAt - b.startedAt);
}

export interface Disruption {
  total: number;
  failed: number; // no answer, or an rcode not in `ok`
  slow: number; // answered correctly but slower than `slowMs`
  maxLatencyMs: number;
  /** From the start of the first bad (failed or slow) query to the end of the last one; 0 if none. */
  durationMs: number;
}

export function disruption(samples: Sample[], opts: { since?: number; slowMs?: number; ok?: string[] } = {}): Disruption {
  const ok = opts.ok ?? ['NOERROR'];
  const slowMs = opts.slowMs ?? 300;
  const s = samples.filter((x) => x.startedAt >= (opts.since ?? 0));
  let first = Infinity;
  let last = -Infinity;
  let failed = 0;
  let slow = 0;
  for (const x of s) {
    const bad = x.rcode === null || !ok.includes(x.rcode);
    if (bad) failed++;
    else if (x.latencyMs > slowMs) slow++;
    if (bad || x.latencyMs > slowMs) {
      first = Math.min(first, x.startedAt);
      last = Math.max(last, x.startedAt + x.latencyMs);
    }
  }
  return {
    total: s.length,
    failed,
    slow,
    maxLatencyMs: s.reduce((m, x) => Math.max(m, x.latencyMs), 0),
    durationMs: last >= first ? last - first : 0,
  };
}
