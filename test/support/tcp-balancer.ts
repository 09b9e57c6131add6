// A TCP load balancer in front of real servers, as IPVS stands in front of CoreDNS pods behind one
// Service IP: it picks a backend round-robin per accepted connection and then only relays bytes.
// Backends can be added while it runs (a pod scaled up). It counts, per backend and per client
// connection, the DNS messages relayed each way (2-byte length framing), so a test can say which
// backend carried load and whether a connection the client closed still had queries unanswered.
import { createServer, Socket, type Server } from 'node:net';

export interface Backend {
  host: string;
  port: number;
  connections: number;
  queries: number;
  answers: number;
}

export interface RelayedConnection {
  backend: Backend;
  openedAt: number;
  closedAt: number; // 0 while open
  queries: number;
  answers: number;
  /** The client (our agent) closed it, rather than the backend or the balancer. */
  closedByClient: boolean;
}

export interface TcpBalancer {
  host: string;
  port: number;
  backends: Backend[];
  connections: RelayedConnection[];
  addBackend(host: string, port: number): Backend;
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}

/** Counts whole length-prefixed messages in a byte stream. */
function frameCounter(onMessage: () => void): (chunk: Buffer) => void {
  let need = -1; // bytes left of the current message; -1 = reading the length
  let lenBytes: number[] = [];
  return (chunk) => {
    let i = 0;
    while (i < chunk.length) {
      if (need < 0) {
        lenBytes.push(chunk[i++]!);
        if (lenBytes.length === 2) {
          need = (lenBytes[0]! << 8) | lenBytes[1]!;
          lenBytes = [];
          if (need === 0) need = -1;
        }
        continue;
      }
      const take = Math.min(need, chunk.length - i);
      i += take;
      need -= take;
      if (need === 0) {
        need = -1;
        onMessage();
      }
    }
  };
}

export async function startTcpBalancer(host: string, port: number, first: { host: string; port: number }): Promise<TcpBalancer> {
  const sockets = new Set<Socket>();
  let next = 0;
  const server: Server = createServer((client) => {
    const backend = lb.backends[next++ % lb.backends.length]!;
    backend.connections++;
    const rc: RelayedConnection = { backend, openedAt: Date.now(), closedAt: 0, queries: 0, answers: 0, closedByClient: false };
    lb.connections.push(rc);
    const upstream = new Socket();
    sockets.add(client);
    sockets.add(upstream);
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    const countQuery = frameCounter(() => {
      rc.queries++;
      backend.queries++;
    });
    const countAnswer = frameCounter(() => {
      rc.answers++;
      backend.answers++;
    });
    client.on('data', (d: Buffer) => {
      countQuery(d);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      countAnswer(d);
      client.write(d);
    });
    const done = (): void => {
      if (rc.closedAt === 0) rc.closedAt = Date.now();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('end', () => {
      rc.closedByClient = rc.closedAt === 0;
      done();
    });
    client.on('error', done);
    client.on('close', done);
    upstream.on('error', done);
    upstream.on('close', done);
    upstream.connect({ host: backend.host, port: backend.port });
  });
  const lb: TcpBalancer = {
    host,
    port,
    backends: [],
    connections: [],
    addBackend(h, p) {
      const b: Backend = { host: h, port: p, connections: 0, queries: 0, answers: 0 };
      lb.backends.push(b);
      return b;
    },
    open: () => lb.connections.filter((c) => c.closedAt === 0).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  lb.addBackend(first.host, first.port);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return lb;
}
