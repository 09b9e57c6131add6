// node-cache's command line (cmd/node-cache/main.go), parsed the way Go's flag package does:
// `-flag value`, `-flag=value`, `--flag`, booleans as `-flag` or `-flag=false`.
import { isIP } from 'node:net';
import { FlagError } from '../errors.js';
import type { LogLevel } from './types.js';
import { MIN_MEMORY_LIMIT, parseQuantity } from './memory-limit.js';

export interface Flags {
  localip: string[]; // empty = embedded default (127.0.0.1, no node setup)
  conf: string;
  basecorefile: string;
  upstreamsvc: string;
  kubednscm: string;
  setupinterface: boolean;
  interfacename: string;
  setupiptables: boolean;
  skipteardown: boolean;
  syncintervalMs: number;
  healthPort: number;
  metricsListenAddress: string;
  prometheusListenAddress: string;
  reloadwithsignal: boolean;
  dnsPort: number; // 0 = not given (53 with -localip, 5353 embedded)
  pidfile: string;
  version: boolean;
  plugins: boolean;
  help: boolean;
  // ours
  upstream: string[]; // cluster DNS servers ip[:port] for the cluster zones
  iptablesBackend: 'auto' | 'nft' | 'legacy';
  lameduckMs: number;
  endpointslices: boolean;
  logLevel: LogLevel;
  maxPending: number; // bound on queries pending upstream (resolve/pending-budget.ts)
  memoryLimit: number | null; // bytes; null = not given (the cgroup limit applies), 0 = none (config/memory-limit.ts)
  memoryBudgetPercent: number;
  dnsDomain: string; // fills a __PILLAR__DNS__DOMAIN__ left in the template (kustomize installs)
  /** node-cache flags given that change nothing here, with why (the caller logs them). */
  noEffect: { flag: string; why: string }[];
  /** What follows the flags (Go's flag.Args()); CoreDNS refuses to start with any. */
  args: string[];
}

type Kind = 'string' | 'bool' | 'int' | 'duration' | 'iplist' | 'hostport' | 'size';
interface Spec {
  name: string;
  /** Absent for a flag accepted for node-cache compatibility that has no effect here. */
  key?: keyof Flags;
  kind: Kind;
  def: string;
  usage: string;
  choices?: string[];
  /** For an `int` that is not a port: its range. */
  range?: [number, number];
  /** The default as -help shows it, when `def` is a "not given" marker. */
  shownDefault?: string;
  /** Why a flag without `key` changes nothing here. */
  noEffect?: string;
}

// Every flag node-cache's binary accepts: its own (cmd/node-cache/main.go, including ones older
// manifests still pass), CoreDNS's (coremain/run.go: -conf, -dns.port, -p, -pidfile, -plugins,
// -quiet, -version), then ours.
export const FLAG_SPECS: Spec[] = [
  { name: 'localip', key: 'localip', kind: 'iplist', def: '', usage: 'comma-separated IPs to listen on, add to the interface and cover with NOTRACK rules (default: 127.0.0.1:5353, no node setup)' },
  { name: 'conf', key: 'conf', kind: 'string', def: '', usage: 'path of the Corefile to serve (written from -basecorefile when that exists); must be readable when given' },
  { name: 'basecorefile', key: 'basecorefile', kind: 'string', def: '/etc/coredns/Corefile.base', usage: 'Corefile template with __PILLAR__ variables (node-local-dns ConfigMap)' },
  { name: 'upstreamsvc', key: 'upstreamsvc', kind: 'string', def: 'kube-dns', usage: 'Service whose ClusterIP fills __PILLAR__CLUSTER__DNS__ (read from <NAME>_SERVICE_HOST)' },
  { name: 'kubednscm', key: 'kubednscm', kind: 'string', def: '', usage: 'mounted kube-dns ConfigMap directory (stubDomains, upstreamNameservers); /etc/kube-dns if it exists' },
  { name: 'setupinterface', key: 'setupinterface', kind: 'bool', def: 'true', usage: 'create and maintain the interface holding -localip' },
  { name: 'interfacename', key: 'interfacename', kind: 'string', def: 'nodelocaldns', usage: 'name of that interface' },
  { name: 'setupiptables', key: 'setupiptables', kind: 'bool', def: 'true', usage: 'install and maintain the NOTRACK/ACCEPT rules' },
  { name: 'skipteardown', key: 'skipteardown', kind: 'bool', def: 'false', usage: 'leave rules and interface in place on exit (HA pair)' },
  { name: 'syncinterval', key: 'syncintervalMs', kind: 'duration', def: '1m0s', usage: 'period of the rules/interface re-check' },
  { name: 'health-port', key: 'healthPort', kind: 'int', def: '8080', usage: 'health port, also covered by NOTRACK rules' },
  { name: 'metrics-listen-address', key: 'metricsListenAddress', kind: 'hostport', def: '0.0.0.0:9353', usage: 'address of node-cache\'s own metrics server' },
  { name: 'prometheus-listen-address', key: 'prometheusListenAddress', kind: 'hostport', def: ':9253', usage: 'fills __PROMETHEUS__ENDPOINT__; metrics address of the embedded default' },
  { name: 'reloadwithsignal', key: 'reloadwithsignal', kind: 'bool', def: 'false', usage: 'reload on SIGUSR1 after rewriting the Corefile' },
  { name: 'corefile', kind: 'string', def: '/etc/Corefile', usage: 'accepted for node-cache compatibility; -conf names the Corefile', noEffect: 'node-cache overrides it with -conf too' },
  { name: 'initialdelay', kind: 'duration', def: '0s', usage: 'accepted for older node-cache manifests; rules go in once serving starts', noEffect: 'rules are installed as soon as the agent serves' },
  { name: 'setupebtables', kind: 'bool', def: 'false', usage: 'accepted for older node-cache manifests; no ebtables rules are installed', noEffect: 'no ebtables rules are installed (node-cache dropped them as well)' },
  { name: 'dns.port', key: 'dnsPort', kind: 'int', def: '0', shownDefault: '53', usage: 'DNS port (5353 for the embedded default, without -localip)' },
  { name: 'p', key: 'dnsPort', kind: 'int', def: '0', shownDefault: '53', usage: 'same as -dns.port (CoreDNS)' },
  { name: 'pidfile', key: 'pidfile', kind: 'string', def: '', usage: 'write the pid here once serving' },
  { name: 'quiet', kind: 'bool', def: 'false', usage: 'accepted for CoreDNS compatibility; start-up is JSON log lines, see -log-level', noEffect: 'there is no start-up banner to hide; -log-level warn quiets the info lines' },
  { name: 'plugins', key: 'plugins', kind: 'bool', def: 'false', usage: 'list the Corefile plugins this agent supports and exit' },
  { name: 'version', key: 'version', kind: 'bool', def: 'false', usage: 'print the version and exit' },
  { name: 'upstream', key: 'upstream', kind: 'iplist', def: '', usage: 'ours: cluster DNS servers ip[:port] for cluster.local, in-addr.arpa, ip6.arpa (TCP); without it every zone uses /etc/resolv.conf' },
  { name: 'iptables-backend', key: 'iptablesBackend', kind: 'string', def: 'auto', choices: ['auto', 'nft', 'legacy'], usage: 'ours: iptables flavour; auto follows kube-proxy\'s chains' },
  { name: 'lameduck', key: 'lameduckMs', kind: 'duration', def: '0s', usage: 'ours: keep serving this long after SIGTERM before teardown (Corefile health lameduck wins)' },
  { name: 'endpointslices', key: 'endpointslices', kind: 'bool', def: 'false', usage: 'ours: reach ready CoreDNS pods directly, discovered from EndpointSlices' },
  { name: 'dns-domain', key: 'dnsDomain', kind: 'string', def: 'cluster.local', usage: 'ours: cluster domain for a __PILLAR__DNS__DOMAIN__ left in -basecorefile (the kustomize install leaves it for the agent)' },
  { name: 'log-level', key: 'logLevel', kind: 'string', def: 'info', choices: ['debug', 'info', 'warn', 'error'], usage: 'ours: agent event log level' },
  { name: 'max-pending', key: 'maxPending', kind: 'int', def: '4096', range: [1, 1_000_000], usage: 'ours: queries that may wait for an upstream at once, over every zone; a miss beyond it is answered SERVFAIL (or stale) at once, so a blackholed upstream cannot grow memory without bound' },
  { name: 'memory-limit', key: 'memoryLimit', kind: 'size', def: '', usage: 'ours: memory the agent may use, a Kubernetes quantity (128Mi, 1Gi, 200M, bytes; 0 = none); default: the container\'s cgroup limit' },
  { name: 'memory-budget-percent', key: 'memoryBudgetPercent', kind: 'int', def: '75', range: [10, 95], usage: 'ours: share of the memory limit RSS is kept under: past it the caches shrink and misses are answered SERVFAIL instead of queued' },
];

/**
 * Go's flag package rules: parsing stops at the first non-flag argument or after `--`; what is
 * left over is returned in `args` (CoreDNS refuses any). `-h` and `-help` stop parsing and ask
 * for the usage, even after other flags.
 */
export function parseFlags(argv: string[]): Flags {
  const noEffect: Flags['noEffect'] = [];
  const out: Record<string, unknown> = { noEffect, help: false, args: [] };
  for (const s of FLAG_SPECS) if (s.key) out[s.key] = convert(s, s.def);
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (name === 'h' || name === 'help') return { ...out, help: true } as unknown as Flags;
    const spec = FLAG_SPECS.find((s) => s.name === name);
    if (!spec) throw new FlagError(name, 'flag provided but not defined');
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (spec.kind === 'bool') value = 'true';
    else {
      if (i + 1 >= argv.length) throw new FlagError(name, 'flag needs an argument');
      value = argv[++i]!;
    }
    const converted = convert(spec, value);
    if (spec.key) out[spec.key] = converted;
    else noEffect.push({ flag: `-${spec.name}`, why: spec.noEffect ?? '' });
  }
  return { ...out, args: argv.slice(i) } as unknown as Flags;
}

function convert(spec: Spec, raw: string): unknown {
  const bad = (why: string): never => {
    throw new FlagError(spec.name, `invalid value ${JSON.stringify(raw)}: ${why}`);
  };
  switch (spec.kind) {
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) bad(`want one of ${spec.choices.join(', ')}`);
      return raw;
    case 'bool':
      if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(raw)) return true;
      if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(raw)) return false;
      return bad('want true or false');
    case 'int': {
      if (!/^\d+$/.test(raw)) bad('want a whole number');
      const n = Number(raw);
      if (spec.range && (n < spec.range[0] || n > spec.range[1])) bad(`want ${spec.range[0]} to ${spec.range[1]}`);
      if (!spec.range && n > 65535) bad('want a port number 0-65535');
      return n;
    }
    case 'duration': {
      const ms = parseGoDuration(raw);
      return ms === null ? bad('want a duration like 60s, 1m30s, 500ms') : ms;
    }
    case 'iplist': {
      // Empty items are skipped: "169.254.20.10," is what IPVS-mode installs leave after the
      // kube-dns IP is substituted with "".
      const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const it of items) if (!isIP(it) && !(spec.name === 'upstream' && parseHostPort(it))) bad(`${JSON.stringify(it)} is not an IP address`);
      return items;
    }
    case 'size': {
      if (raw === '') return null;
      const n = parseQuantity(raw);
      if (n === null) return bad('want a size like 128Mi, 1Gi, 200M or a number of bytes');
      if (n !== 0 && n < MIN_MEMORY_LIMIT) bad(`below ${MIN_MEMORY_LIMIT >> 20}Mi, less than the agent needs to start (0 = no limit)`);
      return n;
    }
    case 'hostport':
      if (raw !== '' && !parseHostPort(raw, true)) bad('want HOST:PORT or :PORT');
      return raw;
  }
}

/** Go time.ParseDuration for the units a config uses. Returns milliseconds, or null. */
export function parseGoDuration(s: string): number | null {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let pos = 0;
  if (s.length === 0) return null;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) return null;
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  return Math.round(total);
}

/** "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1", and with allowEmptyHost ":9253". */
/** host:port, an IPv6 host in brackets (Go's net.JoinHostPort): "10.0.0.10:53", "[fd00::a]:53". */
export function joinHostPort(host: string, port: number | string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function parseHostPort(s: string, allowEmptyHost = false, defaultPort = 53): { host: string; port: number } | null {
  let host: string;
  let portStr: string | undefined;
  const br = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (br) {
    host = br[1]!;
    portStr = br[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    host = i >= 0 ? s.slice(0, i) : s;
    portStr = i >= 0 ? s.slice(i + 1) : undefined;
  }
  if (host === '' && !allowEmptyHost) return null;
  if (host !== '' && isIP(host) === 0 && host !== 'localhost') return null;
  const port = portStr === undefined ? defaultPort : /^\d+$/.test(portStr) ? Number(portStr) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host, port };
}

/** The usage, laid out as Go's flag.PrintDefaults (strings quoted, zero values not shown). */
export function helpText(): string {
  const lines = ['Usage of nodelocaldns:', '  -h, -help', '    \tprint this usage and exit'];
  for (const s of FLAG_SPECS) {
    const type = s.kind === 'bool' ? '' : s.kind === 'int' || s.kind === 'duration' ? ` ${s.kind}` : ' string';
    const head = `  -${s.name}${type}`;
    const def = s.shownDefault ?? s.def;
    const zero = def === '' || def === 'false' || def === '0' || def === '0s';
    const shown = zero ? '' : ` (default ${s.kind === 'bool' || s.kind === 'int' || s.kind === 'duration' ? def : JSON.stringify(def)})`;
    lines.push(`${head}${head.length <= 4 ? '\t' : '\n    \t'}${s.usage}${shown}`);
  }
  return lines.join('\n') + '\n';
}
