// The typed configuration every other module reads. Parsers (flags, Corefile, kube-dns
// ConfigMap) produce it; nothing downstream looks at text.

/** One upstream server as `forward` lists it. */
export interface UpstreamAddress {
  host: string; // IPv4 or IPv6 literal, no brackets
  port: number;
}

export type ForwardPolicy = 'random' | 'round_robin' | 'sequential';

/** CoreDNS `forward` options (plugin/forward README), plus our own knobs. */
export interface ForwardConfig {
  from: string; // zone, lowercase, trailing dot ("." or "cluster.local.")
  to: UpstreamAddress[]; // 1..15
  except: string[]; // sub-zones not forwarded (lowercase, trailing dot)
  forceTcp: boolean;
  preferUdp: boolean;
  expireMs: number; // close a connection idle this long, and drain one this old (CoreDNS: 10 s idle)
  maxFails: number; // consecutive failures that mark an upstream down; 0 = never
  healthCheckMs: number; // probe period while down (CoreDNS: 500 ms)
  healthCheckNoRec: boolean;
  healthCheckDomain: string; // probe name, default "."
  policy: ForwardPolicy;
  maxConcurrent: number; // 0 = unlimited; beyond it → REFUSED
  attemptTimeoutMs: number; // per try (CoreDNS: 2 s)
  deadlineMs: number; // per client query (CoreDNS: 5 s)
  maxConnsPerUpstream: number; // pipelined TCP connections per upstream (ours)
  maxInflightPerConn: number; // open a further connection (up to the cap) beyond this (ours)
}

export type ServeStaleMode = 'immediate' | 'verify';

/** CoreDNS `cache` options (plugin/cache README). TTLs in seconds. */
export interface CacheConfig {
  zones: string[]; // empty = every zone of the block
  successCapacity: number;
  successMaxTtl: number;
  successMinTtl: number;
  denialCapacity: number;
  denialMaxTtl: number;
  denialMinTtl: number;
  servfailTtl: number; // 0 = do not cache SERVFAIL; max 300
  disableSuccess: boolean;
  disableDenial: boolean;
  /** `disable success ZONES...`: only these zones; absent or empty = every zone of the block. */
  disableSuccessZones?: string[];
  disableDenialZones?: string[];
  keepTtl: boolean;
  prefetch: { amount: number; durationMs: number; percentage: number } | null;
  serveStale: { durationMs: number; mode: ServeStaleMode } | null;
  maxBytes: number; // byte budget per partition (ours)
}

export interface LogConfig {
  enabled: boolean;
}

export interface ErrorsConfig {
  enabled: boolean;
  consolidate: { periodMs: number; pattern: string }[];
}

/** One Corefile server block: `zone[:port] ... { directives }`. */
export interface ServerBlockConfig {
  zones: string[]; // lowercase, trailing dot
  port: number;
  bind: string[]; // addresses to listen on; empty = the agent's local IPs
  cache: CacheConfig | null;
  forward: ForwardConfig | null;
  log: LogConfig;
  errors: ErrorsConfig;
  loop: boolean;
  reload: { intervalMs: number; jitterMs: number } | null;
  prometheus: { host: string; port: number } | null;
  health: { host: string; port: number; lameduckMs: number } | null;
  ready: { host: string; port: number } | null;
  /** Where the block came from, for error messages: "file:line". */
  source: string;
}

/** How UDP is read and written: `batch` (the recvmmsg/sendmmsg addon), `dgram` (node:dgram), `auto` (batch when built). */
export type UdpIo = 'auto' | 'batch' | 'dgram';

export interface AgentConfig {
  servers: ServerBlockConfig[];
  /** Corefile text the servers came from (for reload version info); "" when embedded. */
  corefileText: string;
}

/** The agent event log's level (-log-level, NODELOCALDNS_LOG_LEVEL). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
