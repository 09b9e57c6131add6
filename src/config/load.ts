// Flags → AgentConfig, node-cache's way: -basecorefile (template) rendered to -conf and served;
// else -conf as written (which must be readable); else the embedded default. Also reports which files to watch.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { ConfigError, SetupError } from '../errors.js';
import { corefileFromText } from './corefile/build.js';
import { embeddedConfig } from './embedded.js';
import type { Flags } from './flags.js';
import { emptyKubeDnsConfig, kubeDnsDir, readKubeDnsDir, type KubeDnsConfig } from './kubedns.js';
import { renderCorefile, serviceHostEnv } from './pillar.js';
import { readResolvConf } from './resolvconf.js';
import type { AgentConfig, ServerBlockConfig } from './types.js';

export interface LoadOptions {
  resolvConfPath?: string;
  /** Kept when the kube-dns ConfigMap is now invalid (node-cache keeps its last good one). */
  previousKubeDns?: KubeDnsConfig;
  /** Where the kube-dns ConfigMap is looked for without -kubednscm (tests point it elsewhere). */
  defaultKubeDnsDir?: string;
}

export interface LoadResult {
  config: AgentConfig;
  /** Files and directories whose content decides the config: hash these to detect changes. */
  files: string[];
  /** The kube-dns ConfigMap in effect (null: not used). */
  kubeDns: KubeDnsConfig | null;
  /** Problems that did not stop loading: a bad kube-dns ConfigMap (errortype "configmap"). */
  problems: { error: Error; errortype: 'configmap' }[];
}

export function loadAgentConfig(flags: Flags, env: NodeJS.ProcessEnv, opts: LoadOptions = {}): LoadResult {
  const resolvConfPath = opts.resolvConfPath ?? '/etc/resolv.conf';
  const defaultPort = flags.dnsPort || 53;
  if (flags.basecorefile !== '' && existsSync(flags.basecorefile)) return fromTemplate(flags, env, opts, resolvConfPath);
  if (flags.conf !== '') {
    // As CoreDNS and node-cache: a -conf that cannot be read stops the start. Serving the
    // embedded default instead would answer, but not with the zones the operator wrote.
    let text: string;
    try {
      text = readFileSync(flags.conf, 'utf8');
    } catch (e) {
      throw new ConfigError(`-conf ${flags.conf}`, `cannot read the Corefile: ${(e as Error).message}`);
    }
    const r = corefileFromText(text, resolve(flags.conf), { env, defaultPort });
    return { config: { servers: withBind(r.servers, flags), corefileText: text }, files: r.files, kubeDns: null, problems: [] };
  }
  let nameservers;
  try {
    nameservers = readResolvConf(resolvConfPath);
  } catch (e) {
    throw new ConfigError(`${resolvConfPath}:0`, `cannot read: ${(e as Error).message}`);
  }
  if (nameservers.length === 0) throw new ConfigError(`${resolvConfPath}:0`, 'no nameserver lines: the embedded default forwards "." there');
  return { config: embeddedConfig(flags, nameservers), files: [resolvConfPath], kubeDns: null, problems: [] };
}

function fromTemplate(flags: Flags, env: NodeJS.ProcessEnv, opts: LoadOptions, resolvConfPath: string): LoadResult {
  const base = resolve(flags.basecorefile);
  const problems: LoadResult['problems'] = [];
  const cmDir = kubeDnsDir(flags.kubednscm, opts.defaultKubeDnsDir);
  let kubeDns = opts.previousKubeDns ?? emptyKubeDnsConfig();
  if (cmDir) {
    try {
      kubeDns = readKubeDnsDir(cmDir);
    } catch (e) {
      if (!(e instanceof SetupError)) throw e;
      problems.push({ error: e, errortype: 'configmap' });
    }
  }
  const envName = serviceHostEnv(flags.upstreamsvc);
  const clusterIp = (env[envName] ?? '').trim();
  const rendered = renderCorefile({
    base: readFileSync(base, 'utf8'),
    localIps: flags.localip,
    dnsPort: flags.dnsPort || 53,
    clusterDns: isIP(clusterIp) ? clusterIp : null,
    clusterDnsEnv: envName,
    kubeDns,
    resolvConfPath,
    prometheusListenAddress: flags.prometheusListenAddress,
    dnsDomain: flags.dnsDomain,
    source: base,
  });
  // Parse before writing: a broken render must not replace the Corefile that is serving.
  const confPath = flags.conf !== '' ? resolve(flags.conf) : `${base}.rendered`;
  const r = corefileFromText(rendered, confPath, { env, defaultPort: flags.dnsPort || 53 });
  if (flags.conf !== '') writeIfChanged(confPath, rendered);
  // node-cache polls the template's directory (ConfigMap mounts swap a symlinked ..data dir).
  const files = [dirname(base), ...(cmDir ? [cmDir] : []), ...r.files.filter((f) => f !== confPath)];
  return { config: { servers: withBind(r.servers, flags), corefileText: rendered }, files, kubeDns: cmDir ? kubeDns : null, problems };
}

/** A block without `bind` listens on the -localip addresses, or on every IPv4 address as CoreDNS. */
function withBind(servers: ServerBlockConfig[], flags: Flags): ServerBlockConfig[] {
  for (const s of servers) if (s.bind.length === 0) s.bind = flags.localip.length > 0 ? [...flags.localip] : ['0.0.0.0'];
  return servers;
}

function writeIfChanged(path: string, text: string): void {
  try {
    if (readFileSync(path, 'utf8') === text) return;
  } catch {
    // not there yet
  }
  try {
    writeFileSync(path, text, { mode: 0o644 });
  } catch (e) {
    throw new SetupError('configmap', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}
