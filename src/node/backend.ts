// Which iptables backend to write to. Rules must live where kube-proxy's live: with kube-proxy on
// iptables-legacy, NOTRACK rules added through iptables-nft still apply, but operators inspecting
// the node with the tools kube-proxy uses would not see them, and hosts where the two stacks
// interact badly get surprises (reported against node-cache in kubernetes/dns). So: count KUBE-*
// lines in both backends' save output (both families) and pick the one with more; neither → nft,
// the modern default.
import type { Logger } from '../observe/log.js';
import type { Runner } from './exec.js';
import type { Family } from './ipaddr.js';

export type Backend = 'nft' | 'legacy';
export type BackendChoice = 'auto' | Backend;

export function binary(backend: Backend, family: Family): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-${backend}`;
}

async function kubeLines(run: Runner, backend: Backend, log: Logger): Promise<number> {
  let n = 0;
  for (const family of [4, 6] as const) {
    const cmd = `${binary(backend, family)}-save`;
    const r = await run(cmd, []);
    if (r.code !== 0) {
      // A refusal is not "no chains here": kube-proxy's rules in that backend go uncounted and the
      // choice may fall on the other one. iptables-legacy opens a raw socket, so a container
      // granted NET_ADMIN without NET_RAW gets this on a legacy node (seen in the image e2e test).
      if (/you must be root|Permission denied|Operation not permitted/.test(r.stderr)) {
        log.warn('backend probe refused: no privilege', {
          cmd, stderr: r.stderr.trim(),
          hint: backend === 'legacy' ? 'iptables-legacy needs CAP_NET_RAW as well as CAP_NET_ADMIN' : 'iptables-nft needs CAP_NET_ADMIN',
        });
      } else log.debug('backend probe failed', { cmd, code: r.code, stderr: r.stderr.trim() });
      continue;
    }
    for (const line of r.stdout.split('\n')) if (/^(:|-A )KUBE-/.test(line)) n++;
  }
  return n;
}

export async function chooseBackend(run: Runner, choice: BackendChoice, log: Logger): Promise<Backend> {
  if (choice !== 'auto') {
    log.info('iptables backend forced', { backend: choice });
    return choice;
  }
  const nft = await kubeLines(run, 'nft', log);
  const legacy = await kubeLines(run, 'legacy', log);
  const backend: Backend = legacy > nft ? 'legacy' : 'nft';
  log.info('iptables backend detected', { backend, kubeLinesNft: nft, kubeLinesLegacy: legacy });
  return backend;
}
