// manifests/dashboard.json: it parses, covers the panels an operator needs, every PromQL expression is
// valid (promtool check rules) and references only metric names a running agent exports.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestAgent } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';
import { PROMTOOL, promtoolMissing, scrape } from '../support/prom.js';

interface Panel {
  title: string;
  targets?: { expr: string }[];
}
const dashboard = JSON.parse(readFileSync(new URL('../../manifests/dashboard.json', import.meta.url), 'utf8')) as { panels: Panel[]; uid: string; title: string };
const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ panel: p.title, expr: x.expr })));

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** Metric names in a PromQL expression: identifiers that are not functions, keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const out: string[] = [];
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2] || KEYWORDS.has(m[1]!.toLowerCase())) continue;
    out.push(m[1]!);
  }
  return out;
}

/** Grafana variables replaced by values Prometheus accepts. */
const concrete = (e: string): string => e.replace(/\$__rate_interval/g, '5m').replace(/\$instance/g, '.*');

t.test('dashboard parses and covers the panels an operator needs', async (t) => {
  t.ok(dashboard.panels.length >= 10, `${dashboard.panels.length} panels`);
  t.equal(dashboard.uid, 'nodelocaldns-ts');
  for (const p of dashboard.panels) t.ok((p.targets ?? []).length > 0, `panel "${p.title}" has queries`);
  const used = new Set(exprs.flatMap((e) => metricNames(e.expr)));
  for (const m of [
    'coredns_dns_requests_total', // QPS by zone / type
    'coredns_dns_responses_total', // by rcode
    'coredns_cache_hits_total', // hit ratio
    'coredns_cache_requests_total',
    'coredns_cache_entries',
    'nodelocaldns_forward_duration_seconds_bucket', // upstream latency
    'nodelocaldns_upstream_failures_total', // upstream failures
    'coredns_nodecache_setup_errors_total',
    'coredns_cache_served_stale_total',
    'process_resident_memory_bytes',
    'nodejs_eventloop_lag_p99_seconds',
  ])
    t.ok(used.has(m), `dashboard uses ${m}`);
  t.same(metricNames('sum by (le, zone) (rate(a_total{x="b{c}"}[5m])) / scalar(b)'), ['a_total', 'b'], 'name extraction itself');
});

t.test('every metric name in the dashboard is exported by the agent', async (t) => {
  const a = await startTestAgent({ upstreams: [{ host: randomLoopback(), port: randomPort() }] });
  t.teardown(() => a.stop());
  const { exp } = await scrape(a.metricsUrl);
  const exported = new Set<string>();
  for (const [name, type] of exp.types) {
    exported.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(name + s);
  }
  for (const { panel, expr } of exprs) {
    const names = metricNames(expr);
    t.ok(names.length > 0, `"${panel}" references a metric`);
    for (const n of names) t.ok(exported.has(n), `"${panel}": ${n} is exported`);
  }
});

t.test('every expression is valid PromQL (promtool check rules)', { skip: promtoolMissing() }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rules = { groups: [{ name: 'dashboard', rules: exprs.map((e, i) => ({ record: `dashboard:expr_${i}`, expr: concrete(e.expr) })) }] };
  const file = join(dir, 'rules.yml');
  writeFileSync(file, JSON.stringify(rules)); // JSON is YAML
  const { status, output } = await new Promise<{ status: number | null; output: string }>((resolve, reject) => {
    const c = spawn(PROMTOOL, ['check', 'rules', file]);
    let output = '';
    c.stdout.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr.on('data', (d: Buffer) => (output += d.toString()));
    c.on('error', reject);
    c.on('exit', (s) => resolve({ status: s, output }));
  });
  t.equal(status, 0, `promtool accepts all ${exprs.length} expressions: ${output}`);
  t.match(output, new RegExp(`SUCCESS: ${exprs.length} rules found`));
});
