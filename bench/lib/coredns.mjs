// CoreDNS as node-cache runs it: the plain `coredns` binary of the release kubernetes/dns's
// node-cache links (github.com/coredns/coredns v1.11.3 in its go.mod; that binary holds every
// plugin node-cache uses), built from its Go module once into a cache folder outside the repo,
// and node-cache's Corefile from manifests/nodelocaldns.yaml with the bench's addresses.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export const COREDNS_VERSION = 'v1.11.3';

function goBinary() {
  for (const candidate of ['go', '/usr/local/go/bin/go']) {
    if (spawnSync(candidate, ['version'], { encoding: 'utf8' }).status === 0) return candidate;
  }
  return null;
}

/** The binary's path, building it on first use (~5 min on 2 cores); `{ error }` where that cannot be done. */
export function coreDnsBinary(log = () => {}) {
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'nodelocaldns-ts', `coredns-${COREDNS_VERSION}`);
  const bin = join(dir, 'coredns');
  if (existsSync(bin)) return { path: bin };
  const go = goBinary();
  if (!go) return { error: 'not built: no Go' };
  mkdirSync(dir, { recursive: true });
  log(`building coredns ${COREDNS_VERSION} from its Go module into ${dir} (once)`);
  const r = spawnSync(go, ['install', `github.com/coredns/coredns@${COREDNS_VERSION}`], {
    encoding: 'utf8',
    timeout: 20 * 60_000,
    env: { ...process.env, GOBIN: dir, GOFLAGS: '-mod=mod' },
  });
  if (r.status !== 0 || !existsSync(bin)) return { error: `not built: go install failed (${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' ')}` };
  return { path: bin };
}

/**
 * node-cache's Corefile (the upstream nodelocaldns.yaml template, test/fixtures; our manifests add
 * `ready` and `serve_stale` to it) with its pillars filled for the bench: every block bound to
 * `ip`, DNS on `port`, cluster zones forwarded over TCP to `cluster`, "." to `upstream`,
 * metrics/health (and `ready` where present) on the given ports.
 */
export function nodeCacheCorefile(repoRoot, { ip, port, cluster, upstream, metricsPort, healthPort, readyPort }) {
  const template = readFileSync(join(repoRoot, 'test', 'fixtures', 'upstream-Corefile.base'), 'utf8');
  return template
    .replaceAll('__PILLAR__DNS__DOMAIN__', 'cluster.local')
    .replaceAll('__PILLAR__LOCAL__DNS__ __PILLAR__DNS__SERVER__', ip)
    .replaceAll('__PILLAR__LOCAL__DNS__', ip)
    .replaceAll('__PILLAR__CLUSTER__DNS__', cluster)
    .replaceAll('__PILLAR__UPSTREAM__SERVERS__', upstream)
    .replace(/^(\S+):53 \{$/gm, `$1:${port} {`)
    .replaceAll('prometheus :9253', `prometheus ${ip}:${metricsPort}`)
    .replaceAll(`health ${ip}:8080`, `health ${ip}:${healthPort}`)
    .replaceAll(`ready ${ip}:8181`, `ready ${ip}:${readyPort}`);
}
