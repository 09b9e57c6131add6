// knotd's configuration for an upstream the tests or the bench start on loopback: one listener,
// zone files as written, no journal and no zone file sync (the files are never rewritten), errors
// only on stderr. Plain JavaScript so that bench/ (.mjs, no TypeScript loader) can use it too.
import { join } from 'node:path';

/**
 * @param {{ dir: string, address: string, port: number, zones: { domain: string, file: string }[],
 *   tcpMaxClients?: number, tcpWorkers?: number, tcpIoTimeoutMs?: number | null }} o
 *   `dir`: rundir, storage and control socket; `domain` with its trailing dot.
 * @returns {string} the knot.conf text
 */
export function knotConfig(o) {
  return [
    'server:',
    `  rundir: ${o.dir}`,
    `  listen: ${o.address}@${o.port}`,
    '  tcp-idle-timeout: 300s',
    ...(o.tcpIoTimeoutMs === null ? [] : [`  tcp-io-timeout: ${o.tcpIoTimeoutMs ?? 2000}`]),
    `  tcp-max-clients: ${o.tcpMaxClients ?? 1000}`,
    '  udp-workers: 1',
    `  tcp-workers: ${o.tcpWorkers ?? 1}`,
    '  background-workers: 1',
    'control:',
    `  listen: ${join(o.dir, 'knot.sock')}`,
    'database:',
    `  storage: ${o.dir}`,
    'log:',
    '  - target: stderr',
    '    any: error',
    'template:',
    '  - id: default',
    `    storage: ${o.dir}`,
    '    semantic-checks: off',
    '    zonefile-sync: -1',
    '    journal-content: none',
    'zone:',
    ...o.zones.map((z) => `  - domain: ${z.domain}\n    file: ${z.file}`),
    '',
  ].join('\n');
}
