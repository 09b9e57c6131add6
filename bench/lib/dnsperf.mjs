// dnsperf (Debian's 2.10) pinned to CPU 1, and the figures read from its report. This dnsperf
// has no latency histogram, so p99 and p99.9 come from its per-query `-v` lines ("> NOERROR name A 0.000123"),
// written to a file by dnsperf itself and read after the run.
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { run } from './procs.mjs';

export const CLIENT_CPU = 1;

/**
 * One dnsperf run against server {ip, port}. `seconds` bounds it (-l); `qps` fixes the rate (-Q);
 * `once` stops at the end of the file (-n 1); `latencyFile` turns on per-query output for p99 and p99.9.
 */
export async function dnsperf(server, queryFile, { seconds, qps, once = false, outstanding = 200, clients = 4, latencyFile, mode = 'udp' } = {}) {
  const argv = ['dnsperf', '-s', server.ip, '-p', String(server.port), '-d', queryFile, '-c', String(clients), '-q', String(outstanding), '-t', '2', '-m', mode];
  if (seconds !== undefined) argv.push('-l', String(seconds));
  if (qps !== undefined) argv.push('-Q', String(qps));
  if (once) argv.push('-n', '1');
  if (latencyFile) argv.push('-v');
  const fd = latencyFile ? openSync(latencyFile, 'w') : undefined;
  const bound = ((seconds ?? 10) + 10) * 1000;
  let r;
  try {
    r = await run(argv, { cpu: CLIENT_CPU, timeoutMs: bound, stdoutFd: fd });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const text = latencyFile ? readFileSync(latencyFile, 'utf8') : r.stdout;
  const stats = parseReport(text);
  if (stats.completed === undefined) throw new Error(`dnsperf ${argv.join(' ')} failed (${r.code}): ${r.stderr}${text.slice(-2000)}`);
  stats.command = `taskset -c ${CLIENT_CPU} ${argv.join(' ')}`;
  if (latencyFile) {
    const latencies = perQueryLatencies(text);
    stats.p99 = percentile(latencies, 0.99);
    stats.p999 = percentile(latencies, 0.999);
    rmSync(latencyFile, { force: true });
  }
  return stats;
}

function num(text, re) {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
}

export function parseReport(text) {
  return {
    sent: num(text, /Queries sent:\s+(\d+)/),
    completed: num(text, /Queries completed:\s+(\d+)/),
    lost: num(text, /Queries lost:\s+(\d+)/),
    noerror: num(text, /NOERROR (\d+)/),
    runSeconds: num(text, /Run time \(s\):\s+([\d.]+)/),
    qps: num(text, /Queries per second:\s+([\d.]+)/),
    avgLatency: num(text, /Average Latency \(s\):\s+([\d.]+)/),
  };
}

// "> NOERROR n1.bench.svc.cluster.local A 0.000123": the answered queries' latencies in seconds.
function perQueryLatencies(text) {
  const out = [];
  let i = 0;
  while ((i = text.indexOf('\n> ', i)) !== -1) {
    const end = text.indexOf('\n', i + 1);
    const line = text.slice(i + 1, end === -1 ? undefined : end);
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.split(' ').length === 5 && Number.isFinite(v)) out.push(v);
    i = end === -1 ? text.length : end;
  }
  return Float64Array.from(out);
}

export function percentile(values, p) {
  if (values.length === 0) return undefined;
  const sorted = values.slice().sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
