// The HTTP endpoints: /metrics (Prometheus text), /health (CoreDNS health: 200 "OK" while up,
// still 200 during lameduck), /ready (200 once serving and an upstream per zone is reachable).
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AgentRegistry } from './exposition.js';
import { BindError } from '../errors.js';
import { HealthProbe, type HealthStats } from './self-probe.js';
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

  constructor(
    readonly host: string,
    readonly port: number,
    private readonly routes: HttpRoutes,
  ) {
    this.server = createServer((req, res) => void this.serve(req, res));
    this.server.keepAliveTimeout = 5_000;
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
        res.end(ok ? 'OK' : 'not serving');
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
    this.probe?.stop();
    this.probe = null;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
