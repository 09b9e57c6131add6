// The batch addon's floor (addon-floor.c): built with gcc against the running Node's headers into
// the run's directory; run as `node addon-floor.mjs MODULE IP PORT`, it serves until SIGTERM.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'addon-floor.c');
export const LAUNCHER = fileURLToPath(import.meta.url);

/** Build it into `dir`: { path } or { why } when it cannot be (no gcc, no Node headers). */
export function buildAddonFloor(dir) {
  const include = [process.env.NODE_INCLUDE_DIR, join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node']
    .filter(Boolean)
    .find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
  if (!include) return { why: 'no node_api.h and uv.h next to this Node (set NODE_INCLUDE_DIR)' };
  const path = join(dir, 'addon-floor.node');
  try {
    execFileSync('gcc', ['-O2', '-std=gnu11', '-fPIC', '-shared', '-I', include, '-o', path, SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { path };
  } catch (e) {
    return { why: e.code === 'ENOENT' ? 'gcc not installed' : `gcc failed: ${String(e.stderr ?? e.message).split('\n')[0]}` };
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [modulePath, ip, port] = process.argv.slice(2);
  // The agent's handler runs here; the floor's does nothing.
  createRequire(import.meta.url)(modulePath).serve(ip, Number(port), () => {});
  process.on('SIGTERM', () => process.exit(0));
}
