#!/usr/bin/env node
// Builds dist/native/udp_batch.node, the agent's batched UDP I/O (src/native/udp_batch.c), with
// the C compiler and the headers of the Node that runs this script. No node-gyp: it would fetch
// headers from nodejs.org, and an N-API module needs only node_api.h and uv.h, which every Node
// install ships.
// Without a compiler or headers the agent still works (on node:dgram, and says so when it
// starts): this prints why and exits 0. `--require` makes that an error (the container image).
import { spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeHeaderCandidates, nodeIncludeDir } from './node-headers.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = join(root, 'src', 'native', 'udp_batch.c');
const target = join(root, 'dist', 'native', 'udp_batch.node');
const required = process.argv.includes('--require');

function give(reason) {
  const line = `udp_batch: not built (${reason}); the agent will use node:dgram for UDP`;
  if (required) {
    console.error(line);
    process.exit(1);
  }
  console.warn(line);
  process.exit(0);
}

if (process.platform !== 'linux') give(`recvmmsg/sendmmsg need Linux, this is ${process.platform}`);
const candidates = nodeHeaderCandidates();
const include = nodeIncludeDir(candidates);
if (!include) give(`no node_api.h and uv.h in ${candidates.join(', ')}; set NODE_INCLUDE_DIR`);
const cc = process.env.CC || 'cc';
mkdirSync(dirname(target), { recursive: true });
const tmp = `${target}.${process.pid}.tmp`;
const args = ['-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fPIC', '-shared', '-I', include, '-o', tmp, source];
const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (r.error) give(`${cc}: ${r.error.code === 'ENOENT' ? 'no C compiler (install gcc and libc6-dev, or set CC)' : r.error.message}`);
if (r.status !== 0) {
  rmSync(tmp, { force: true });
  process.stderr.write(r.stderr);
  give(`${cc} exited with ${r.status}`);
}
if (r.stderr) process.stderr.write(r.stderr); // warnings: -Wall is there to be read
renameSync(tmp, target);
