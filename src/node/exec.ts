// Runs ip / iptables as child processes: execFile (no shell, so addresses and comments are never
// re-parsed), a hard timeout, and never a throw — callers classify failures from the exit status
// and stderr, which is how node-cache tells "rule missing" from "xtables lock held".
import { execFile } from 'node:child_process';

export interface RunResult {
  /** Exit status; -1 when the process could not start or was killed by the timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

/** `input`: written to the command's stdin (iptables-restore). */
export type Runner = (cmd: string, args: string[], timeoutMs?: number, input?: string) => Promise<RunResult>;

const DEFAULT_TIMEOUT_MS = 10_000;

/** A runner; with `netns` every command runs as `ip netns exec <netns> <cmd> ...` (tests only). */
export function createRunner(netns?: string): Runner {
  return (cmd, args, timeoutMs = DEFAULT_TIMEOUT_MS, input) => {
    const argv = netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] as const : [cmd, args] as const;
    return new Promise((resolve) => {
      const child = execFile(
        argv[0],
        argv[1],
        // LC_ALL=C: the stderr texts we match ("File exists", "xtables lock") must not be translated.
        // maxBuffer: iptables-save on a node with thousands of Services is several MB (default 1 MB).
        { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          if (!err) return resolve({ code: 0, stdout, stderr });
          const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
          const code = typeof e.code === 'number' && !e.killed ? e.code : -1;
          const why = e.killed ? `timed out after ${timeoutMs} ms` : typeof e.code === 'string' ? e.code : '';
          resolve({ code, stdout: stdout ?? '', stderr: [stderr ?? '', why].filter(Boolean).join('\n') });
        },
      );
      child.stdin?.on('error', () => {}); // a command that exits before reading: its status says why
      child.stdin?.end(input ?? '');
    });
  };
}

/** One line for logs: "iptables-nft -t raw -C ... → 1: Bad rule". */
export function describeRun(cmd: string, args: string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')} → ${r.code}: ${r.stderr.trim().split('\n').join(' | ')}`;
}

// Without CAP_NET_ADMIN, `ip` gets netlink's EPERM ("Operation not permitted") and iptables says
// "Permission denied (you must be root)" with exit status 4, the status it also uses for a held
// xtables lock: the text tells the two apart.
const NO_PRIVILEGE = /Operation not permitted|Permission denied|you must be root/i;

export function lacksPrivilege(text: string): boolean {
  return NO_PRIVILEGE.test(text);
}

/** What an operator can do about it, for logs and the exit message. */
export const PRIVILEGE_HINT =
  'run with CAP_NET_ADMIN (as root, or add NET_ADMIN to the container\'s capabilities), ' +
  'or pass -setupinterface=false -setupiptables=false and put the -localip addresses and rules in place yourself';
