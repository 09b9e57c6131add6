// Child processes for the bench: every process started here is remembered by pid and stopped
// by pid (SIGTERM, then SIGKILL) on normal exit, on error and on SIGINT/SIGTERM of the harness.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

const started = new Set();
let interruptedBy = null;

/** The signal that interrupted the harness, or null: what fails after it is the stop, not a result. */
export function interrupted() {
  return interruptedBy;
}

/** Start `argv` (optionally pinned with `taskset -c cpu`, which execs, so the pid is the server's). */
export function start(argv, { cpu, env, name } = {}) {
  if (interruptedBy) throw new Error(`not starting ${argv[0]}: interrupted by ${interruptedBy}`);
  const full = cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
  const child = spawn(full[0], full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  child.benchName = name ?? argv[0];
  child.output = '';
  const keep = (d) => {
    // Keep only the tail: a server that logs per query must not grow the harness without bound.
    child.output = (child.output + d.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

export async function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

export async function stopAll() {
  await Promise.all([...started].map(stop));
}

/**
 * On SIGINT or SIGTERM: say so, start nothing more, stop everything started (by pid), run
 * `cleanup` (temporary files), exit 130 or 143 as a shell would. A second signal kills at once.
 */
export function stopAllOnSignals(cleanup = () => {}) {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
    process.once(sig, () => {
      interruptedBy = sig;
      console.error(`[bench] ${sig}: stopping ${started.size} child process(es) and removing temporary files; no results written`);
      stopAll().finally(() => {
        cleanup();
        process.exit(code);
      });
    });
  }
}

/** Run a command to completion, bounded by `timeoutMs`; resolves { code, stdout, stderr }. */
// `stdoutFd`: send stdout straight to a file (per-query dnsperf output stays out of the harness).
export function run(argv, { cpu, timeoutMs = 15_000, stdoutFd } = {}) {
  if (interruptedBy) return Promise.reject(new Error(`not running ${argv[0]}: interrupted by ${interruptedBy}`));
  const full = cpu === undefined ? argv : ['taskset', '-c', String(cpu), ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(full[0], full.slice(1), { stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'] });
    started.add(child);
    const out = [];
    let stderr = '';
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => (stderr = (stderr + d.toString()).slice(-8000)));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(t);
      started.delete(child);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      started.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr });
    });
  });
}

/** pid and every descendant (a server that forks workers is measured as a whole). */
export function processTree(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(statFields(Number(entry))[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch {
      // the process exited while we walked /proc
    }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}

// Fields after "(comm)", so index 0 is field 3 (state) of proc(5).
function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return s.slice(s.lastIndexOf(')') + 2).split(' ');
}

const CLK_TCK = 100; // getconf CLK_TCK on Linux x86-64 and arm64

/** utime + stime of the process tree, in microseconds (all threads included). */
export function cpuMicros(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const f = statFields(p);
      ticks += Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15
    } catch {
      // exited
    }
  }
  return (ticks * 1e6) / CLK_TCK;
}

/**
 * On-CPU time of the process tree in microseconds, summed over every thread's schedstat, which
 * counts in nanoseconds: utime and stime count 10 ms ticks, too coarse for a process that uses a
 * few ms of CPU a second. A thread that exits takes its time with it (idle phases only).
 */
export function cpuSchedMicros(pid) {
  let ns = 0;
  for (const p of processTree(pid)) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // exited
    }
    for (const t of tasks) {
      try {
        ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // exited
      }
    }
  }
  return ns / 1000;
}

/** VmRSS of the process tree in KiB. */
export function rssKiB(pid, field = 'VmRSS') {
  const re = new RegExp(`${field}:\\s+(\\d+)`);
  let kib = 0;
  for (const p of processTree(pid)) {
    try {
      const m = re.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
    } catch {
      // exited
    }
  }
  return kib;
}

/**
 * The anonymous part of the tree's RSS (RssAnon): heap, stacks, buffers. The rest is pages of
 * files (the executable, libraries) that the kernel can drop and read again, so this is the part
 * a memory limit cannot take back without killing the process.
 */
export function rssAnonKiB(pid) {
  return rssKiB(pid, 'RssAnon');
}

/** Busy time of one CPU since boot in microseconds, from /proc/stat (all but idle and iowait). */
export function cpuBusyMicros(cpu) {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user + nice + system + irq + softirq + steal) * 1e6) / CLK_TCK;
}
