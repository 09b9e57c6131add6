// Where the running Node's N-API and libuv headers are: an N-API module needs only node_api.h
// and uv.h, which every Node install ships. Used by build.mjs (the agent's addon) and by the
// bench's addon floor, so both compile against the same headers.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The directories tried, in order. */
export function nodeHeaderCandidates() {
  return [
    process.env.NODE_INCLUDE_DIR,
    join(dirname(process.execPath), '..', 'include', 'node'),
    '/usr/local/include/node',
    '/usr/include/node',
  ].filter(Boolean);
}

/** The first candidate holding node_api.h and uv.h, or undefined. */
export function nodeIncludeDir(candidates = nodeHeaderCandidates()) {
  return candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
}
