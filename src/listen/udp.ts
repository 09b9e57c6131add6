// UDP listeners: one socket per local address; every datagram goes straight to the handler.
// Two implementations of one contract: the native batch I/O (udp-batch.ts), used when its addon
// is built, and node:dgram (this file), the fallback and the reference.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { BindError, UdpIoUnavailableError } from '../errors.js';
import type { QueryHandler } from '../resolve/query-handler.js';
import type { UdpIo } from '../config/types.js';
import { nativeUdp } from './native.js';
import { BatchUdpListener } from './udp-batch.js';
import type { Peer } from '../observe/query-log.js';
import type { ReplySink } from '../resolve/waiter.js';

export interface UdpServer {
  readonly io: 'batch' | 'dgram';
  listen(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The listener for `io`: `auto` takes the batch I/O when its addon loaded and node:dgram
 * otherwise; `batch` without the addon is an error that says why it is missing.
 */
export function createUdpListener(host: string, port: number, handler: QueryHandler, io: UdpIo): UdpServer {
  if (io === 'dgram') return new UdpListener(host, port, handler);
  const { mod, why } = nativeUdp();
  if (mod !== null) return new BatchUdpListener(host, port, handler, mod);
  if (io === 'batch') throw new UdpIoUnavailableError(`UDP I/O "batch" asked for, but its addon is not available: ${why}`);
  return new UdpListener(host, port, handler);
}

export class UdpListener implements ReplySink, UdpServer {
  readonly tcp = false;
  readonly reusesQuery = false;
  readonly io = 'dgram';
  private readonly socket: Socket;
  private readonly family: number;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly handler: QueryHandler,
  ) {
    this.family = isIPv6(host) ? 1 : 0;
    // Large receive buffer: glibc/musl bursts (A+AAAA × search domains) arrive together.
    // Replies only ever go to the IP a query came from: a synchronous identity lookup spares
    // dgram's dns.lookup + nextTick trampoline on every send (~6 % of hit-path CPU, bench/profile.mjs).
    this.socket = createSocket({ type: this.family ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, lookup: identityLookup });
    this.socket.on('message', (msg, rinfo) => this.handler.handle(msg, this, rinfo.address, rinfo.port, this.family));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new BindError(`udp ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      this.socket.once('error', onError);
      this.socket.bind({ address: this.host, port: this.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        // after binding, a send error (e.g. EHOSTUNREACH for one client) must not kill the listener
        this.socket.on('error', () => {});
        resolve();
      });
    });
  }

  // node:dgram and TCP write each reply from a Buffer of its own: no in-place replies.
  readonly slab = null;
  reserve(): number {
    return -1;
  }
  sendWritten(): void {}

  send(reply: Buffer, address: Peer, port: number): void {
    // A miss that completes while the agent stops finds the socket closed: the client is gone.
    if (this.closed) return;
    this.socket.send(reply, port, address as string); // this listener only hands out strings
  }

  close(): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
  }
}

function identityLookup(address: string, family: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  callback(null, address, typeof family === 'number' ? family : isIPv6(address) ? 6 : 4);
}
