// The agent's HTTP addresses: `prometheus`, `health` and `ready` of every server block plus
// -metrics-listen-address, one server per address whatever it serves. A reload closes the
// addresses no longer named and opens the new ones; an address kept keeps its server.
import type { AgentRegistry } from '../observe/exposition.js';
import { joinHostPort } from '../config/flags.js';
import type { AgentConfig } from '../config/types.js';
import { HttpEndpoint } from '../observe/http.js';
import type { Logger } from '../observe/log.js';
import type { HealthStats } from '../observe/self-probe.js';

interface Wanted {
  host: string;
  port: number;
  metrics: boolean;
  health: boolean;
  ready: boolean;
}

export interface EndpointRoutes {
  registry: AgentRegistry;
  healthy(): boolean;
  readiness(): { ok: boolean; reason: string };
  healthStats: HealthStats;
  log: Logger;
}

export class HttpEndpoints {
  private readonly endpoints = new Map<string, HttpEndpoint>();

  constructor(
    private readonly routes: EndpointRoutes,
    /** node-cache's -metrics-listen-address: /metrics there too. */
    private readonly metricsListenAddress: { host: string; port: number } | null,
  ) {}

  async apply(config: AgentConfig): Promise<void> {
    const want = new Map<string, Wanted>();
    const addr = (host: string, port: number, kind: 'metrics' | 'health' | 'ready'): void => {
      const id = joinHostPort(host, port);
      const e = want.get(id) ?? { host, port, metrics: false, health: false, ready: false };
      e[kind] = true;
      want.set(id, e);
    };
    for (const s of config.servers) {
      if (s.prometheus) addr(s.prometheus.host, s.prometheus.port, 'metrics');
      if (s.health) addr(s.health.host, s.health.port, 'health');
      if (s.ready) addr(s.ready.host, s.ready.port, 'ready');
    }
    const extra = this.metricsListenAddress;
    if (extra) addr(extra.host, extra.port, 'metrics');
    for (const [id, ep] of this.endpoints) {
      if (!want.has(id)) {
        this.endpoints.delete(id);
        await ep.close();
      }
    }
    const r = this.routes;
    for (const [id, w] of want) {
      if (this.endpoints.has(id)) continue;
      const ep = new HttpEndpoint(w.host, w.port, {
        registry: w.metrics ? r.registry : undefined,
        health: w.health ? () => r.healthy() : undefined,
        ready: w.ready ? () => r.readiness() : undefined,
        healthStats: r.healthStats,
        log: r.log,
      });
      await ep.listen();
      this.endpoints.set(id, ep);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.endpoints.values()].map((h) => h.close()));
    this.endpoints.clear();
  }
}
