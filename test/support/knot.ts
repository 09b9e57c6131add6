// A real authoritative upstream for tests: knotd from Debian, on a loopback address the test
// picks, serving zone files the test writes. Stopped by pid; its temp dir removed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { knotConfig } from './knot-config.mjs';

export const KNOTD = '/usr/sbin/knotd';

export function knotMissing(): string | false {
  const r = spawnSync(KNOTD, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'knotd not installed (apt-get install knot)';
}

export interface KnotOptions {
  address: string; // 127.x.y.z or ::1
  port: number;
  zones: Record<string, string>; // origin (no trailing dot needed) → zone file text
  /** Wrap the command, e.g. ['ip', 'netns', 'exec', 'coredns'] to run inside a namespace. */
  prefix?: string[];
}

export interface Knot {
  address: string;
  port: number;
  pid: number;
  dir: string;
  stop(): Promise<void>;
  /** Stop the server but keep its files, so start() can bring it back. */
  kill(): Promise<void>;
  /** Start again with the same config (after kill); resolves once it answers. */
  start(): Promise<void>;
}

export async function startKnot(opts: KnotOptions): Promise<Knot> {
  const dir = mkdtempSync(join(tmpdir(), 'knot-'));
  const zones: { domain: string; file: string }[] = [];
  for (const [origin, text] of Object.entries(opts.zones)) {
    const name = origin.replace(/\.$/, '') || 'root';
    writeFileSync(join(dir, `${name}.zone`), text);
    zones.push({ domain: origin.endsWith('.') ? origin : origin + '.', file: join(dir, name + '.zone') });
  }
  writeFileSync(join(dir, 'knot.conf'), knotConfig({ dir, address: opts.address, port: opts.port, zones }));
  let child: ChildProcess | null = null;
  let stderr = '';
  const launch = async (): Promise<void> => {
    const argv = [...(opts.prefix ?? []), KNOTD, '-c', join(dir, 'knot.conf')];
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const origin = Object.keys(opts.zones)[0]!;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`knotd exited ${c.exitCode}: ${stderr}`);
      if (await answersSoa(opts, origin)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill('SIGKILL');
    throw new Error(`knotd did not answer on ${opts.address}@${opts.port} within 10 s: ${stderr}`);
  };
  const stopChild = async (): Promise<void> => {
    const c = child as ChildProcess | null;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  await launch();
  return {
    address: opts.address,
    port: opts.port,
    get pid() {
      return (child as ChildProcess | null)?.pid ?? -1;
    },
    dir,
    async stop() {
      await stopChild();
      rmSync(dir, { recursive: true, force: true });
    },
    kill: stopChild,
    start: launch,
  };
}

function answersSoa(opts: KnotOptions, origin: string): Promise<boolean> {
  const argv = [...(opts.prefix ?? []), 'dig', `@${opts.address}`, '-p', String(opts.port), origin, 'SOA', '+short', '+time=1', '+tries=1'];
  return new Promise((resolve) => {
    const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => resolve(code === 0 && out.trim() !== ''));
    c.on('error', () => resolve(false));
  });
}

/** A zone for cluster tests: services, a headless service with `headless` A records, AAAA, PTR. */
export function clusterZone(opts: { ttl?: number; headless?: number; soaTtl?: number; soaMinimum?: number } = {}): string {
  const ttl = opts.ttl ?? 30;
  const lines = [
    '$ORIGIN cluster.local.',
    `$TTL ${ttl}`,
    `@ ${opts.soaTtl ?? ttl} IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 ${opts.soaMinimum ?? ttl}`,
    '@ IN NS ns.dns.cluster.local.',
    'ns.dns IN A 10.96.0.10',
    'kubernetes.default.svc IN A 10.96.0.1',
    'web.prod.svc IN A 10.96.3.7',
    'web.prod.svc IN AAAA fd00::3:7',
    'api.prod.svc IN A 10.96.3.8',
    'alias.prod.svc IN CNAME web.prod.svc.cluster.local.',
    'txt.prod.svc IN TXT "hello"',
  ];
  const n = opts.headless ?? 120;
  for (let i = 0; i < n; i++) lines.push(`big.prod.svc IN A 10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  return lines.join('\n') + '\n';
}

export function reverseZone(): string {
  return [
    '$ORIGIN 10.in-addr.arpa.',
    '$TTL 30',
    '@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30',
    '@ IN NS ns.dns.cluster.local.',
    '7.3.96 IN PTR web.prod.svc.cluster.local.',
    '',
  ].join('\n');
}
