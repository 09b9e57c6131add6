// The shared upstream: knotd from Debian on its own loopback address, authoritative for the
// bench's cluster.local zone. Config and zone live in the run's temp dir.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { start } from './procs.mjs';
import { freePort, randomLoopback, waitForAnswer } from './net.mjs';
import { clusterZone, HIT_SUFFIX } from './zone.mjs';

/** `extraZones`: origin → zone text, served beside cluster.local (the node-cache comparison's other blocks). */
export async function startKnot(dir, names, extraZones = {}) {
  const ip = randomLoopback();
  const port = await freePort(ip);
  const zoneFile = join(dir, 'cluster.local.zone');
  writeFileSync(zoneFile, clusterZone(names));
  const extra = Object.entries(extraZones).map(([origin, text]) => {
    const file = join(dir, `${origin}zone`);
    writeFileSync(file, text);
    return `  - domain: ${origin}\n    file: ${file}`;
  });
  const conf = join(dir, 'knot.conf');
  writeFileSync(
    conf,
    [
      'server:',
      `  rundir: ${dir}`,
      `  listen: ${ip}@${port}`,
      '  tcp-idle-timeout: 300s',
      '  tcp-max-clients: 4096',
      '  udp-workers: 1',
      '  tcp-workers: 2',
      '  background-workers: 1',
      'control:',
      `  listen: ${join(dir, 'knot.sock')}`,
      'database:',
      `  storage: ${dir}`,
      'log:',
      '  - target: stderr',
      '    any: error',
      'template:',
      '  - id: default',
      `    storage: ${dir}`,
      '    semantic-checks: off',
      '    zonefile-sync: -1',
      '    journal-content: none',
      'zone:',
      '  - domain: cluster.local.',
      `    file: ${zoneFile}`,
      ...extra,
      '',
    ].join('\n'),
  );
  const argv = ['/usr/sbin/knotd', '-c', conf];
  const child = start(argv, { name: 'knotd' });
  await waitForAnswer(ip, port, `n0.${HIT_SUFFIX}`, { timeoutMs: 30_000, child });
  return { name: 'knotd (upstream, not pinned)', ip, port, child, argv, config: conf };
}
