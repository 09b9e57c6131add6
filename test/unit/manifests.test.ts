// manifests/: every object parses and validates against the Kubernetes OpenAPI schemas carried by
// kubernetes-models; the single-file nodelocaldns.yaml equals base/; the DaemonSet keeps
// upstream's essentials; its args parse with our flag parser; the ConfigMap's Corefile renders
// and parses; `kustomize build` (or `kubectl kustomize`) builds every entry point with the inputs filled.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Service } from 'kubernetes-models/v1/Service';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { parseFlags } from '../../src/config/flags.js';
import { loadAgentConfig } from '../../src/config/load.js';
import { FlagError } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../../manifests/', import.meta.url));
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: unknown };
const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': Service,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

function docs(text: string, where: string): Obj[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(`${where}: ${d.errors[0]!.message}`);
    return d.toJS() as Obj;
  }).filter((o) => o !== null);
}
const file = (rel: string) => docs(readFileSync(join(ROOT, rel), 'utf8'), rel);
const BASE = ['serviceaccount', 'service-upstream', 'configmap', 'daemonset', 'service-metrics'].flatMap((n) => file(`base/${n}.yaml`));
const byKind = (objs: Obj[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (!name || o.metadata.name === name))!;
function validate(o: Obj): void {
  const Model = MODELS[`${o.apiVersion}/${o.kind}`];
  if (!Model) throw new Error(`no schema for ${o.apiVersion} ${o.kind}`);
  new Model(o as never).validate();
}
type Container = { name: string; command: string[]; args: string[]; resources: unknown; livenessProbe: { exec: { command: string[] } }; readinessProbe: { httpGet: { host: string; path: string; port: number } }; securityContext: { allowPrivilegeEscalation?: boolean; readOnlyRootFilesystem?: boolean; capabilities: { add: string[]; drop?: string[] } } };
const podSpec = (ds: Obj) => (ds as unknown as { spec: { template: { spec: Record<string, unknown> & { containers: Container[] } } } }).spec.template.spec;
const sed = (s: string, kubedns = '10.96.0.10') =>
  s.replaceAll('__PILLAR__LOCAL__DNS__', '169.254.20.10').replaceAll('__PILLAR__DNS__DOMAIN__', 'cluster.local').replaceAll('__PILLAR__DNS__SERVER__', kubedns);

t.test('every YAML file parses and every object validates against its schema', async (t) => {
  const files = ['nodelocaldns.yaml', ...readdirSync(join(ROOT, 'base')).map((f) => `base/${f}`), 'overlays/endpointslices/rbac.yaml', 'overlays/servicemonitor/servicemonitor.yaml'];
  for (const f of files) {
    const objs = file(f);
    t.ok(objs.length > 0, `${f} has objects`);
    for (const o of objs) if (o.kind !== 'Kustomization') t.doesNotThrow(() => validate(o), `${f}: ${o.kind} ${o.metadata.name}`);
  }
  const broken = structuredClone(byKind(BASE, 'DaemonSet'));
  (podSpec(broken).containers[0] as unknown as { ports: { containerPort: unknown }[] }).ports[0]!.containerPort = 'fifty-three';
  t.throws(() => validate(broken), 'the schema check can fail (a string port is rejected)');
});

t.test('nodelocaldns.yaml holds exactly the base objects (the sed workflow file)', async (t) => {
  t.same(file('nodelocaldns.yaml'), BASE);
});

t.test('DaemonSet and Services keep upstream essentials, plus a readiness probe', async (t) => {
  const ds = byKind(BASE, 'DaemonSet') as Obj & { spec: { updateStrategy: unknown } };
  const spec = podSpec(ds);
  t.equal(ds.metadata.name, 'node-local-dns');
  t.equal(ds.metadata.namespace, 'kube-system');
  t.same(ds.spec.updateStrategy, { rollingUpdate: { maxUnavailable: '10%' } });
  t.same([spec.priorityClassName, spec.hostNetwork, spec.dnsPolicy, spec.serviceAccountName], ['system-node-critical', true, 'Default', 'node-local-dns']);
  t.same(spec.tolerations, [{ key: 'CriticalAddonsOnly', operator: 'Exists' }, { effect: 'NoExecute', operator: 'Exists' }, { effect: 'NoSchedule', operator: 'Exists' }]);
  const c = spec.containers[0]!;
  t.same(c.args.slice(0, 8), ['-localip', '__PILLAR__LOCAL__DNS__,__PILLAR__DNS__SERVER__', '-conf', '/etc/Corefile', '-upstreamsvc', 'kube-dns-upstream', '-pidfile', '/tmp/node-cache.pid']);
  t.same(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE', 'NET_RAW'] } },
    'only what the agent uses: the interface and rules, :53, iptables-legacy\'s raw socket (test/e2e/image.test.ts runs with exactly this)');
  t.same(c.livenessProbe.exec.command, ['/app/dns-probe.sh', '__PILLAR__LOCAL__DNS__', '53'], 'liveness: a DNS message through the bound socket');
  t.same(c.readinessProbe.httpGet, { host: '__PILLAR__LOCAL__DNS__', path: '/ready', port: 8181 });
  t.same((spec.volumes as { name: string }[]).map((v) => v.name), ['xtables-lock', 'kube-dns-config', 'config-volume', 'run', 'tmp']);
  t.match(spec.volumes, [{ hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } }, { configMap: { name: 'kube-dns', optional: true } }, { configMap: { name: 'node-local-dns', items: [{ key: 'Corefile', path: 'Corefile.base' }] } }, { emptyDir: {} }, { emptyDir: {} }]);
  const up = byKind(BASE, 'Service', 'kube-dns-upstream') as Obj & { spec: { selector: unknown; ports: unknown[] } };
  t.same(up.spec.selector, { 'k8s-app': 'kube-dns' });
  t.equal(up.spec.ports.length, 2);
  const metrics = byKind(BASE, 'Service', 'node-local-dns') as Obj & { metadata: { annotations: Record<string, string> }; spec: { clusterIP: string } };
  t.same([metrics.spec.clusterIP, metrics.metadata.annotations['prometheus.io/scrape'], metrics.metadata.annotations['prometheus.io/port']], ['None', 'true', '9253']);
});

t.test('the container runs the agent under its supervisor, sized and given time to hand over', async (t) => {
  const spec = podSpec(byKind(BASE, 'DaemonSet'));
  const c = spec.containers[0]!;
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(ROOT, '..', 'Dockerfile'), 'utf8'));
  t.same(c.command, JSON.parse(entrypoint![1]!), 'the command is the image\'s entrypoint');
  t.equal(c.command[0], '/app/supervise.sh');
  const dockerfile = readFileSync(join(ROOT, '..', 'Dockerfile'), 'utf8');
  for (const script of ['supervise.sh', 'dns-probe.sh']) {
    t.ok(existsSync(join(ROOT, '..', 'src', script)), `src/${script} exists`);
    t.match(dockerfile, new RegExp(`COPY .*src/${script.replace('.', '\\.')} /app/${script.replace('.', '\\.')}`), `the image has /app/${script}`);
  }
  t.same(c.resources, { requests: { cpu: '25m', memory: '128Mi' }, limits: { memory: '256Mi' } });
  t.equal(spec.terminationGracePeriodSeconds, 30);
});

t.test('DaemonSet args parse with our flag parser once the placeholders are filled', async (t) => {
  const args = podSpec(byKind(BASE, 'DaemonSet')).containers[0]!.args;
  t.throws(() => parseFlags(args), FlagError, 'raw placeholders are not IPs');
  const f = parseFlags(args.map((a) => sed(a)));
  t.same([f.localip, f.conf, f.upstreamsvc, f.pidfile, f.dnsDomain], [['169.254.20.10', '10.96.0.10'], '/etc/Corefile', 'kube-dns-upstream', '/tmp/node-cache.pid', 'cluster.local']);
  const ipvs = parseFlags(args.map((a) => sed(a.replaceAll(',__PILLAR__DNS__SERVER__', ''))));
  t.same(ipvs.localip, ['169.254.20.10'], 'IPVS-mode sed');
});

t.test("the ConfigMap's Corefile is upstream's template plus `ready` and `serve_stale` toward kube-dns", async (t) => {
  const corefile = (byKind(BASE, 'ConfigMap', 'node-local-dns') as Obj & { data: { Corefile: string } }).data.Corefile;
  const upstream = readFileSync(new URL('../fixtures/upstream-Corefile.base', import.meta.url), 'utf8');
  const withoutOurs = corefile.split('\n').filter((l) => !/^\s*(ready|serve_stale)\b/.test(l)).join('\n')
    .replace(/cache 30 \{\n\s*\}/g, 'cache 30');
  t.equal(withoutOurs, upstream);
  t.match(corefile, /health __PILLAR__LOCAL__DNS__:8080\n {4}ready __PILLAR__LOCAL__DNS__:8181\n/);
  const blocks = corefile.split(/\n(?=\S)/);
  t.same(blocks.map((b) => /\n\s*serve_stale\n/.test(b)), [true, true, true, false], 'stale answers in the blocks forwarded to kube-dns, not in "."');
});

t.test("the ConfigMap's Corefile renders and parses (sed-ed and agent-filled)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'manifests-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'coredns'));
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 192.0.2.1\n');
  const corefile = (byKind(BASE, 'ConfigMap', 'node-local-dns') as Obj & { data: { Corefile: string } }).data.Corefile;
  const args = podSpec(byKind(BASE, 'DaemonSet')).containers[0]!.args;
  const run = (template: string, argv: string[]) => {
    writeFileSync(join(dir, 'coredns', 'Corefile.base'), template);
    const flags = parseFlags([...argv, '-basecorefile', join(dir, 'coredns', 'Corefile.base'), '-conf', join(dir, 'Corefile'), '-kubednscm', join(dir, 'none')]);
    return loadAgentConfig(flags, { KUBE_DNS_UPSTREAM_SERVICE_HOST: '10.96.0.11' }, { resolvConfPath: join(dir, 'resolv.conf') }).config.servers;
  };
  for (const [label, s] of [
    ['sed workflow', run(sed(corefile), args.map((a) => sed(a)))],
    ['placeholders left for the agent (kustomize)', run(corefile, args.map((a) => (a.startsWith('__PILLAR__LOCAL') ? '169.254.20.10,10.96.0.10' : a === '__PILLAR__DNS__DOMAIN__' ? 'cluster.local' : a)))],
  ] as const) {
    t.same(s.map((b) => b.zones[0]), ['cluster.local.', 'in-addr.arpa.', 'ip6.arpa.', '.'], label);
    t.same(s[0]!.bind, ['169.254.20.10', '10.96.0.10'], label);
    t.same(s[0]!.health, { host: '169.254.20.10', port: 8080, lameduckMs: 0 }, label);
    t.same(s[0]!.ready, { host: '169.254.20.10', port: 8181 }, `${label}: ready serves the readiness probe`);
    t.same(s[0]!.forward!.to, [{ host: '10.96.0.11', port: 53 }], label);
    t.same(s[3]!.forward!.to, [{ host: '192.0.2.1', port: 53 }], label);
  }
});

// `kustomize build` (what .ci/run installs), else the copy built into kubectl.
const runs = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' }).status === 0;
const kustomize = runs(['kustomize', 'version']) ? ['kustomize', 'build'] : runs(['kubectl', 'version', '--client']) ? ['kubectl', 'kustomize'] : null;
const kustomizeMissing = kustomize ? false : 'neither kustomize nor kubectl installed (.ci/run builds kustomize)';
t.test(`${kustomize?.join(' ') ?? 'kustomize build'} builds every entry point with the inputs filled`, { skip: kustomizeMissing }, async (t) => {
  const build = (dir: string) => {
    const r = spawnSync(kustomize![0]!, [...kustomize!.slice(1), dir], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    return docs(r.stdout, dir);
  };
  // test/e2e/image.test.ts runs the image as `.` builds it: every overlay must run it the same way.
  const ran = podSpec(byKind(build(ROOT), 'DaemonSet')).containers[0]! as Container & Record<string, unknown>;
  for (const [dir, extra] of [['.', null], ['overlays/endpointslices', 'ClusterRole'], ['overlays/servicemonitor', 'ServiceMonitor']] as const) {
    const objs = build(join(ROOT, dir));
    const overlay = podSpec(byKind(objs, 'DaemonSet')).containers[0]! as Container & Record<string, unknown>;
    for (const field of ['image', 'command', 'livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'volumeMounts'])
      t.same(overlay[field], ran[field], `${dir}: ${field} as the image test ran it`);
    t.same(overlay.args.slice(0, ran.args.length), ran.args, `${dir}: the image test's args, then its own`);
    t.notOk(objs.some((o) => o.metadata.name === 'node-local-dns-inputs'), `${dir}: the inputs ConfigMap is not applied`);
    for (const o of objs) t.doesNotThrow(() => validate(o), `${dir}: ${o.kind} ${o.metadata.name}`);
    if (extra) t.ok(objs.some((o) => o.kind === extra), `${dir}: has its ${extra}`);
    const c = podSpec(byKind(objs, 'DaemonSet')).containers[0]!;
    const f = parseFlags(c.args);
    t.same([f.localip, f.dnsDomain, f.endpointslices], [['169.254.20.10', '10.96.0.10'], 'cluster.local', dir.includes('endpointslices')], dir);
    t.same([c.livenessProbe.exec.command[1], c.readinessProbe.httpGet.host], ['169.254.20.10', '169.254.20.10'], dir);
  }
  // IPVS mode: an empty kube-dns IP leaves only the link-local address.
  const copy = mkdtempSync(join(tmpdir(), 'kustomize-'));
  t.teardown(() => rmSync(copy, { recursive: true, force: true }));
  cpSync(ROOT, copy, { recursive: true });
  const inputs = join(copy, 'inputs', 'kustomization.yaml');
  writeFileSync(inputs, readFileSync(inputs, 'utf8').replace('kubeDNS=10.96.0.10', 'kubeDNS=').replace('domain=cluster.local', 'domain=corp.example'));
  const f = parseFlags(podSpec(byKind(build(copy), 'DaemonSet')).containers[0]!.args);
  t.same([f.localip, f.dnsDomain], [['169.254.20.10'], 'corp.example']);
});
