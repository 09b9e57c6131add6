// A one-machine cluster in network namespaces, built fresh for every scenario × system and deleted
// after it (no traffic leaves the namespaces):
//   node     routes between the others; kube-proxy's iptables mode (bench/lib/kube-proxy.mjs) for
//            kube-dns (10.96.0.10) and kube-dns-upstream (10.96.0.11); the node cache under test
//   dns<i>   one CoreDNS replica each (CoreDNS v1.11.3 built from its Go module), cluster.local
//            and 10.in-addr.arpa from zone files (`file`), the rest forwarded to the cloud resolver
//   cloud    knot, authoritative for example.com: the "cloud resolver" of CoreDNS and the node
//   pod<j>   clients, resolv.conf as kubelet writes it for a pod in namespace `prod`
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeProxy } from '../lib/kube-proxy.mjs';
import { coreDnsBinary, nodeCacheCorefile } from '../lib/coredns.mjs';
import { run, start, stop } from '../lib/procs.mjs';
import { agentNodeFlags } from '../lib/servers.mjs';

export const LOCAL_IP = '169.254.20.10';
export const KUBE_DNS_IP = '10.96.0.10';
export const UPSTREAM_SVC_IP = '10.96.0.11';
const CLOUD_IP = '10.250.0.2';
/** CoreDNS's kubernetes plugin answers with TTL 5 unless told otherwise; the zone does the same. */
export const CLUSTER_TTL = 5;
export const HEADLESS_ENDPOINTS = 130; // 130 A records: a 2,1 KB answer

const DNS_PORTS = [{ name: 'dns', protocol: 'udp', port: 53 }, { name: 'dns-tcp', protocol: 'tcp', port: 53 }];

export function sh(argv, { check = true, input, timeoutMs = 15_000 } = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', input, timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
  if (check && r.status !== 0) throw new Error(`${argv.join(' ')} → ${r.status}: ${r.stderr}`);
  return r;
}
const nsh = (ns, argv, opts) => sh(['ip', 'netns', 'exec', ns, ...argv], opts);

/** Why the rig cannot run here, or false. */
export function rigMissing(repoRoot) {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, iptables)';
  for (const tool of ['ip', 'iptables-nft', 'iptables-nft-restore', 'conntrack', 'dig', 'curl', 'gcc', 'musl-gcc', '/usr/sbin/knotd'])
    if (sh(['sh', '-c', `command -v ${tool}`], { check: false }).status !== 0) return `${tool} not installed`;
  try {
    readFileSync(join(repoRoot, 'dist', 'cli.js'));
  } catch {
    return 'dist/cli.js not built (npm run build)';
  }
  return false;
}

export function clusterZone() {
  const lines = [
    '$ORIGIN cluster.local.',
    `$TTL ${CLUSTER_TTL}`,
    `@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 ${CLUSTER_TTL}`,
    '@ IN NS ns.dns.cluster.local.',
    'ns.dns IN A 10.96.0.10',
    'kube-dns.kube-system.svc IN A 10.96.0.10',
    'kubernetes.default.svc IN A 10.96.0.1',
    'web.prod.svc IN A 10.96.3.7',
    'web.prod.svc IN AAAA fd00::3:7',
    'api.prod.svc IN A 10.96.3.8',
    'db.data.svc IN A 10.96.4.2',
    'cache.data.svc IN A 10.96.4.3',
  ];
  for (let i = 0; i < HEADLESS_ENDPOINTS; i++) lines.push(`big.prod.svc IN A 10.244.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`);
  return lines.join('\n') + '\n';
}

function reverseZone() {
  return ['$ORIGIN 10.in-addr.arpa.', `$TTL ${CLUSTER_TTL}`, `@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 ${CLUSTER_TTL}`,
    '@ IN NS ns.dns.cluster.local.', '10.0.96 IN PTR kube-dns.kube-system.svc.cluster.local.', '7.3.96 IN PTR web.prod.svc.cluster.local.',
    '8.3.96 IN PTR api.prod.svc.cluster.local.', ''].join('\n');
}

function cloudZone() {
  return ['$ORIGIN example.com.', '$TTL 300', '@ IN SOA ns.example.com. host.example.com. 1 7200 1800 86400 300', '@ IN NS ns.example.com.',
    'ns IN A 10.250.0.2', 'www IN A 192.0.2.10', 'www IN AAAA 2001:db8::10', 'api IN A 192.0.2.11', 'cdn IN CNAME www.example.com.', ''].join('\n');
}

async function waitUntil(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function answers(ns, server, name, port = 53) {
  const r = await run(['ip', 'netns', 'exec', ns, 'dig', `@${server}`, '-p', String(port), name, 'A', '+short', '+time=1', '+tries=1'], { timeoutMs: 4000 });
  return r.code === 0 && r.stdout.trim() !== '' && !r.stdout.includes(';;');
}

/** Rigs up now: deleted by downAll when the harness is interrupted. */
const live = new Set();

export function deleteAllNamespaces() {
  for (const rig of live) for (const n of rig.namespaces) {
    sh(['ip', 'netns', 'del', n], { check: false });
    rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
  }
}

export class Rig {
  constructor(repoRoot, dir, { replicas = 3, pods = 3, flushUdp = true, syncDelayMs = 1000, slowSlot = -1, log = () => {} } = {}) {
    this.repoRoot = repoRoot;
    this.slowSlot = slowSlot;
    this.dir = dir;
    this.log = log;
    this.id = randomBytes(2).toString('hex');
    this.syncDelayMs = syncDelayMs;
    this.flushUdp = flushUdp;
    this.namespaces = [];
    this.node = this.ns('n');
    this.cloud = this.ns('c');
    this.slots = Array.from({ length: replicas }, (_, i) => ({ i, ns: this.ns(`r${i}`), veth: `i${this.id}r${i}b`, gen: 0, live: [], counted: 0 }));
    this.pods = Array.from({ length: pods }, (_, j) => this.ns(`p${j}`));
    this.endpoints = [];
    this.system = null;
  }

  ns(suffix) {
    const name = `inc${this.id}${suffix}`;
    this.namespaces.push(name);
    return name;
  }

  link(a, b, tag, aAddr, bAddr) {
    const va = `i${this.id}${tag}a`;
    const vb = `i${this.id}${tag}b`;
    sh(['ip', 'link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
    // A replica's pod IPs share its veth; deleting the first must not take the newer ones with it.
    nsh(b, ['sysctl', '-qw', `net.ipv4.conf.${vb}.promote_secondaries=1`]);
    sh(['ip', '-n', a, 'addr', 'add', aAddr, 'dev', va]);
    sh(['ip', '-n', b, 'addr', 'add', bAddr, 'dev', vb]);
    sh(['ip', '-n', a, 'link', 'set', va, 'up']);
    sh(['ip', '-n', b, 'link', 'set', vb, 'up']);
    sh(['ip', '-n', b, 'route', 'add', 'default', 'via', aAddr.split('/')[0]]);
  }

  resolvConf(ns, text) {
    mkdirSync(`/etc/netns/${ns}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns}/resolv.conf`, text);
  }

  async up() {
    live.add(this);
    for (const n of this.namespaces) {
      sh(['ip', 'netns', 'add', n]);
      sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']);
    }
    nsh(this.node, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    this.link(this.node, this.cloud, 'c', '10.250.0.1/24', `${CLOUD_IP}/24`);
    for (const s of this.slots) this.link(this.node, s.ns, `r${s.i}`, `10.244.${s.i}.1/24`, `10.244.${s.i}.2/24`);
    this.pods.forEach((p, j) => this.link(this.node, p, `p${j}`, `10.200.${j}.1/24`, `10.200.${j}.2/24`));
    // The node's default route (a host-network process's packets to a ClusterIP need one before
    // OUTPUT's DNAT rewrites them) goes toward the cloud, whose gateway never goes away; a route via
    // a replica's pod IP would die with that pod.
    sh(['ip', '-n', this.node, 'route', 'add', 'default', 'via', CLOUD_IP]);
    this.resolvConf(this.node, `nameserver ${CLOUD_IP}\n`);
    for (const p of this.pods) this.resolvConf(p, `nameserver ${KUBE_DNS_IP}\nsearch prod.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`);
    for (const n of [...this.slots.map((s) => s.ns), this.cloud]) this.resolvConf(n, `nameserver ${CLOUD_IP}\n`);

    writeFileSync(join(this.dir, 'cluster.local.zone'), clusterZone());
    writeFileSync(join(this.dir, '10.in-addr.arpa.zone'), reverseZone());
    await this.startCloud();
    this.coredns = coreDnsBinary((m) => this.log(m));
    if (this.coredns.error) throw new Error(`CoreDNS ${this.coredns.error}`);
    await Promise.all(this.slots.map((s) => this.startReplica(s, { slowProxy: s.i === this.slowSlot })));
    this.endpoints = this.slots.map((s) => s.live[0].ip);
    this.proxy = new KubeProxy(this.node, 'iptables-nft', { flushUdp: this.flushUdp });
    this.syncNow();
  }

  async startCloud() {
    const d = join(this.dir, 'cloud');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'example.com.zone'), cloudZone());
    writeFileSync(join(d, 'knot.conf'), ['server:', `  rundir: ${d}`, `  listen: ${CLOUD_IP}@53`, '  udp-workers: 1', '  tcp-workers: 1', '  background-workers: 1',
      'control:', `  listen: ${join(d, 'knot.sock')}`, 'database:', `  storage: ${d}`, 'log:', '  - target: stderr', '    any: error',
      'template:', '  - id: default', `    storage: ${d}`, '    semantic-checks: off', '    zonefile-sync: -1', '    journal-content: none',
      'zone:', '  - domain: example.com.', `    file: ${join(d, 'example.com.zone')}`, ''].join('\n'));
    for (let attempt = 1; ; attempt++) {
      this.cloudProc = start(['ip', 'netns', 'exec', this.cloud, '/usr/sbin/knotd', '-c', join(d, 'knot.conf')], { name: 'knotd (cloud)' });
      try {
        await waitUntil(() => answers(this.node, CLOUD_IP, 'www.example.com'), 15_000, 'cloud knot answers');
        return;
      } catch (e) {
        // knotd that does not answer: say why (its output), try once more.
        const out = this.cloudProc.output;
        await stop(this.cloudProc);
        if (attempt >= 2) throw new Error(`${e.message} (knotd: ${this.cloudProc.exitCode ?? 'running'} ${out.slice(-300)})`);
        this.log(`cloud knot did not answer (${out.slice(-200)}), starting it again`);
      }
    }
  }

  /**
   * A new CoreDNS pod in slot s: its own pod IP (10.244.<slot>.<2+generation>), the Corefile of a
   * kube-dns Deployment with `file` in place of `kubernetes`. `slowProxy`: CoreDNS listens on
   * port 1053 and delay-proxy.mjs holds the pod IP's port 53.
   */
  async startReplica(s, { slowProxy = false } = {}) {
    const gen = s.gen++;
    const ip = `10.244.${s.i}.${2 + gen}`;
    if (gen > 0) nsh(s.ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', s.veth]);
    const port = slowProxy ? 1053 : 53;
    const conf = join(this.dir, `Corefile.dns${s.i}.${gen}`);
    writeFileSync(conf, [
      `.:${port} {`,
      `    bind ${ip}`,
      '    errors',
      `    health ${ip}:8080 {`,
      '        lameduck 5s',
      '    }',
      `    ready ${ip}:8181`,
      `    file ${join(this.dir, 'cluster.local.zone')} cluster.local`,
      `    file ${join(this.dir, '10.in-addr.arpa.zone')} 10.in-addr.arpa`,
      `    prometheus ${ip}:9153`,
      `    forward . ${CLOUD_IP}`,
      '    cache 30',
      '    loop',
      '    reload',
      '}',
      '',
    ].join('\n'));
    const pod = { ip, gen, conf, metrics: `http://${ip}:9153/metrics`, lastCount: 0, counted: 0 };
    pod.proc = start(['ip', 'netns', 'exec', s.ns, this.coredns.path, '-conf', conf], { name: `coredns dns${s.i}.${gen}` });
    if (slowProxy) {
      pod.proxy = start(['ip', 'netns', 'exec', s.ns, process.execPath, new URL('delay-proxy.mjs', import.meta.url).pathname, ip, '53', ip, '1053', '2000'], { name: `delay proxy dns${s.i}` });
    }
    s.live.push(pod);
    await waitUntil(() => answers(this.node, ip, 'web.prod.svc.cluster.local'), 20_000, `CoreDNS ${ip} answers`);
    return pod;
  }

  /** The same pod's container started again (after a kill): same IP, same Corefile. */
  async revive(s, pod) {
    pod.proc = start(['ip', 'netns', 'exec', s.ns, this.coredns.path, '-conf', pod.conf], { name: `coredns dns${s.i}.${pod.gen}` });
    await waitUntil(() => answers(this.node, pod.ip, 'web.prod.svc.cluster.local'), 20_000, `CoreDNS ${pod.ip} answers again`);
  }

  /** The kube-dns ClusterIP answers from pod namespace p (through whichever system runs). */
  async waitAnswers(p) {
    await waitUntil(() => answers(p, KUBE_DNS_IP, 'web.prod.svc.cluster.local'), 20_000, `${KUBE_DNS_IP} answers from ${p}`);
  }

  /** The pod's end: SIGTERM (CoreDNS serves through its 5 s lameduck), then its IP goes with it. */
  async stopReplica(s, pod, signal = 'SIGTERM') {
    const exited = pod.proc.exitCode !== null ? Promise.resolve() : new Promise((r) => pod.proc.once('exit', r));
    pod.proc.kill(signal);
    // CoreDNS serves (and counts) through its lameduck: keep reading its counter until it exits.
    const poll = setInterval(() => this.scrapeOne(pod).catch(() => {}), 500);
    const kill = setTimeout(() => pod.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
    clearInterval(poll);
    s.counted += pod.counted;
    if (pod.proxy) await stop(pod.proxy);
    s.live = s.live.filter((p) => p !== pod);
    nsh(s.ns, ['ip', 'addr', 'del', `${pod.ip}/24`, 'dev', s.veth], { check: false });
  }

  services() {
    return ['kube-dns', 'kube-dns-upstream'].map((name) => ({
      namespace: 'kube-system', name, clusterIp: name === 'kube-dns' ? KUBE_DNS_IP : UPSTREAM_SVC_IP, ports: DNS_PORTS, endpoints: this.endpoints,
    }));
  }

  syncNow() {
    this.proxy.sync(this.services());
  }

  /** The EndpointSlice changes now; kube-proxy rewrites its rules after its sync delay. */
  async setEndpoints(ips, delayMs = this.syncDelayMs) {
    this.endpoints = [...ips];
    await new Promise((r) => setTimeout(r, delayMs));
    this.syncNow();
  }

  /** A Deployment rollout step for slot s: new pod ready → endpoint added; old pod's endpoint removed and SIGTERM. */
  async rollReplica(s) {
    const old = s.live[s.live.length - 1];
    const fresh = await this.startReplica(s);
    await this.setEndpoints([...this.endpoints, fresh.ip]);
    const removing = this.setEndpoints(this.endpoints.filter((ip) => ip !== old.ip));
    await Promise.all([removing, this.stopReplica(s, old)]);
  }

  /** Queries answered by CoreDNS replicas so far (coredns_dns_requests_total, summed over pods that lived). */
  async scrapeOne(pod) {
    const proc = pod.proc;
    const r = await run(['ip', 'netns', 'exec', this.node, 'curl', '-s', '-m', '1', pod.metrics], { timeoutMs: 3000 });
    if (r.code !== 0) return;
    let n = 0;
    for (const line of r.stdout.split('\n')) if (line.startsWith('coredns_dns_requests_total{')) n += Number(line.split(' ').pop());
    // A revived process counts from 0 again; an older scrape finishing late never lowers the count.
    if (pod.lastProc !== proc) {
      if (pod.lastProc && pod.proc !== proc) return;
      pod.lastProc = proc;
      pod.lastCount = 0;
    }
    if (n > pod.lastCount) {
      pod.counted += n - pod.lastCount;
      pod.lastCount = n;
    }
  }

  async scrape() {
    await Promise.all(this.slots.flatMap((s) => s.live).map((p) => this.scrapeOne(p)));
  }

  corednsQueries() {
    return this.slots.reduce((sum, s) => sum + s.counted + s.live.reduce((a, p) => a + p.counted, 0), 0);
  }

  // ----- the node caches -----

  /** node-cache: CoreDNS with node-cache's Corefile, and the interface + rules node-cache's setup makes. */
  async startNodeCache() {
    const conf = join(this.dir, 'Corefile.node-cache');
    const text = nodeCacheCorefile(this.repoRoot, { ip: LOCAL_IP, port: 53, cluster: UPSTREAM_SVC_IP, upstream: '/etc/resolv.conf', metricsPort: 9253, healthPort: 8080, readyPort: 8181 })
      .replace(new RegExp(`^(\\s*bind ${LOCAL_IP.replaceAll('.', '\\.')})$`, 'gm'), `$1 ${KUBE_DNS_IP}`);
    writeFileSync(conf, text);
    this.nodeCacheConf = conf;
    // node-cache's interface: a dummy link; this kernel may lack it (then ifb, as the agent does).
    let made = false;
    for (const kind of ['dummy', 'ifb']) {
      if (nsh(this.node, ['ip', 'link', 'add', 'nodelocaldns', 'type', kind], { check: false }).status === 0) { made = true; break; }
    }
    const dev = made ? 'nodelocaldns' : 'lo';
    for (const ip of [LOCAL_IP, KUBE_DNS_IP]) nsh(this.node, ['ip', 'addr', 'add', `${ip}/32`, 'dev', dev]);
    if (made) nsh(this.node, ['ip', 'link', 'set', 'nodelocaldns', 'up']);
    await this.launchNodeCache();
    // node-cache installs its rules once it serves (cmd/node-cache/app: setupNetworking after start).
    for (const ip of [LOCAL_IP, KUBE_DNS_IP]) {
      for (const p of ['udp', 'tcp']) {
        const skip = ['-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack', '-j', 'NOTRACK'];
        const allow = ['-m', 'comment', '--comment', 'NodeLocal DNS Cache: allow DNS traffic', '-j', 'ACCEPT'];
        nsh(this.node, ['iptables-nft', '-w', '-t', 'raw', '-I', 'PREROUTING', '-p', p, '-d', ip, '--dport', '53', ...skip]);
        nsh(this.node, ['iptables-nft', '-w', '-t', 'filter', '-I', 'INPUT', '-p', p, '-d', ip, '--dport', '53', ...allow]);
        nsh(this.node, ['iptables-nft', '-w', '-t', 'raw', '-I', 'OUTPUT', '-p', p, '-s', ip, '--sport', '53', ...skip]);
        nsh(this.node, ['iptables-nft', '-w', '-t', 'filter', '-I', 'OUTPUT', '-p', p, '-s', ip, '--sport', '53', ...allow]);
        nsh(this.node, ['iptables-nft', '-w', '-t', 'raw', '-I', 'OUTPUT', '-p', p, '-d', ip, '--dport', '53', ...skip]);
      }
      for (const dir of [['-d', ip, '--dport'], ['-s', ip, '--sport']])
        nsh(this.node, ['iptables-nft', '-w', '-t', 'raw', '-I', 'OUTPUT', '-p', 'tcp', dir[0], dir[1], dir[2], '8080', '-m', 'comment', '--comment', 'NodeLocal DNS Cache: skip conntrack', '-j', 'NOTRACK']);
    }
    // Packets of flows kube-proxy DNATed before the rules existed keep their entries; node-cache
    // starts on a node whose pods already talk to kube-dns, so the rig flushes nothing either.
    this.system = { name: 'node-cache', proc: this.nodeCacheProc, pid: () => this.nodeCacheProc.pid };
    return this.system;
  }

  async launchNodeCache() {
    this.nodeCacheProc = start(['ip', 'netns', 'exec', this.node, this.coredns.path, '-conf', this.nodeCacheConf], { name: 'node-cache (CoreDNS)' });
    await waitUntil(() => answers(this.node, LOCAL_IP, 'web.prod.svc.cluster.local'), 20_000, 'node-cache answers');
  }

  /**
   * Ours: supervise.sh + the agent as the DaemonSet runs them, with the Corefile our manifests ship
   * (or node-cache's own template, `nodeCacheCorefile`).
   */
  async startOurs({ nodeCacheCorefile = false } = {}) {
    let template;
    if (nodeCacheCorefile) {
      template = readFileSync(join(this.repoRoot, 'test', 'fixtures', 'upstream-Corefile.base'), 'utf8');
    } else {
      const yaml = readFileSync(join(this.repoRoot, 'manifests', 'base', 'configmap.yaml'), 'utf8');
      const m = /\n {2}Corefile: \|\n((?: {4}.*\n|\s*\n)+)/.exec(yaml);
      if (!m) throw new Error('manifests/base/configmap.yaml: no Corefile');
      template = m[1].replace(/^ {4}/gm, '');
    }
    // What the deploy-time sed fills (the install docs); the rest the agent fills itself.
    const base = template.replaceAll('__PILLAR__DNS__DOMAIN__', 'cluster.local')
      .replaceAll('__PILLAR__LOCAL__DNS__', LOCAL_IP).replaceAll('__PILLAR__DNS__SERVER__', KUBE_DNS_IP);
    this.oursBase = join(this.dir, 'Corefile.base');
    writeFileSync(this.oursBase, base);
    await this.launchOurs();
    this.system = { name: 'ours', pid: () => this.oursProc.pid };
    return this.system;
  }

  async launchOurs() {
    const argv = ['ip', 'netns', 'exec', this.node, 'sh', join(this.repoRoot, 'src', 'supervise.sh'), process.execPath, ...agentNodeFlags(this.repoRoot),
      // INCIDENTS_AGENT_NODE_FLAGS: more node flags for the agent alone (e.g. --cpu-prof, to see where its time goes).
      ...(process.env.INCIDENTS_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      join(this.repoRoot, 'dist', 'cli.js'), '-localip', `${LOCAL_IP},${KUBE_DNS_IP}`, '-basecorefile', this.oursBase, '-conf', join(this.dir, 'Corefile.ours'),
      '-upstreamsvc', 'kube-dns-upstream', '-pidfile', join(this.dir, 'ours.pid'), '-dns-domain', 'cluster.local'];
    this.oursProc = start(argv, { name: 'ours (supervise.sh + agent)', env: { ...process.env, KUBE_DNS_UPSTREAM_SERVICE_HOST: UPSTREAM_SVC_IP, KUBE_DNS_UPSTREAM_SERVICE_PORT: '53' } });
    await waitUntil(() => this.oursProc.output.includes('iptables rules installed'), 30_000, `ours installs its rules (${this.oursProc.output.slice(-600)})`);
    await waitUntil(() => answers(this.pods[0], LOCAL_IP, 'web.prod.svc.cluster.local'), 20_000, 'ours answers');
  }

  /** The serving process of the node cache: CoreDNS for node-cache, the agent (supervise.sh's child) for ours. */
  servingPid() {
    if (this.system?.name === 'node-cache') return this.nodeCacheProc.pid;
    if (this.system?.name === 'ours') {
      try {
        return Number(readFileSync(`/proc/${this.oursProc.pid}/task/${this.oursProc.pid}/children`, 'utf8').trim().split(' ')[0] || 0);
      } catch {
        return 0;
      }
    }
    return 0;
  }

  async stopSystem() {
    if (this.system?.name === 'ours') await stop(this.oursProc);
    if (this.system?.name === 'node-cache') await stop(this.nodeCacheProc);
    this.system = null;
  }

  async down() {
    await this.stopSystem().catch(() => {});
    for (const s of this.slots) for (const p of s.live) { await stop(p.proc); if (p.proxy) await stop(p.proxy); }
    if (this.cloudProc) await stop(this.cloudProc);
    for (const n of this.namespaces) {
      sh(['ip', 'netns', 'del', n], { check: false });
      rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    }
    live.delete(this);
  }
}
