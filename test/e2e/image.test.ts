// The container image, built here (`npm run image`: buildah, a local Debian base) and run the way
// the kubelet would run the DaemonSet from `kustomize build manifests/`: in the host network of
// a namespace the test makes (the node), with the manifest's image, command, args, env,
// capabilities, securityContext, volumes (ConfigMaps as the kubelet lays them out, hostPaths as
// files the test makes) and grace period, all read from the kustomize output. It must serve DNS on
// the local IPs (to the node and to a pod namespace), install node-cache's rules, answer its
// liveness (exec) and readiness (httpGet) probes, health and metrics, run the supervisor as PID 1
// with only the granted capabilities in every process, fit its memory limit, serve again after
// its agent is SIGKILLed (an OOM kill), and on stop remove its rules and interface and exit 0.
//
// Not reproduced: the memory limit is not enforced (that needs a cgroup, and this host's cgroups
// belong to the host: the container runs with --cgroups=disabled); the agent's RSS is compared
// with it instead. NODELOCALDNS_IMAGE_TEST=0 skips this file (it builds an image: ~2 min from cold).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { until } from '../support/net.js';
import { joinNetns, makeNetns, netnsMissing, nodeCacheLines, nsh, sh } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';
import { knotMissing, startKnot } from '../support/knot.js';
import { encodeQuery, decode } from '../support/dnsclient.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const has = (tool: string) => sh(['which', tool], false).code === 0;
const kustomize = has('kustomize') ? ['kustomize', 'build'] : has('kubectl') ? ['kubectl', 'kustomize'] : null;
const skip = (process.env.NODELOCALDNS_IMAGE_TEST === '0' && 'NODELOCALDNS_IMAGE_TEST=0') ||
  netnsMissing() || knotMissing() ||
  (['podman', 'buildah', 'debootstrap', 'unshare'].find((x) => !has(x)) ?? '').replace(/^(.+)$/, '$1 not installed (apt-get install podman buildah debootstrap)') ||
  (!kustomize && 'neither kustomize nor kubectl installed (.ci/run builds kustomize)');
if (skip) t.plan(0, `skipping container image e2e: ${skip}`);
// Building from a cold cache (debootstrap, apt, npm ci) takes about 3 minutes here.
t.setTimeout(600_000);

type Probe = { exec?: { command: string[] }; httpGet?: { host?: string; path: string; port: number } };
type VolumeMount = { name: string; mountPath: string; readOnly?: boolean; subPath?: string };
type Volume = { name: string; hostPath?: { path: string; type?: string }; configMap?: { name: string; optional?: boolean; items?: { key: string; path: string }[] }; emptyDir?: object };
type Container = {
  name: string; image: string; command: string[]; args: string[]; env?: { name: string; value: string }[];
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { capabilities?: { add?: string[]; drop?: string[] }; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; privileged?: boolean; runAsUser?: number; runAsGroup?: number };
  livenessProbe: Probe; readinessProbe: Probe; volumeMounts: VolumeMount[];
};
type PodSpec = { containers: Container[]; volumes: Volume[]; terminationGracePeriodSeconds: number; hostNetwork: boolean };
type Obj = { kind: string; metadata: { name: string }; data?: Record<string, string>; spec?: { template: { spec: PodSpec } } };

/** Kubernetes memory quantity (Mi, Gi, M, plain) in bytes. */
function bytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|K|M|G)?$/.exec(q);
  if (!m) throw new Error(`unsupported quantity ${q}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/**
 * podman in a mount namespace of its own without /sys/fs/cgroup/unified: crun refuses a hybrid
 * cgroup host whose cgroup2 has controllers, even with --cgroups=disabled; hiding it in a private
 * mount namespace changes nothing on the host.
 */
function podmanArgv(args: string[]): string[] {
  return ['unshare', '-m', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec podman "$@"', 'podman', ...args];
}
const podman = (args: string[], check = true, timeoutMs = 60_000) => sh(podmanArgv(args), check, timeoutMs);

/** pid and every descendant (the container's process tree). */
function tree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  for (const stack = [pid]; stack.length;) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** /proc/PID/status, or '' once the process is gone. */
function procStatus(pid: number): string {
  try { return readFileSync(`/proc/${pid}/status`, 'utf8'); } catch { return ''; }
}

/** RSS of the container's process tree, in bytes. */
const treeRss = (pid: number) => tree(pid).reduce((sum, p) => sum + Number(/VmRSS:\s+(\d+) kB/.exec(procStatus(p))?.[1] ?? 0) * 1024, 0);

/** The agent: the node process under the supervisor. */
const agentPid = (pid: number) => tree(pid).find((p) => /^Name:\s+node$/m.test(procStatus(p)));

const CAPS = ['CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
  'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE',
  'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE',
  'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE'];
function capNames(hex: string): string[] {
  const v = BigInt(`0x${hex}`);
  return CAPS.filter((_, i) => (v >> BigInt(i)) & 1n).sort();
}

/** One DNS query from inside ns over UDP or TCP; the decoded answer's rcode and A records. */
function ask(ns: string, ip: string, name: string, tcp = false): { rcode: string; a: string[] } | null {
  const msg = encodeQuery(name, 'A', { id: 4242 }).toString('base64');
  const code = tcp
    ? `const s=require('net').connect(53,'${ip}');const q=Buffer.from('${msg}','base64');const l=Buffer.alloc(2);l.writeUInt16BE(q.length);` +
      `let b=Buffer.alloc(0);setTimeout(()=>process.exit(1),3000);s.on('connect',()=>s.write(Buffer.concat([l,q])));` +
      `s.on('data',d=>{b=Buffer.concat([b,d]);if(b.length>=2&&b.length>=2+b.readUInt16BE(0)){process.stdout.write(b.subarray(2).toString('base64'));process.exit(0)}});`
    : `const s=require('dgram').createSocket('udp4');setTimeout(()=>process.exit(1),3000);` +
      `s.on('message',m=>{process.stdout.write(m.toString('base64'));process.exit(0)});s.send(Buffer.from('${msg}','base64'),53,'${ip}');`;
  const r = nsh(ns, [process.execPath, '-e', code], false);
  if (r.code !== 0) return null;
  const d = decode(Buffer.from(r.out, 'base64'));
  return { rcode: d.rcode ?? 'NOERROR', a: (d.answers ?? []).filter((x) => x.type === 'A').map((x) => (x as { data: string }).data) };
}

/** HTTP GET from inside ns: status and body, or null. */
function get(ns: string, url: string): { status: number; body: string } | null {
  const code = `fetch('${url}',{signal:AbortSignal.timeout(3000)}).then(async r=>process.stdout.write(JSON.stringify({status:r.status,body:await r.text()}))).catch(()=>process.exit(1))`;
  const r = nsh(ns, [process.execPath, '-e', code], false);
  return r.code === 0 ? JSON.parse(r.out) : null;
}

// The manifests as applied: `kustomize build manifests/`.
function applied() {
  const built = spawnSync(kustomize![0]!, [...kustomize!.slice(1), join(ROOT, 'manifests')], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`kustomize build manifests/: ${built.stderr}`);
  const objs = parseAllDocuments(built.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
  const ds = objs.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'node-local-dns')!;
  const pod = ds.spec!.template.spec;
  return { objs, pod, c: pod.containers.find((x) => x.name === 'node-cache')! };
}

let image: string | null = null;
t.test('npm run image builds the Dockerfile', async (t) => {
  const build = sh(['bash', join(ROOT, 'image', 'build.sh')], false, 540_000);
  t.equal(build.code, 0, build.code === 0 ? 'built' : `npm run image: ${build.err.slice(-3000)}`);
  if (build.code !== 0) return;
  image = build.out.trim().split('\n').at(-1)!;
  t.comment(build.err.trim().split('\n').at(-1)!);
});

// nft: a node with no kube-proxy rules (the agent's default then). legacy: a node whose
// kube-proxy uses iptables-legacy, which the agent follows: it needs NET_RAW there.
for (const backend of ['nft', 'legacy'] as const)
t.test(`${backend} node: the image runs as the DaemonSet says, serves, installs its rules, answers probes, cleans up`, async (t) => {
  if (!image) return t.plan(0, 'no image: the build failed');
  const { objs, pod, c } = applied();
  t.ok(pod.hostNetwork, 'hostNetwork: the container gets the node namespace itself');
  t.notOk(c.securityContext?.privileged, 'not privileged');
  // Tagged as the manifest names it, and run by that name.
  podman(['tag', image, c.image]);

  // The node: a namespace with a pod beside it, kube-dns (knot) on 127.0.0.2 in the node.
  const node = makeNetns(t, 'imgnode');
  const podNs = makeNetns(t, 'imgpod');
  joinNetns(node, podNs, '10.201.0.1/24', '10.201.0.2/24');
  if (backend === 'legacy') {
    // kube-proxy's top-level chains, as iptables-legacy-save shows them on such a node.
    nsh(node, ['iptables-legacy', '-t', 'nat', '-N', 'KUBE-SERVICES']);
    nsh(node, ['iptables-legacy', '-t', 'nat', '-A', 'PREROUTING', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
    nsh(node, ['iptables-legacy', '-t', 'nat', '-A', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
  }
  const localIps = c.args[c.args.indexOf('-localip') + 1]!.split(',');
  const knot = await startKnot({
    address: '127.0.0.2', port: 53, prefix: ['ip', 'netns', 'exec', node],
    zones: {
      'cluster.local': '$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.2\nkubernetes.default.svc A 10.96.0.1\n',
      'example': '$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.2\nwww A 192.0.2.80\n',
    },
  });
  t.teardown(() => knot.stop());

  // Volumes as the kubelet lays them out: a ConfigMap is a read-only directory of symlinks into
  // a timestamped directory (its atomic writer); an absent optional ConfigMap an empty one.
  const dir = mkdtempSync(join(tmpdir(), 'image-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const volumeArgs: string[] = [];
  for (const m of c.volumeMounts) {
    const v = pod.volumes.find((x) => x.name === m.name)!;
    const src = join(dir, v.name);
    if (v.hostPath) {
      t.equal(v.hostPath.path, '/run/xtables.lock', 'the one hostPath is the xtables lock');
      writeFileSync(src, ''); // as iptables creates it: root, 0600
      chmodSync(src, 0o600);
    } else if (v.configMap) {
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap!.name);
      t.ok(cm || v.configMap.optional, `ConfigMap ${v.configMap.name} exists or is optional`);
      const ts = join(src, '..2026_01_01_00_00_00.000000001');
      mkdirSync(ts, { recursive: true });
      symlinkSync('..2026_01_01_00_00_00.000000001', join(src, '..data'));
      const items = v.configMap.items ?? Object.keys(cm?.data ?? {}).map((k) => ({ key: k, path: k }));
      for (const it of cm ? items : []) {
        writeFileSync(join(ts, it.path), cm!.data![it.key]!);
        symlinkSync(`..data/${it.path}`, join(src, it.path));
      }
    } else if (v.emptyDir) {
      mkdirSync(src);
    } else {
      t.fail(`volume ${v.name}: only hostPath, configMap and emptyDir are laid out here`);
      continue;
    }
    volumeArgs.push('-v', `${src}:${m.mountPath}${m.readOnly || v.configMap ? ':ro' : ''}`);
  }

  const sc = c.securityContext ?? {};
  const name = `nodelocaldns-e2e-${backend}-${node.split('-')[1]}`;
  t.teardown(() => podman(['rm', '-f', '-t', '0', name], false));
  // podman lowers its own RLIMIT_NPROC to 32768 and may not raise a limit (no CAP_SYS_RESOURCE
  // here): the container gets the limits this process has, no higher.
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const hard = (what: string) => Number(new RegExp(`${what}\\s+\\S+\\s+(\\d+)`).exec(limits)?.[1] ?? 1024);
  const run = [
    'run', '--rm', '--name', name, '--pull', 'never', '--cgroups=disabled',
    '--ulimit', `nofile=${hard('Max open files')}:${hard('Max open files')}`,
    '--ulimit', `nproc=${Math.min(32768, hard('Max processes'))}:${Math.min(32768, hard('Max processes'))}`,
    '--network', `ns:/run/netns/${node}`,
    // dnsPolicy: Default gives the pod the node's resolv.conf; kube-dns-upstream's Service env.
    '--dns', '127.0.0.2', '-e', 'KUBE_DNS_UPSTREAM_SERVICE_HOST=127.0.0.2',
    ...(c.env ?? []).flatMap((e) => ['-e', `${e.name}=${e.value}`]),
    ...(sc.capabilities?.drop ?? []).flatMap((x) => ['--cap-drop', x]),
    ...(sc.capabilities?.add ?? []).flatMap((x) => ['--cap-add', x]),
    ...(sc.readOnlyRootFilesystem ? ['--read-only', '--read-only-tmpfs=false'] : []),
    ...(sc.allowPrivilegeEscalation === false ? ['--security-opt', 'no-new-privileges'] : []),
    ...(sc.runAsUser !== undefined ? ['--user', `${sc.runAsUser}:${sc.runAsGroup ?? sc.runAsUser}`] : []),
    ...volumeArgs,
    '--entrypoint', JSON.stringify(c.command), c.image, ...c.args,
  ];
  const child = spawn(podmanArgv(run)[0]!, podmanArgv(run).slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });

  const want = localIps.flatMap((ip) => expectedRuleLines(ip)).sort();
  const rules = () => nodeCacheLines(node, `iptables-${backend}-save`).sort();
  const installed = await until(() => /"msg":"iptables rules installed"/.test(logs), 60_000);
  t.ok(installed, `rules installed (log): ${logs.slice(-1500)}`);
  if (!installed) return;
  t.match(logs, new RegExp(`"msg":"iptables rules installed","backend":"${backend}"`), `in ${backend}, as kube-proxy`);
  t.same(rules(), want, 'exactly node-cache\'s rules for every -localip, once each');

  // Answers on every local IP, from the node and from a pod, over UDP and TCP.
  for (const ip of localIps) {
    for (const [from, ns] of [['node', node], ['pod', podNs]] as const) {
      t.same(ask(ns, ip, 'kubernetes.default.svc.cluster.local'), { rcode: 'NOERROR', a: ['10.96.0.1'] }, `${from} → ${ip} UDP: cluster zone via kube-dns-upstream`);
      t.same(ask(ns, ip, 'www.example', true), { rcode: 'NOERROR', a: ['192.0.2.80'] }, `${from} → ${ip} TCP: . via the node's resolv.conf`);
    }
  }

  if (sc.readOnlyRootFilesystem) {
    const touch = podman(['exec', name, 'touch', '/etc/written'], false);
    t.not(touch.code, 0, 'the root filesystem is read-only');
    t.match(touch.err, /Read-only file system/);
  }
  const rendered = podman(['exec', name, 'cat', c.args[c.args.indexOf('-conf') + 1]!], false);
  t.match(rendered.out, new RegExp(`bind ${localIps.join(' ').replace(/\./g, '\\.')}`), 'the agent wrote its -conf (placeholders filled)');

  // The probes exactly as the manifest states them.
  const live = podman(['exec', name, ...c.livenessProbe.exec!.command], false);
  t.equal(live.code, 0, `liveness exec probe ${c.livenessProbe.exec!.command.join(' ')}: ${live.err}`);
  const rp = c.readinessProbe.httpGet!;
  t.ok(await until(() => get(node, `http://${rp.host}:${rp.port}${rp.path}`)?.status === 200, 10_000), `readiness ${rp.host}:${rp.port}${rp.path} is 200`);
  t.equal(get(node, `http://${localIps[0]}:8080/health`)?.status, 200, 'health (Corefile health plugin) is 200');
  const metrics = get(node, `http://${localIps[0]}:9253/metrics`);
  t.equal(metrics?.status, 200, 'metrics on :9253');
  t.match(metrics?.body ?? '', /coredns_dns_requests_total\{[^}]*\} [1-9]/, 'the queries above are counted');

  // supervise.sh is PID 1 of the container, the agent its child; every process holds only the
  // granted capabilities.
  const pid = Number(podman(['inspect', '--format', '{{.State.Pid}}', name]).out.trim());
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'), [/^\/bin\/sh$|sh$/, '/app/supervise.sh'], 'PID 1 is the supervisor');
  t.match(procStatus(pid), /^NSpid:\s+\d+\s+1$/m, 'and it is PID 1 in the container');
  const agent = agentPid(pid);
  t.ok(agent, 'the agent runs under it');
  const granted = [...new Set([...(sc.capabilities?.drop?.includes('ALL') ? [] : ['(runtime defaults)']), ...(sc.capabilities?.add ?? [])])].sort();
  for (const p of tree(pid)) {
    const st = procStatus(p);
    if (!st) continue;
    const proc = /^Name:\s+(\S+)/m.exec(st)![1];
    t.same(capNames(/CapBnd:\s+(\w+)/.exec(st)![1]!), granted, `${proc}: bounding set = the manifest's capabilities`);
    t.ok(capNames(/CapEff:\s+(\w+)/.exec(st)![1]!).every((x) => granted.includes(x)), `${proc}: effective within them`);
    t.equal(/^Uid:\s+(\d+)/m.exec(st)![1], String(sc.runAsUser ?? 0), `${proc}: uid as the manifest (or the image) says`);
    if (sc.allowPrivilegeEscalation === false) t.match(st, /NoNewPrivs:\s+1/, `${proc}: no_new_privs set`);
  }

  // The memory limit is not enforced here (no cgroup); the tree must fit it all the same.
  const limit = c.resources.limits?.memory;
  if (limit) {
    const rss = treeRss(pid);
    t.ok(rss < bytes(limit), `container RSS ${(rss / 2 ** 20).toFixed(1)} MiB < limit ${limit}`);
  }

  // An OOM kill of the agent, as the kernel does it at the limit: the supervisor starts it again
  // in the container, the node setup stays, and it serves again.
  process.kill(agent!, 'SIGKILL');
  t.ok(await until(() => /"msg":"agent died by a signal, starting it again"/.test(logs), 10_000), 'the supervisor saw the kill');
  t.ok(await until(() => { const a = agentPid(pid); return a !== undefined && a !== agent; }, 10_000), 'a new agent runs');
  t.ok(await until(() => ask(podNs, localIps[0]!, 'kubernetes.default.svc.cluster.local')?.a[0] === '10.96.0.1', 15_000), 'and answers');
  t.same(rules(), want, 'the rules stayed in place, once each');

  // Stop as the kubelet does: SIGTERM to PID 1, SIGKILL after the grace period.
  const stop = podman(['stop', '-t', String(pod.terminationGracePeriodSeconds), name], false, (pod.terminationGracePeriodSeconds + 15) * 1000);
  t.equal(stop.code, 0, `podman stop: ${stop.err}`);
  t.equal(await exited, 0, 'the container exits 0 after SIGTERM');
  t.same(rules(), [], 'every rule removed');
  t.equal(nsh(node, ['ip', 'link', 'show', 'nodelocaldns'], false).code !== 0 && !/169\.254\.20\.10/.test(nsh(node, ['ip', 'addr']).out), true, 'the interface and its addresses are gone');
  t.match(logs, /"msg":"stopped"/, 'the agent logged its stop');
});
