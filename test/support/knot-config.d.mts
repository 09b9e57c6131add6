export interface KnotConfigOptions {
  dir: string;
  address: string;
  port: number;
  zones: { domain: string; file: string }[];
  tcpMaxClients?: number;
  tcpWorkers?: number;
  /** null: knot's default. */
  tcpIoTimeoutMs?: number | null;
}
export function knotConfig(o: KnotConfigOptions): string;
