// The batch addon's floor (addon-floor.c): built with gcc against the running Node's headers into
// the run's directory; run as `node addon-floor.mjs MODULE IP PORT`, it serves until SIGTERM.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { nodeHeaderCandidates, nodeIncludeDir } from '../../src/native/node-headers.mjs';
import { gcc } from './gcc.mjs';

const SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'addon-floor.c');
export const LAUNCHER = fileURLToPath(import.meta.url);

/** Build it into `dir`: { path } or { why } when it cannot be (no gcc, no Node headers). */
export function buildAddonFloor(dir) {
  const include = nodeIncludeDir();
  if (!include) return { why: `no node_api.h and uv.h in ${nodeHeaderCandidates().join(', ')} (set NODE_INCLUDE_DIR)` };
  return gcc(['-O2', '-std=gnu11', '-fPIC', '-shared', '-I', include, SOURCE], join(dir, 'addon-floor.node'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [modulePath, ip, port] = process.argv.slice(2);
  // The agent's handler runs here; the floor's does nothing.
  createRequire(import.meta.url)(modulePath).serve(ip, Number(port), () => {});
  process.on('SIGTERM', () => process.exit(0));
}
