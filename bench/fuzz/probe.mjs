// What the harness checks between phases: the agent still runs, its answers for known names
// match knot's (UDP and TCP), and how much memory it holds: VmRSS/VmHWM of the process tree from
// /proc, and the V8 heap through the inspector (opened with SIGUSR1 on the --inspect-port the
// harness chose), so the agent carries no debug endpoint of its own.
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { processTree } from '../lib/procs.mjs';
import dnsPacket from 'dns-packet';
import { WebSocket } from 'undici';

export const KNOWN = [
  ['n1.bench.svc.cluster.local', 'A'],
  ['n2.bench.svc.cluster.local', 'AAAA'],
  ['kubernetes.default.svc.cluster.local', 'A'],
  ['nope.bench.svc.cluster.local', 'A'],
  ['x.miss.svc.cluster.local', 'A'],
];

function encode(name, type, id) {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

/** rcode and the sorted answer data: what a client would act on (TTLs age, so they are left out). */
function summary(buf) {
  const m = dnsPacket.decode(buf);
  return JSON.stringify({ rcode: m.rcode, answers: m.answers.map((a) => `${a.name} ${a.type} ${JSON.stringify(a.data)}`).sort() });
}

export function askUdp(host, port, name, type, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const id = (Math.random() * 0xffff) | 0;
    const t = setTimeout(() => {
      s.close();
      reject(new Error(`no UDP answer from ${host}:${port} for ${name} ${type}`));
    }, timeoutMs);
    s.on('message', (m) => {
      if (m.readUInt16BE(0) !== id) return;
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(encode(name, type, id), port, host);
  });
}

export function askTcp(host, port, name, type, timeoutMs = 2000) {
  return new Promise((resolve, reject) => {
    const q = encode(name, type, 7);
    const s = connect({ host, port });
    let got = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no TCP answer from ${host}:${port} for ${name} ${type}`));
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) {
        clearTimeout(t);
        s.destroy();
        resolve(got.subarray(2, 2 + got.readUInt16BE(0)));
      }
    });
    s.once('connect', () => s.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
  });
}

async function retry(fn) {
  let last;
  for (let i = 0; i < 3; i++) {
    try {
      return await fn();
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** Every known name over UDP and TCP against knot's answer; returns the mismatches as text. */
export async function checkAnswers(agent, knot) {
  const wrong = [];
  for (const [name, type] of KNOWN) {
    const want = summary(await retry(() => askUdp(knot.ip, knot.port, name, type)));
    for (const [proto, ask] of [['udp', askUdp], ['tcp', askTcp]]) {
      let got;
      try {
        got = summary(await retry(() => ask(agent.ip, agent.port, name, type)));
      } catch (e) {
        got = `error: ${e.message}`;
      }
      if (got !== want) wrong.push(`${proto} ${name} ${type}: agent ${got}, knot ${want}`);
    }
  }
  return wrong;
}

function statusKiB(pid, field) {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}


/** CPU seconds (user + system) the process tree has used so far. */
export function cpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    } catch {
      // a child that exited
    }
  }
  return ticks / 100; // USER_HZ
}

/** RSS now and its high-water mark, MiB, summed over the process tree. */
export function rss(pid) {
  let now = 0;
  let hwm = 0;
  for (const p of processTree(pid)) {
    try {
      now += statusKiB(p, 'VmRSS');
      hwm += statusKiB(p, 'VmHWM');
    } catch {
      // a child that exited
    }
  }
  return { rssMiB: +(now / 1024).toFixed(1), hwmMiB: +(hwm / 1024).toFixed(1) };
}

/** A Chrome DevTools Protocol session with the agent, opened by SIGUSR1. */
export class Inspector {
  static async open(pid, host, port) {
    process.kill(pid, 'SIGUSR1');
    let list;
    for (let i = 0; i < 50 && !list; i++) {
      await new Promise((r) => setTimeout(r, 100));
      list = await fetch(`http://${host}:${port}/json/list`).then((r) => r.json(), () => undefined);
    }
    if (!list) throw new Error('inspector did not open');
    const ws = new WebSocket(list[0].webSocketDebuggerUrl);
    await new Promise((res, rej) => {
      ws.onopen = res;
      ws.onerror = rej;
    });
    return new Inspector(ws);
  }

  constructor(ws) {
    this.ws = ws;
    this.id = 0;
    this.waiting = new Map();
    this.onEvent = null;
    ws.onmessage = (ev) => {
      const m = JSON.parse(ev.data);
      if (m.id !== undefined) this.waiting.get(m.id)?.(m);
      else this.onEvent?.(m);
    };
  }

  call(method, params = {}) {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => {
        this.waiting.delete(id);
        if (m.error) reject(new Error(`${method}: ${m.error.message}`));
        else resolve(m.result);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** process.memoryUsage() in MiB; `gc` first runs a full collection (HeapProfiler.collectGarbage). */
  async heap(gc = false) {
    if (gc) await this.call('HeapProfiler.collectGarbage');
    const r = await this.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
    const u = JSON.parse(r.result.value);
    const mib = (v) => +(v / 1048576).toFixed(1);
    return { heapTotalMiB: mib(u.heapTotal), heapUsedMiB: mib(u.heapUsed), externalMiB: mib(u.external), arrayBuffersMiB: mib(u.arrayBuffers) };
  }

  /** A heap snapshot as text (HeapProfiler.takeHeapSnapshot chunks). */
  async snapshot() {
    const chunks = [];
    const prev = this.onEvent;
    this.onEvent = (m) => {
      if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params.chunk);
    };
    await this.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
    this.onEvent = prev;
    return chunks.join('');
  }

  close() {
    this.ws.close();
  }
}

/** coredns_cache_entries summed by type, from the agent's /metrics. */
export async function cacheEntries(metrics) {
  const text = await fetch(`http://${metrics}/metrics`).then((r) => r.text());
  const out = { success: 0, denial: 0 };
  for (const m of text.matchAll(/^coredns_cache_entries\{[^}]*type="(\w+)"[^}]*\} (\d+)/gm)) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  return out;
}
