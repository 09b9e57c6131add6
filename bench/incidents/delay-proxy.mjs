// A delaying proxy in front of one CoreDNS replica (the "2 s slow replica" fault): UDP and TCP on
// listen ip:port, relayed to target ip:port. Queries pass at once until SIGUSR1, then every
// datagram and every TCP chunk toward the replica waits delayMs (order kept); SIGUSR2 ends the
// delay. Answers are not delayed. The DNS server behind stays the real one.
// argv: LISTEN_IP PORT TARGET_IP TARGET_PORT DELAY_MS
import dgram from 'node:dgram';
import net from 'node:net';

const [listenIp, port, targetIp, targetPort, delayArg] = process.argv.slice(2);
let delay = 0;
process.on('SIGUSR1', () => (delay = Number(delayArg)));
process.on('SIGUSR2', () => (delay = 0));
const later = (fn) => (delay > 0 ? setTimeout(fn, delay) : fn());

const front = dgram.createSocket('udp4');
const flows = new Map(); // client "ip:port" → socket toward the replica
front.on('message', (msg, rinfo) => {
  const key = `${rinfo.address}:${rinfo.port}`;
  let back = flows.get(key);
  if (!back) {
    back = dgram.createSocket('udp4');
    back.on('message', (answer) => front.send(answer, rinfo.port, rinfo.address));
    back.on('error', () => {});
    // A flow idle for 30 s is dropped, as a conntrack entry would be.
    back.idle = setTimeout(() => { flows.delete(key); back.close(); }, 30_000);
    flows.set(key, back);
  }
  back.idle.refresh();
  later(() => back.send(msg, Number(targetPort), targetIp, () => {}));
});
front.bind(Number(port), listenIp);

net.createServer((client) => {
  const upstream = net.connect(Number(targetPort), targetIp);
  upstream.on('data', (d) => client.write(d));
  client.on('data', (d) => later(() => upstream.writable && upstream.write(d)));
  const close = () => { client.destroy(); upstream.destroy(); };
  client.on('error', close).on('close', () => later(close));
  upstream.on('error', close).on('close', close);
}).listen(Number(port), listenIp, () => console.log('ready'));
