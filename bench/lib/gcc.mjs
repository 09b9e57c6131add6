// The bench's own C helpers (the batching client, the addon floor) are built with gcc into the
// run's directory; a box without gcc runs the bench without them.
import { execFileSync } from 'node:child_process';

/** `gcc ARGS -o path`: { path }, or { why } it could not be built. */
export function gcc(args, path) {
  try {
    execFileSync('gcc', [...args, '-o', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { path };
  } catch (e) {
    return { why: e.code === 'ENOENT' ? 'gcc not installed' : `gcc failed: ${String(e.stderr ?? e.message).split('\n')[0]}` };
  }
}
