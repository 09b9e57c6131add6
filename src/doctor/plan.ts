// What the doctor looks at, derived from the agent's own flags and Corefile through config/ (the
// same loaders the agent uses), plus the doctor's flags. Loading never writes: a -basecorefile
// template is rendered in memory only, so the doctor cannot change the -conf the agent serves.
import { existsSync } from 'node:fs';
import { FlagError } from '../errors.js';
import { parseFlags, parseGoDuration, type Flags } from '../config/flags.js';
import { loadAgentConfig } from '../config/load.js';

export interface UpstreamTarget {
  host: string;
  port: number;
  /** Zones forwarded there, e.g. [".", "cluster.local."]. */
  zones: string[];
  /** Every zone forwarded there uses TCP (force_tcp, the cluster zones of -upstream). */
  tcpOnly: boolean;
}

export interface Plan {
  flags: Flags;
  /** Where the agent listens: -localip, or the Corefile's bind addresses. */
  localIps: string[];
  port: number;
  upstreams: UpstreamTarget[];
  podResolv: string | null;
  nodeResolv: string;
  /** A name with an answer over 512 bytes, and its type. */
  bigName: string;
  bigType: number;
  bigTypeName: string;
  json: boolean;
  /** Budget of one DNS exchange; a check's own budget is a little over twice that. */
  timeoutMs: number;
}

const TYPES: Record<string, number> = { A: 1, NS: 2, SOA: 6, TXT: 16, AAAA: 28, SRV: 33, DNSKEY: 48 };

export const DOCTOR_USAGE = `Usage: nodelocaldns doctor [--config FILE] [--pod-resolv FILE] [--json] [agent flags]
  --config FILE       the Corefile the agent serves (same as -conf)
  --pod-resolv FILE   a pod's /etc/resolv.conf (kubectl exec POD -- cat /etc/resolv.conf > FILE)
  --node-resolv FILE  the node's resolv.conf, the agent's upstreams for "." (default /etc/resolv.conf)
  --big-query "NAME TYPE"  a query whose answer exceeds 512 bytes (default ". DNSKEY")
  --timeout DURATION  budget of one DNS exchange (default 1500ms)
  --json              one JSON document instead of lines
  agent flags         as the agent is started (-localip, -upstream, -conf, -basecorefile, -dns.port ...)
Exit status: 0 when no check failed, 1 when one did, 2 for bad arguments.
`;

const OWN = new Set(['config', 'pod-resolv', 'node-resolv', 'big-query', 'timeout', 'json']);

/** Splits the doctor's own flags from the agent's (both Go style: -name, --name, =value). */
export function splitArgs(argv: string[]): { own: Map<string, string>; agent: string[] } {
  const own = new Map<string, string>();
  const agent: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (!arg.startsWith('-') || !OWN.has(name)) {
      agent.push(arg);
      continue;
    }
    if (name === 'json') own.set(name, eq >= 0 ? body.slice(eq + 1) : 'true');
    else if (eq >= 0) own.set(name, body.slice(eq + 1));
    else if (i + 1 < argv.length) own.set(name, argv[++i]!);
    else throw new FlagError(name, 'flag needs an argument');
  }
  return { own, agent };
}

export function makePlan(argv: string[], env: NodeJS.ProcessEnv): Plan {
  const { own, agent } = splitArgs(argv);
  const flags = parseFlags(own.has('config') ? [...agent, '-conf', own.get('config')!] : agent);
  if (flags.args.length > 0) throw new FlagError(flags.args[0]!, 'unexpected argument');
  const nodeResolv = own.get('node-resolv') ?? '/etc/resolv.conf';
  // -conf '' while a template exists: the rendered text is parsed, not written (see load.ts).
  const readOnly = flags.basecorefile !== '' && existsSync(flags.basecorefile) ? { ...flags, conf: '' } : flags;
  const { config } = loadAgentConfig(readOnly, env, { resolvConfPath: nodeResolv });
  const binds = [...new Set(config.servers.flatMap((s) => s.bind))].map((ip) => (ip === '0.0.0.0' ? '127.0.0.1' : ip === '::' ? '::1' : ip));
  const byAddr = new Map<string, UpstreamTarget>();
  for (const s of config.servers) {
    if (!s.forward) continue;
    for (const to of s.forward.to) {
      const key = `${to.host}#${to.port}`;
      const u = byAddr.get(key) ?? { host: to.host, port: to.port, zones: [], tcpOnly: true };
      u.zones.push(...s.zones);
      u.tcpOnly &&= s.forward.forceTcp;
      byAddr.set(key, u);
    }
  }
  const [bigName = '.', bigTypeName = 'DNSKEY'] = (own.get('big-query') ?? '. DNSKEY').trim().split(/\s+/);
  const bigType = TYPES[bigTypeName.toUpperCase()];
  if (bigType === undefined) throw new FlagError('big-query', `unknown type ${JSON.stringify(bigTypeName)} (one of ${Object.keys(TYPES).join(', ')})`);
  const timeout = own.has('timeout') ? parseGoDuration(own.get('timeout')!) : 1500;
  if (timeout === null || timeout <= 0) throw new FlagError('timeout', 'want a duration like 1500ms or 2s');
  return {
    flags,
    localIps: flags.localip.length > 0 ? flags.localip : binds,
    port: config.servers[0]?.port ?? 53,
    upstreams: [...byAddr.values()],
    podResolv: own.get('pod-resolv') ?? null,
    nodeResolv,
    bigName,
    bigType,
    bigTypeName: bigTypeName.toUpperCase(),
    json: own.has('json') && own.get('json') !== 'false',
    timeoutMs: timeout,
  };
}
