// The HTTP endpoints: /metrics (Prometheus text), /health (CoreDNS health: 200 "OK" while up,
// still 200 during lameduck), /ready (200 once serving and an upstream per zone is reachable).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { BindError } from '../errors.js';

export interface HttpRoutes {
  registry?: Registry;
  health?: () => boolean;
  ready?: () => { ok: boolean; reason: string };
}

export class HttpEndpoint {
  private readonly server: Server;

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
    try {
      if (path === '/metrics' && this.routes.registry) {
        const body = await this.routes.registry.metrics();
        res.writeHead(200, { 'Content-Type': this.routes.registry.contentType });
        res.end(body);
      } else if (path === '/health' && this.routes.health) {
        const ok = this.routes.health();
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
        res.end(ok ? 'OK' : 'shutting down');
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
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
