// The Node client of the incident bench: dns.lookup (getaddrinfo on libuv's thread pool, glibc's
// resolver under it), open loop at a fixed rate, one line per lookup in lookup-load.c's format:
// "start_ms latency_ms ok addresses". argv: RATE SECONDS NAME[,NAME...]. A lookup still running
// 5.5 s after the last start is printed with latency -1.
import { lookup } from 'node:dns';

const [rate, seconds] = [Number(process.argv[2]), Number(process.argv[3])];
const names = process.argv[4].split(',');
const total = Math.floor(rate * seconds);
const open = new Map();
const begin = performance.now();
let i = 0;

function next() {
  if (i >= total) return finish();
  const n = i++;
  const start = Date.now();
  const t0 = performance.now();
  open.set(n, start);
  lookup(names[n % names.length], { all: true }, (err, addrs) => {
    if (!open.delete(n)) return;
    process.stdout.write(`${start} ${(performance.now() - t0).toFixed(1)} ${err ? 0 : 1} ${err ? 0 : addrs.length}\n`);
  });
  setTimeout(next, Math.max(0, begin + (i * 1000) / rate - performance.now()));
}

function finish() {
  const deadline = Date.now() + 5500;
  const t = setInterval(() => {
    if (open.size > 0 && Date.now() < deadline) return;
    clearInterval(t);
    for (const start of open.values()) process.stdout.write(`${start} -1 0 0\n`);
    process.exit(0);
  }, 100);
}

next();
