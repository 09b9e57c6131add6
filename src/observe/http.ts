// The HTTP endpoints: /metrics (Prometheus text), /health (CoreDNS health: 200 "OK" while up,
// still 200 during lameduck), /ready (200 once serving and an upstream per zone is reachable).
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AgentRegistry } from './exposition.js';
import { BindError } from '../errors.js';
import { answerProbe, HealthProbe, healthBody, type HealthStats } from './self-probe.js';
import type { Logger } from './log.js';
import { joinHostPort } from '../config/flags.js';

export interface HttpRoutes {
  registry?: Pick<AgentRegistry, 'metrics' | 'contentType'>;
  health?: () => boolean;
  ready?: () => { ok: boolean; reason: string };
  /** With `health`: probe our own /health every second into these stats (CoreDNS does). */
  healthStats?: HealthStats;
  log?: Logger;
}

export class HttpEndpoint {
  private readonly server: Server;
  private probe: HealthProbe | null = null;
  /** node:http's own handler of a new connection, which the probe's connection bypasses. */
  private readonly httpConnection: ((socket: Socket) => void) | null = null;
  /** The server side of the probe's connection, closed with the endpoint. */
  private probeSide: Socket | null = null;
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly routes: HttpRoutes,
  ) {
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.keepAliveTimeout = 5_000;
    // The once-a-second self-probe through node:http's server cost 1.1 ms of the event loop a
    // probe (request parsing, an IncomingMessage and a ServerResponse: code run once a second and
    // never optimised), by hand 0.4 ms; so its connection is answered by hand (answerProbe) and
    // every other one (kubelet, Prometheus, curl) goes to node:http as before. node:http registers
    // one 'connection' listener of its own; should that ever differ, everything stays with it.
    const listeners = this.server.listeners('connection');
    if (routes.health && routes.healthStats && listeners.length === 1) {
      this.httpConnection = listeners[0] as (socket: Socket) => void;
      this.server.removeListener('connection', this.httpConnection);
      this.server.on('connection', (socket: Socket) => this.accept(socket));
    }
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const probe = this.probe;
    const own = probe !== null && probe.ownsConnection(socket.remoteAddress, socket.remotePort);
    if (own === undefined) {
      // Accepted before the probe's connect completed on its side: decide once it has.
      probe!.whenConnected(() => this.accept(socket));
      return;
    }
    if (own) {
      this.probeSide?.destroy();
      this.probeSide = socket;
      answerProbe(socket, this.routes.health!);
      return;
    }
    this.httpConnection!.call(this.server, socket);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    // Date is required on these replies (RFC 9110 §6.6.1) and written here, not by node:http: its
    // cached Date string is reset by a timer due at the next whole second after every reply, so
    // the once-a-second self-probe woke an idle agent a second time each second (4.3 wake-ups a
    // second with the others, 3.3 without it; second-tick.ts).
    res.setHeader('Date', new Date().toUTCString());
    try {
      if (path === '/metrics' && this.routes.registry) {
        const body = await this.routes.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.routes.registry.contentType });
        res.end(body);
      } else if (path === '/health' && this.routes.health) {
        const ok = this.routes.health();
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(healthBody(ok));
      } else if (path === '/ready' && this.routes.ready) {
        const r = this.routes.ready();
        res.writeHead(r.ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(r.ok ? 'OK' : r.reason);
      } else {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not found');
      }
    } catch (err) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    }
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new BindError(`http ${this.host}:${this.port}: ${err.message}`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen({ host: this.host || undefined, port: this.port }, () => {
        this.server.off('error', onError);
        this.startProbe();
        resolve();
      });
    });
  }

  private startProbe(): void {
    const { health, healthStats, log } = this.routes;
    if (!health || !healthStats) return;
    const host = !this.host || this.host === '0.0.0.0' ? '127.0.0.1' : this.host === '::' ? '::1' : this.host;
    const port = (this.server.address() as AddressInfo).port;
    const url = `http://${joinHostPort(host, port)}/health`;
    this.probe = new HealthProbe(url, healthStats, (msg, fields) => log?.warn(msg, fields));
    this.probe.start();
  }

  close(): Promise<void> {
    this.closed = true;
    this.probe?.stop();
    this.probe = null;
    this.probeSide?.destroy();
    this.probeSide = null;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
