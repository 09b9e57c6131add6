// The agent's cli as a child process, run from the TypeScript source with the loader tap itself
// uses (so a test never sees a stale dist/), stopped by SIGTERM when the test ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const TS_LOADER = process.execArgv.filter((a) => a.includes('@tapjs/typescript'));

/** A skip reason when the test process was not started by tap's TypeScript loader, else false. */
export const tsLoaderMissing: string | false = TS_LOADER.length === 0 && 'run under tap (TypeScript loader)';

export interface CliChild {
  child: ChildProcess;
  /** Everything the agent wrote to stderr so far. */
  readonly stderr: string;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function spawnCli(t: Teardown, args: string[], env: NodeJS.ProcessEnv = process.env): CliChild {
  const child = spawn(process.execPath, [...TS_LOADER, CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const out = { child, stderr: '' };
  child.stderr!.on('data', (d) => (out.stderr += d));
  const exited = new Promise((r) => child.once('exit', r));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  return out;
}
