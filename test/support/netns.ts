// Network namespaces for node-setup tests: random names, created by the test, deleted in
// t.teardown even when the test fails. Commands run synchronously with a timeout.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface Sh {
  code: number;
  out: string;
  err: string;
}

/** Run argv (no shell); throws only when `check` and the exit status is not 0. */
export function sh(argv: string[], check = true, timeoutMs = 15_000): Sh {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } });
  const res = { code: r.status ?? -1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
  if (check && res.code !== 0) throw new Error(`${argv.join(' ')} → ${res.code}: ${res.err}`);
  return res;
}

/** In namespace ns. */
export function nsh(ns: string, argv: string[], check = true, timeoutMs?: number): Sh {
  return sh(['ip', 'netns', 'exec', ns, ...argv], check, timeoutMs);
}

/** Why netns tests cannot run here, or false. */
export function netnsMissing(): string | false {
  if (process.getuid?.() !== 0) return 'needs root (ip netns, iptables)';
  const probe = `probe${randomBytes(4).toString('hex')}`;
  const add = sh(['ip', 'netns', 'add', probe], false);
  if (add.code !== 0) return `ip netns unavailable: ${add.err.trim()}`;
  sh(['ip', 'netns', 'del', probe], false);
  for (const tool of ['iptables-nft', 'iptables-legacy', 'ip6tables-nft', 'conntrack'])
    if (sh(['which', tool], false).code !== 0) return `${tool} not installed`;
  return false;
}

interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** A fresh namespace with lo up; deleted (with everything in it) at t's teardown. */
export function makeNetns(t: Teardownable, prefix: string): string {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  sh(['ip', 'netns', 'add', name]);
  t.teardown(() => sh(['ip', 'netns', 'del', name], false));
  sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/**
 * Join two namespaces with a veth pair: a gets `aAddr`, b gets `bAddr` (CIDR forms), b's default
 * route points at a. Returns the plain addresses.
 */
export function joinNetns(a: string, b: string, aAddr: string, bAddr: string): { a: string; b: string } {
  const id = randomBytes(3).toString('hex');
  const va = `va${id}`;
  const vb = `vb${id}`;
  sh(['ip', 'link', 'add', va, 'netns', a, 'type', 'veth', 'peer', 'name', vb, 'netns', b]);
  const v6 = aAddr.includes(':');
  sh(['ip', '-n', a, 'addr', 'add', aAddr, 'dev', va, ...(v6 ? ['nodad'] : [])]);
  sh(['ip', '-n', b, 'addr', 'add', bAddr, 'dev', vb, ...(v6 ? ['nodad'] : [])]);
  sh(['ip', '-n', a, 'link', 'set', va, 'up']);
  sh(['ip', '-n', b, 'link', 'set', vb, 'up']);
  const gw = aAddr.split('/')[0]!;
  sh(['ip', '-n', b, ...(v6 ? ['-6'] : []), 'route', 'add', 'default', 'via', gw]);
  return { a: gw, b: bAddr.split('/')[0]! };
}

/** Poll fn every 50 ms until it returns true or ms pass; returns the last result. */
export async function waitFor(fn: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (fn()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The lines of `<tool>-save` in ns that carry node-cache's comments, as "table: rule". */
export function nodeCacheLines(ns: string, tool: string): string[] {
  let table = '';
  const out: string[] = [];
  for (const line of nsh(ns, [tool]).out.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    else if (line.includes('NodeLocal DNS Cache')) out.push(`${table}: ${line}`);
  }
  return out;
}

/** Start a UDP echo server on ip:port inside ns; resolves once it is bound. Killed at teardown. */
export async function udpEcho(t: Teardownable, ns: string, ip: string, port: number): Promise<void> {
  const code = `const s=require('dgram').createSocket('${ip.includes(':') ? 'udp6' : 'udp4'}');` +
    `s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port},'${ip}',()=>console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('udp echo did not start')), 10_000);
    child.stdout!.once('data', () => { clearTimeout(timer); resolve(); });
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`udp echo exited ${c}`)); });
  });
}

/** From ns, send one datagram to ip:port and wait up to 2 s for the echo. */
export function udpPing(ns: string, ip: string, port: number, srcPort = 0): boolean {
  const code = `const s=require('dgram').createSocket('${ip.includes(':') ? 'udp6' : 'udp4'}');` +
    `const t=setTimeout(()=>process.exit(1),2000);s.on('message',()=>{clearTimeout(t);process.exit(0)});` +
    `s.bind(${srcPort},()=>s.send('ping',${port},'${ip}'));`;
  return nsh(ns, [process.execPath, '-e', code], false).code === 0;
}
