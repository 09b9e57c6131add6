// One query over UDP to an upstream: a fresh socket (random source port) and a random ID per
// query; only a reply from the queried address and port, with our ID and question, is accepted
// (RFC 5452 §9.1). Anything else is counted and ignored while we keep waiting.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { randomInt } from 'node:crypto';
import { questionMatches } from '../dns/answer.js';
import { UpstreamError } from '../errors.js';

export interface UdpExchangeHandle {
  cancel(): void;
}

export function udpExchange(
  host: string,
  port: number,
  query: Buffer,
  qname: Buffer,
  qtype: number,
  qclass: number,
  onMismatch: () => void,
  done: (err: Error | null, response: Buffer | null) => void,
): UdpExchangeHandle {
  const sock: Socket = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  const id = randomInt(0, 0x10000);
  const msg = Buffer.from(query);
  msg.writeUInt16BE(id, 0);
  let finished = false;
  const finish = (err: Error | null, res: Buffer | null): void => {
    if (finished) return;
    finished = true;
    sock.close();
    done(err, res);
  };
  sock.on('error', (err) => finish(new UpstreamError(`udp ${host}:${port}: ${err.message}`, { cause: err }), null));
  sock.on('message', (res, rinfo) => {
    if (
      rinfo.address !== host ||
      rinfo.port !== port ||
      res.length < 12 ||
      res.readUInt16BE(0) !== id ||
      !questionMatches(res, qname, qtype, qclass)
    ) {
      onMismatch();
      return;
    }
    finish(null, res);
  });
  sock.send(msg, port, host, (err) => {
    if (err) finish(new UpstreamError(`udp ${host}:${port}: ${err.message}`, { cause: err }), null);
  });
  return {
    cancel() {
      if (finished) return;
      finished = true;
      sock.close();
    },
  };
}
