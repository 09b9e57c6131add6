// Text exposition for our own families, written straight from typed arrays. prom-client's
// generic formatter rebuilds and escapes every label set on every scrape (≈ 25 ms for the
// ~1100 series of a node-cache config); here label sets are rendered once and cached, so a
// scrape is string concatenation. prom-client still formats its default process/Node.js metrics.
import { Registry } from 'prom-client';

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

/** prom-client's Registry (default metrics) plus our families appended to its text output. */
export class AgentRegistry extends Registry {
  private readonly families: Family[] = [];

  add(f: Family): void {
    if (this.families.some((g) => g.name === f.name) || this.getSingleMetric(f.name)) throw new Error(`metric ${f.name} registered twice`);
    this.families.push(f);
  }

  override async metrics(): Promise<string> {
    const base = await super.metrics();
    return `${base}\n${this.families.map(render).join('\n\n')}\n`;
  }

  /** Names of every family this registry exposes (prom-client's and ours). */
  familyNames(): string[] {
    return [...this.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name), ...this.families.map((f) => f.name)];
  }
}
