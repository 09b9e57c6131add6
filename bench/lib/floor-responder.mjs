#!/usr/bin/env node
// The floor: the least a Node dgram server can do per query. It answers every A question with
// one fixed A record (no cache, no parsing beyond the question's end, no metrics), through the
// same node:dgram socket calls the agent uses. Its max qps is the ceiling of any agent built on
// node:dgram on this machine; the gap between it and the agent is the agent's own work.
// Usage: node floor-responder.mjs IP PORT
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

const [ip, port] = process.argv.slice(2);
const ANSWER = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]); // A 10.0.0.1, TTL 30
const socket = createSocket({ type: isIPv6(ip) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, lookup: (a, _f, cb) => cb(null, a, isIPv6(a) ? 6 : 4) });
socket.on('message', (msg, rinfo) => {
  let p = 12;
  while (p < msg.length && msg[p] !== 0) p += msg[p] + 1;
  const qend = p + 5;
  if (msg.length < 12 || qend > msg.length) return;
  const out = Buffer.allocUnsafe(qend + ANSWER.length);
  out.set(msg.subarray(0, qend), 0);
  out.set(ANSWER, qend);
  out[2] = 0x80 | (msg[2] & 0x01); // QR, RD copied
  out[3] = 0x80; // RA, NOERROR
  out[6] = 0;
  out[7] = 1; // ANCOUNT 1
  out[8] = out[9] = out[10] = out[11] = 0;
  socket.send(out, rinfo.port, rinfo.address);
});
socket.bind(Number(port), ip);
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
