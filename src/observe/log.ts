// Agent events as JSON lines on stderr: {"ts","level","msg",...fields}. Query logs (the `log`
// directive) are not written here; they have their own buffered sink.
import type { LogLevel as Level } from '../config/types.js';

const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

let stderrOpen = true;
let stderrGuarded = false;

/**
 * Write to stderr until it fails. With the reading end gone (log collector restarted, a parent
 * that died), every write raised EPIPE as an uncaught exception, whose handler logged it to
 * stderr again: the agent spun on the CPU and never finished its SIGTERM shutdown.
 */
function writeStderr(line: string): void {
  if (!stderrGuarded) {
    stderrGuarded = true;
    process.stderr.on('error', () => (stderrOpen = false));
  }
  if (stderrOpen) process.stderr.write(line);
}

/** `minLevel` comes typed from config/ (-log-level, NODELOCALDNS_LOG_LEVEL). */
export function createLogger(minLevel: Level = 'info', write: (line: string) => void = writeStderr): Logger {
  const min = RANK[minLevel];
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    const record: Record<string, unknown> = { ts: new Date().toISOString(), level, msg };
    if (fields) for (const k of Object.keys(fields)) record[k] = errorToJson(fields[k]);
    write(JSON.stringify(record) + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
  };
}

function errorToJson(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
  return v;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** `log` with `fields` added to every line (a block's forwarder logs with its zone). */
export function withFields(log: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (m, f) => log.debug(m, { ...fields, ...f }),
    info: (m, f) => log.info(m, { ...fields, ...f }),
    warn: (m, f) => log.warn(m, { ...fields, ...f }),
    error: (m, f) => log.error(m, { ...fields, ...f }),
  };
}
