// Prometheus text exposition for tests: a small parser (samples with labels, TYPE lines) and
// the Debian prometheus tools (promtool, a real server on loopback) started and stopped by pid.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
}

export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[3] ?? '').matchAll(re)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return { samples, types };
}

/** Samples of `name` whose labels include every pair in `match`. */
export function select(e: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return e.samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

export function sum(e: Exposition, name: string, match: Record<string, string> = {}): number {
  return select(e, name, match).reduce((n, s) => n + s.value, 0);
}

export async function scrape(url: string): Promise<{ text: string; exp: Exposition }> {
  const text = await (await fetch(url)).text();
  return { text, exp: parseExposition(text) };
}

/** Scrape `url` now: the sum of `name`'s samples whose labels include `match`. */
export async function metricValue(url: string, name: string, match: Record<string, string> = {}): Promise<number> {
  return sum((await scrape(url)).exp, name, match);
}

export const PROMTOOL = '/usr/bin/promtool';
export const PROMETHEUS = '/usr/bin/prometheus';

export function promtoolMissing(): string | false {
  return spawnSync(PROMTOOL, ['--version']).status === 0 ? false : 'promtool not installed (apt-get install prometheus)';
}

export function prometheusMissing(): string | false {
  return spawnSync(PROMETHEUS, ['--version']).status === 0 ? false : 'prometheus not installed (apt-get install prometheus)';
}

/** `promtool check metrics` on an exposition: exit status and everything it printed. */
export function promtoolCheck(text: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    c.stdout.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr.on('data', (d: Buffer) => (output += d.toString()));
    c.on('error', reject);
    c.on('exit', (status) => resolve({ status, output }));
    c.stdin.end(text);
  });
}

export interface PromServer {
  url: string;
  pid: number;
  /** GET /api/v1/query; the result vector (empty when the query matches nothing yet). */
  query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  stop(): Promise<void>;
}

/** A Prometheus server on `host:port` scraping `target` (host:port) every 500 ms. */
export async function startPrometheus(host: string, port: number, target: string): Promise<PromServer> {
  const dir = mkdtempSync(join(tmpdir(), 'prom-'));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    ['global:', '  scrape_interval: 500ms', '  scrape_timeout: 400ms', 'scrape_configs:', '  - job_name: agent', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
  );
  const c: ChildProcess = spawn(
    PROMETHEUS,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${host}:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = `http://${host}:${port}`;
  const stop = async (): Promise<void> => {
    if (c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (c.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited ${c.exitCode}: ${stderr}`);
    }
    const ok = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready on ${url} within 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: c.pid ?? -1,
    async query(q: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`prometheus query ${q}: ${body.error}`);
      return body.data.result;
    },
    stop,
  };
}
