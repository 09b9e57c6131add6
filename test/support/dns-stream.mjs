// A bounded stream of DNS queries, run inside a namespace (`ip netns exec pod node dns-stream.mjs`):
// every intervalMs, one A query to each server from a fresh socket (as a stub resolver would),
// one try, timeoutMs each. One JSON line per query: {sent, server, rcode|null, ms}. Stops after
// durationMs, or on SIGTERM. `unique`: each query asks a name of its own under `name` (a cache
// miss every time, NXDOMAIN from a zone without it).
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';

const { servers, port = 53, name, intervalMs = 50, durationMs = 8000, timeoutMs = 1000, unique = false } = JSON.parse(process.argv[2]);
const runId = Math.random().toString(36).slice(2, 8);
let seq = 0;
const end = Date.now() + Math.min(durationMs, 30_000);
let outstanding = 0;

function query(server) {
  const sent = Date.now();
  const id = Math.floor(Math.random() * 65536);
  const sock = dgram.createSocket(server.includes(':') ? 'udp6' : 'udp4');
  outstanding++;
  let done = false;
  const finish = (rcode) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    sock.close();
    outstanding--;
    process.stdout.write(JSON.stringify({ sent, server, rcode, ms: Date.now() - sent }) + '\n');
  };
  const timer = setTimeout(() => finish(null), timeoutMs);
  sock.on('error', () => finish(null));
  sock.on('message', (m) => {
    try {
      const p = dnsPacket.decode(m);
      if (p.id === id) finish(p.rcode ?? 'NOERROR');
    } catch {
      finish('UNPARSEABLE');
    }
  });
  sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: unique ? `q${seq++}-${runId}.${name}` : name }] }), port, server);
}

const tick = setInterval(() => {
  if (Date.now() >= end) {
    clearInterval(tick);
    return;
  }
  for (const s of servers) query(s);
}, intervalMs);
process.on('SIGTERM', () => { clearInterval(tick); setTimeout(() => process.exit(0), timeoutMs + 100); });
process.on('beforeExit', () => { if (outstanding === 0 && Date.now() >= end) process.exit(0); });
