// What the node has in place, read only: iptables-save of the backend the agent would pick
// (config: -iptables-backend, auto = where kube-proxy's chains are) and `ip -j addr`.
import { binary, chooseBackend, type Backend } from '../node/backend.js';
import { createRunner, type Runner } from '../node/exec.js';
import { familyOf } from '../node/ipaddr.js';
import { createLogger } from '../observe/log.js';
import type { Flags } from '../config/flags.js';

export interface NodeFacts {
  backend: Backend;
  /** iptables-save output per family; an error text when it could not be read. */
  saved: { 4: string | Error; 6: string | Error };
  /** interface name → its addresses; an Error when `ip -j addr` failed. */
  addrs: Map<string, string[]> | Error;
}

export async function readNodeFacts(flags: Flags, timeoutMs: number, run: Runner = createRunner()): Promise<NodeFacts> {
  const quiet = createLogger('error', () => {});
  const timed: Runner = (cmd, args) => run(cmd, args, timeoutMs);
  const backend = await chooseBackend(timed, flags.iptablesBackend, quiet);
  const save = async (family: 4 | 6): Promise<string | Error> => {
    const cmd = `${binary(backend, family)}-save`;
    const r = await timed(cmd, []);
    return r.code === 0 ? r.stdout : new Error(`${cmd} → ${r.code}: ${r.stderr.trim()}`);
  };
  const addr = async (): Promise<Map<string, string[]> | Error> => {
    const r = await timed('ip', ['-j', 'addr']);
    if (r.code !== 0) return new Error(`ip -j addr → ${r.code}: ${r.stderr.trim()}`);
    const out = new Map<string, string[]>();
    for (const link of JSON.parse(r.stdout) as { ifname: string; addr_info?: { local?: string }[] }[])
      out.set(link.ifname, (link.addr_info ?? []).map((a) => a.local ?? '').filter(Boolean));
    return out;
  };
  const needs6 = flags.localip.some((ip) => familyOf(ip) === 6);
  const [s4, s6, addrs] = await Promise.all([save(4), needs6 ? save(6) : Promise.resolve(''), addr()]);
  return { backend, saved: { 4: s4, 6: s6 }, addrs };
}

/** The interface holding ip, or null. */
export function interfaceOf(addrs: Map<string, string[]>, ip: string): string | null {
  for (const [ifname, list] of addrs) if (list.includes(ip)) return ifname;
  return null;
}
