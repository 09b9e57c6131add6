// Addresses for the bench: each server gets its own random 127.x.y.z and a port that is free
// for both UDP and TCP there, so the bench can run beside the test suite without collisions.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { run } from './procs.mjs';

const used = new Set();

export function randomLoopback() {
  for (;;) {
    const b = () => 1 + Math.floor(Math.random() * 253);
    const ip = `127.${b()}.${b()}.${b()}`;
    if (!used.has(ip)) {
      used.add(ip);
      return ip;
    }
  }
}

function udpFree(ip, port) {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, ip, () => s.close(() => resolve(true)));
  });
}

function tcpFree(ip, port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, ip, () => s.close(() => resolve(true)));
  });
}

export async function freePort(ip) {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    if ((await udpFree(ip, port)) && (await tcpFree(ip, port))) return port;
  }
  throw new Error(`no free port on ${ip} after 50 tries`);
}

/** Resolves once `name` gets an answer from ip:port over UDP, or throws after `timeoutMs`. */
export async function waitForAnswer(ip, port, name, { timeoutMs = 10_000, child } = {}) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`${child.benchName} exited ${child.exitCode}: ${child.output}`);
    const r = await run(['dig', `@${ip}`, '-p', String(port), name, 'A', '+short', '+time=1', '+tries=1'], { timeoutMs: 3000 });
    if (r.code === 0 && r.stdout.trim() !== '' && !r.stdout.includes(';;')) return r.stdout.trim();
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`${ip}:${port} did not answer ${name} within ${timeoutMs} ms${child ? ': ' + child.output : ''}`);
}

/**
 * Upstream TCP connections toward ip:port, from `ss -tnp`: local ip:port → owning pid (0 when
 * no process owns it any more, e.g. TIME-WAIT), so a connection is counted once however many
 * samples see it, and one left over from a server measured before can be told apart.
 */
export async function tcpPeersTo(ip, port) {
  const r = await run(['ss', '-Htnp', 'state', 'all', 'dst', `${ip}:${port}`], { timeoutMs: 3000 });
  const locals = new Map();
  for (const line of r.stdout.split('\n')) {
    // Columns: [state] recv-q send-q local peer [users:((...,pid=N,...))]; the first address:port column is ours.
    const local = line.trim().split(/\s+/).find((c) => /^\S+:\d+$/.test(c));
    if (local) locals.set(local, Number(/pid=(\d+)/.exec(line)?.[1] ?? 0));
  }
  return locals;
}
