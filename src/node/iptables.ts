// Installs and removes node-cache's rules through one iptables backend. Every call uses `-w 5`
// (wait up to 5 s for the xtables lock kube-proxy also takes) and -C before -I at the top of the
// chain. -C alone is not trusted to prevent duplicates (a kubernetes/dns report: a flaky -C produced
// thousands of copies): each pass first counts the rules in `iptables -S`, inserts only when the
// listing and -C both say absent, and deletes surplus copies. Teardown deletes every copy.
import { SetupError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { binary, type Backend } from './backend.js';
import { describeRun, lacksPrivilege, type RunResult, type Runner } from './exec.js';
import type { Family } from './ipaddr.js';
import { countSaved, type Rule, type Table } from './rules.js';

const WAIT = ['-w', '5'];
// -w 5 plus process start-up; a hung iptables must not stall a sync tick or teardown forever.
const TIMEOUT_MS = 15_000;
// Upper bound on deletions of one rule: far above any duplicate count seen in the field.
const MAX_DELETES = 100_000;

export interface EnsureSummary {
  added: Rule[];
  duplicatesRemoved: number;
}

function isLock(r: RunResult): boolean {
  return !lacksPrivilege(r.stderr) && (r.code === 4 || /xtables lock/i.test(r.stderr));
}

export class Iptables {
  constructor(
    private readonly run: Runner,
    readonly backend: Backend,
    private readonly log: Logger,
  ) {}

  private exec(family: Family, table: Table, op: string[], args: string[] = []): Promise<RunResult> {
    return this.run(binary(this.backend, family), [...WAIT, '-t', table, ...op, ...args], TIMEOUT_MS);
  }

  private fail(family: Family, table: Table, op: string[], args: string[], r: RunResult): SetupError {
    const what = describeRun(binary(this.backend, family), ['-t', table, ...op, ...args], r);
    return new SetupError(isLock(r) ? 'iptables_lock' : 'iptables', what);
  }

  /** `iptables -S` of one table, or null when it cannot be read (then -C alone decides). */
  private async listing(family: Family, table: Table): Promise<string | null> {
    const r = await this.exec(family, table, ['-S']);
    if (r.code === 0) return r.stdout;
    // Lock held or no privilege: every later call would wait the same 5 s or be refused the
    // same way; let the caller end the pass.
    if (isLock(r) || lacksPrivilege(r.stderr)) throw this.fail(family, table, ['-S'], [], r);
    this.log.warn('cannot list iptables rules', { error: describeRun(binary(this.backend, family), ['-t', table, '-S'], r) });
    return null;
  }

  /**
   * Make every rule present exactly once. Errors of single rules are reported through onError
   * and the pass goes on; a held xtables lock or a refusal for lack of privilege ends the pass
   * (every further call would wait 5 s too, or be refused) and the next sync tick retries.
   */
  async ensureAll(rules: Rule[], onError: (err: SetupError) => void): Promise<EnsureSummary> {
    const summary: EnsureSummary = { added: [], duplicatesRemoved: 0 };
    await this.forEachListed(rules, onError, (rule, listed) => this.ensureOne(rule, listed, summary));
    return summary;
  }

  /**
   * Run `fn` for each rule with how many copies the table's listing holds (one `-S` per table,
   * undefined when it could not be listed). A rule's SetupError goes to onError and the pass goes
   * on; a held xtables lock or a refusal for lack of privilege ends the pass.
   */
  private async forEachListed(
    rules: Rule[],
    onError: (err: SetupError) => void,
    fn: (rule: Rule, listed: number | undefined) => Promise<void>,
  ): Promise<void> {
    const counts = new Map<string, Map<string, number> | null>();
    for (const rule of rules) {
      const key = `${rule.family}/${rule.table}`;
      try {
        if (!counts.has(key)) {
          const text = await this.listing(rule.family, rule.table);
          counts.set(key, text === null ? null : countSaved(text, rules));
        }
        await fn(rule, counts.get(key)?.get(rule.saved));
      } catch (err) {
        if (!(err instanceof SetupError)) throw err;
        onError(err);
        // Every further call would wait for the same lock or be refused the same way.
        if (err.errortype === 'iptables_lock' || lacksPrivilege(err.message)) break;
      }
    }
  }

  private async ensureOne(rule: Rule, listed: number | undefined, summary: EnsureSummary): Promise<void> {
    const { family, table, chain, args } = rule;
    // Listed: present (the listing is what the kernel has), only surplus copies to remove. This
    // keeps a steady-state sync tick at one `-S` per table instead of one -C per rule.
    if (listed !== undefined && listed > 0) {
      for (let extra = listed - 1; extra > 0; extra--) {
        const del = await this.exec(family, table, ['-D', chain], args);
        if (del.code !== 0) throw this.fail(family, table, ['-D', chain], args, del);
        summary.duplicatesRemoved++;
      }
      return;
    }
    // Not listed (or no listing): insert only if -C agrees it is missing.
    const check = await this.exec(family, table, ['-C', chain], args);
    if (check.code === 0) {
      if (listed === 0) this.log.warn('iptables -C finds a rule the listing lacks; not inserting', { rule: rule.saved });
      return;
    }
    if (isLock(check) || check.code !== 1) throw this.fail(family, table, ['-C', chain], args, check);
    const ins = await this.exec(family, table, ['-I', chain, '1'], args);
    if (ins.code !== 0) throw this.fail(family, table, ['-I', chain, '1'], args, ins);
    summary.added.push(rule);
  }

  /**
   * Delete every copy of every rule: as many as the listing counts, so no failing -D per rule.
   * A held lock is retried once per call (teardown should not give up at the first contention),
   * then reported and the remaining rules are left: teardown must end within the grace period.
   */
  async removeAll(rules: Rule[], onError: (err: SetupError) => void): Promise<number> {
    let removed = 0;
    await this.forEachListed(rules, onError, async (rule, listed) => {
      removed += await this.removeOne(rule, listed);
    });
    return removed;
  }

  /** Delete `listed` copies, or, without a listing, delete until iptables finds none. */
  private async removeOne(rule: Rule, listed: number | undefined): Promise<number> {
    const { family, table, chain, args } = rule;
    const limit = listed ?? MAX_DELETES;
    let removed = 0;
    let lockRetries = 1;
    while (removed < limit) {
      const del = await this.exec(family, table, ['-D', chain], args);
      if (del.code === 0) {
        removed++;
        continue;
      }
      if (isLock(del) && lockRetries-- > 0) continue;
      // Status 1: no (more) matching rule, or the table/chain was never created. Done.
      if (del.code === 1 && !isLock(del)) return removed;
      throw this.fail(family, table, ['-D', chain], args, del);
    }
    if (listed === undefined) throw new SetupError('iptables', `more than ${MAX_DELETES} copies of ${rule.saved}`);
    return removed;
  }
}
