// Text exposition for our own families, written straight from typed arrays. prom-client's
// generic formatter rebuilds and escapes every label set on every scrape (≈ 25 ms for the
// ~1100 series of a node-cache config); here label sets are rendered once and cached, so a
// scrape is string concatenation. prom-client still formats its default process/Node.js metrics.
// prom-client is loaded at the first scrape, not at start: importing it took ~70 ms of the
// ~550 ms from spawn to serving, paid again by every restart after a crash while 169.254.20.10
// waits (bench/crash-safety.md), and nothing on the serving path needs it.
import type { Registry } from 'prom-client';

type PromClient = typeof import('prom-client');

export type MetricType = 'counter' | 'gauge' | 'histogram';

/** One sample: `labels` is the rendered inside of the braces (may be ""). */
export interface Sample {
  name?: string; // full sample name when it differs from the family (histogram _bucket/_sum/_count)
  labels: string;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: MetricType;
  collect(): Sample[];
  /** Add up samples with identical labels (several forwarders to one upstream). */
  merge?: boolean;
}

/** Label values by name, rendered by `family` (or already rendered: hot families cache their label strings). */
export type Labels = Record<string, string | number>;
export interface LabeledValue {
  labels: Labels | string;
  value: number;
  name?: string;
}

/**
 * A family as a subsystem declares it next to its code: `collect` reads its counters at scrape
 * time. `merge` (default on) adds up samples with identical labels.
 */
export function family(name: string, help: string, type: MetricType, collect: () => LabeledValue[], merge = true): Family {
  return {
    name,
    help,
    type,
    merge,
    collect: () => collect().map((v) => ({ name: v.name, labels: typeof v.labels === 'string' ? v.labels : labels(v.labels), value: v.value })),
  };
}

const escapeValue = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** Render a label set: `a="x",b="y"` (insertion order). */
export function labels(l: Record<string, string | number>): string {
  let out = '';
  for (const k in l) out += `${out ? ',' : ''}${k}="${escapeValue(String(l[k]))}"`;
  return out;
}

/** Join two rendered label sets. */
export function join(a: string, b: string): string {
  return a && b ? `${a},${b}` : a || b;
}

function valueString(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Cumulative histogram samples from per-bucket counts (the last slot is +Inf only). */
export function histogram(name: string, l: string, bounds: number[], counts: ArrayLike<number>, sum: number): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += counts[i]!;
    out.push({ name: `${name}_bucket`, labels: join(l, `le="${bounds[i]}"`), value: cumulative });
  }
  cumulative += counts[bounds.length]!;
  out.push({ name: `${name}_bucket`, labels: join(l, 'le="+Inf"'), value: cumulative });
  out.push({ name: `${name}_sum`, labels: l, value: sum });
  out.push({ name: `${name}_count`, labels: l, value: cumulative });
  return out;
}

function render(f: Family): string {
  let samples = f.collect();
  if (f.merge) {
    const byKey = new Map<string, Sample>();
    for (const s of samples) {
      const key = `${s.name ?? ''}{${s.labels}}`;
      const prev = byKey.get(key);
      if (prev) prev.value += s.value;
      else byKey.set(key, { ...s });
    }
    samples = [...byKey.values()];
  }
  let out = `# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}`;
  for (const s of samples) out += `\n${s.name ?? f.name}${s.labels ? `{${s.labels}}` : ''} ${valueString(s.value)}`;
  return out;
}

/**
 * prom-client's Registry (default metrics), made at the first scrape, plus our families appended
 * to its text output. `setupBase` registers the default metrics on it.
 */
export class AgentRegistry {
  /** prom-client's Registry.contentType (Prometheus text format 0.0.4). */
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly families: Family[] = [];
  private base: Promise<Registry> | null = null;

  constructor(private readonly setupBase: (reg: Registry, promClient: PromClient) => void = () => {}) {}

  add(f: Family): void {
    if (this.families.some((g) => g.name === f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
  }

  private baseRegistry(): Promise<Registry> {
    this.base ??= import('prom-client').then((pc) => {
      const reg = new pc.Registry();
      this.setupBase(reg, pc);
      for (const f of this.families) if (reg.getSingleMetric(f.name)) throw new Error(`metric ${f.name} registered twice`);
      return reg;
    });
    return this.base;
  }

  async metrics(): Promise<string> {
    const base = await (await this.baseRegistry()).metrics();
    return `${base}\n${this.families.map(render).join('\n\n')}\n`;
  }

  /** Names of every family this registry exposes (prom-client's and ours). */
  async familyNames(): Promise<string[]> {
    const base = await this.baseRegistry();
    return [...base.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name), ...this.families.map((f) => f.name)];
  }
}
