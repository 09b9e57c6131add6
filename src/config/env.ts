// The agent's own environment variables, read here once and handed down typed (the Corefile's
// `{$VAR}` and `<SVC>_SERVICE_HOST` are read where the Corefile is built). A value that is set
// but not one we know stops the start (exit 2), naming the variable, like a bad flag.
import { EnvError } from '../errors.js';
import type { LogLevel as Level, UdpIo } from './types.js';

export interface AgentEnv {
  /** NODELOCALDNS_LOG_LEVEL; null when unset or empty (the -log-level flag decides). */
  logLevel: Level | null;
  /** NODELOCALDNS_UDP_IO: `auto` (default), `batch` or `dgram`. */
  udpIo: UdpIo;
}

const LEVELS: readonly Level[] = ['debug', 'info', 'warn', 'error'];
const UDP_IOS: readonly UdpIo[] = ['auto', 'batch', 'dgram'];

export function readAgentEnv(env: NodeJS.ProcessEnv): AgentEnv {
  const level = env.NODELOCALDNS_LOG_LEVEL;
  return {
    logLevel: level === undefined || level === '' ? null : oneOf('NODELOCALDNS_LOG_LEVEL', level, LEVELS),
    udpIo: parseUdpIo(env.NODELOCALDNS_UDP_IO),
  };
}

export function parseUdpIo(value: string | undefined): UdpIo {
  if (value === undefined || value === '') return 'auto';
  return oneOf('NODELOCALDNS_UDP_IO', value, UDP_IOS);
}

/** An explicit -log-level wins over NODELOCALDNS_LOG_LEVEL, which wins over the flag's default. */
export function effectiveLogLevel(flagLevel: Level, flagGiven: boolean, env: AgentEnv): Level {
  return flagGiven || env.logLevel === null ? flagLevel : env.logLevel;
}

function oneOf<T extends string>(variable: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new EnvError(variable, `"${value}" is not one of ${allowed.join(', ')}`);
}
