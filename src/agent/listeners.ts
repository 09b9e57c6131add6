// The DNS listeners of the agent, keyed by address:port: each a UDP and a TCP socket in front of
// one QueryHandler. A reload opens the addresses it adds before anything else changes, then swaps
// each kept listener's zone table whole and closes the addresses it drops; a listener that stays
// is never rebound. The per-zone and per-listener counters outlive the listeners (Prometheus
// counters must not go back to zero on a reload).
import type { UdpIo } from '../config/types.js';
import { nativeUdp } from '../listen/native.js';
import { TcpListener } from '../listen/tcp.js';
import { createUdpListener, type UdpServer } from '../listen/udp.js';
import type { BlockRuntime } from '../resolve/block.js';
import { QueryHandler } from '../resolve/query-handler.js';
import { ListenerStats, ZoneStats } from '../resolve/stats.js';
import { blockRoutes, ZoneTable, type Route } from '../resolve/zone-table.js';
import { joinHostPort, parseHostPort } from '../config/flags.js';

interface Listener {
  server: string; // "dns://127.0.0.1:5353"
  handler: QueryHandler;
  udp: UdpServer;
  tcp: TcpListener;
}

/** The listeners a configuration wants, those opened for it so far; committed or rolled back whole. */
export interface ListenerChange {
  readonly wanted: Map<string, Route[]>;
  readonly opened: Map<string, Listener>;
}

export class ListenerSet {
  private readonly listeners = new Map<string, Listener>();
  private readonly zones = new Map<string, ZoneStats>();
  private readonly lstats = new Map<string, ListenerStats>();

  constructor(private readonly udpIo: UdpIo) {}

  /** Open the addresses `blocks` bind that are not open yet; on failure close what this call opened. */
  async open(blocks: BlockRuntime[]): Promise<ListenerChange> {
    const wanted = new Map<string, Route[]>();
    for (const b of blocks) {
      for (const host of b.config.bind) {
        const id = joinHostPort(host, b.config.port);
        const routes = wanted.get(id) ?? [];
        for (const zone of b.config.zones) routes.push(...blockRoutes(b, zone, this.zoneStatsFor(`dns://${id}`, zone)));
        wanted.set(id, routes);
      }
    }
    const change: ListenerChange = { wanted, opened: new Map() };
    try {
      for (const [id, routes] of wanted) {
        if (this.listeners.has(id)) continue;
        const [host, port] = splitId(id);
        const server = `dns://${id}`;
        const ls = this.lstats.get(server) ?? new ListenerStats(server);
        this.lstats.set(server, ls);
        const handler = new QueryHandler(new ZoneTable(routes), ls);
        const l: Listener = { server, handler, udp: createUdpListener(host, port, handler, this.udpIo), tcp: new TcpListener(host, port, handler, ls) };
        await l.udp.listen();
        change.opened.set(id, l);
        await l.tcp.listen();
      }
    } catch (err) {
      await this.rollback(change);
      throw err;
    }
    return change;
  }

  async rollback(change: ListenerChange): Promise<void> {
    for (const l of change.opened.values()) await Promise.all([l.udp.close(), l.tcp.close()]);
  }

  /** Serve `change`: new listeners join, kept ones get their new zone table, the rest close. */
  commit(change: ListenerChange): void {
    for (const [id, l] of change.opened) this.listeners.set(id, l);
    for (const [id, l] of this.listeners) {
      const routes = change.wanted.get(id);
      if (routes) l.handler.table = new ZoneTable(routes);
      else {
        this.listeners.delete(id);
        void Promise.all([l.udp.close(), l.tcp.close(5_000)]);
      }
    }
  }

  /** Stop reading UDP at once; TCP connections get until `deadline` (ms, Date.now) to finish. */
  async close(drained: () => Promise<void>, deadline: number): Promise<void> {
    const ls = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(ls.map((l) => l.udp.close()));
    await drained();
    await Promise.all(ls.map((l) => l.tcp.close(Math.max(0, deadline - Date.now()))));
  }

  /** Addresses listening now ("127.0.0.1:53", "[::1]:53"). */
  get ids(): string[] {
    return [...this.listeners.keys()];
  }

  /** Which UDP I/O the listeners use, and why node:dgram when the batch addon was not loaded. */
  udpIoText(): string {
    const l = this.listeners.values().next().value;
    if (l === undefined) return this.udpIo;
    if (l.udp.io === 'batch') return 'batch (recvmmsg/sendmmsg)';
    return this.udpIo === 'dgram' ? 'dgram (NODELOCALDNS_UDP_IO=dgram)' : `dgram (batch addon: ${nativeUdp().why})`;
  }

  zoneStats(): ZoneStats[] {
    return [...this.zones.values()];
  }

  listenerStats(): ListenerStats[] {
    return [...this.lstats.values()];
  }

  private zoneStatsFor(server: string, zone: string): ZoneStats {
    const key = `${server} ${zone}`;
    let s = this.zones.get(key);
    if (!s) this.zones.set(key, (s = new ZoneStats(server, zone)));
    return s;
  }
}

function splitId(id: string): [string, number] {
  const { host, port } = parseHostPort(id)!;
  return [host, port];
}
