// What every check returns: one line of the report, or one object of --json.

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Short stable name: the first column of the report and the key machines match on. */
  check: string;
  status: Status;
  /** What was read or measured, with the numbers. */
  evidence: string;
  /** The command an operator runs to see the same thing. */
  command: string;
  /** What to do; empty when nothing is to be done. */
  action: string;
}

export function result(check: string, status: Status, evidence: string, command: string, action = ''): CheckResult {
  return { check, status, evidence, command, action };
}
