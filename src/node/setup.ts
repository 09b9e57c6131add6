// What the agent calls for node integration, in node-cache's order: ensureInterface() before
// serving, installRules() once serving and the pidfile exist, startSync() to keep both in place,
// teardown() on a clean stop. Every step is serialised (a sync tick never races teardown), never
// throws (failures are logged and counted through onSetupError, as node-cache counts
// coredns_nodecache_setup_errors_total), and only runs `ip`/`iptables` with literal addresses,
// so teardown needs no DNS and finishes when the upstream is gone.
import { SetupError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { chooseBackend, type BackendChoice } from './backend.js';
import { createRunner, lacksPrivilege, PRIVILEGE_HINT, type Runner } from './exec.js';
import { Iptables } from './iptables.js';
import { NetIf } from './netif.js';
import { nodeCacheRules, unconditionalNotrack, type Rule } from './rules.js';

export type SetupErrorType = 'iptables' | 'iptables_lock' | 'interface_add' | 'interface_check' | 'configmap';

export interface NodeSetupOptions {
  localIps: string[];
  interfaceName: string;
  setupInterface: boolean;
  setupIptables: boolean;
  dnsPort: number;
  healthPort: number;
  syncIntervalMs: number;
  iptablesBackend: BackendChoice;
  log: Logger;
  onSetupError(errortype: SetupErrorType): void;
  /** Tests only: run ip/iptables via `ip netns exec <netns>`. */
  netns?: string;
}

/** What sync has put back since start (the lead may publish these; tests read them). */
export interface RepairCounts {
  rules: number;
  addresses: number;
  duplicates: number;
}

export class NodeSetup {
  readonly repairs: RepairCounts = { rules: 0, addresses: 0, duplicates: 0 };
  private readonly run: Runner;
  private readonly netif: NetIf;
  private readonly rules: Rule[];
  private readonly stale: Rule[];
  private iptables: Iptables | null = null;
  private rulesWanted = false;
  private syncing = false;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();
  private refused: string | null = null;

  constructor(private readonly opts: NodeSetupOptions) {
    this.run = createRunner(opts.netns);
    this.netif = new NetIf(this.run, opts.interfaceName, opts.localIps, opts.log);
    this.rules = nodeCacheRules(opts.localIps, opts.dnsPort, opts.healthPort);
    this.stale = unconditionalNotrack(opts.localIps, opts.dnsPort);
  }

  ensureInterface(): Promise<void> {
    return this.serial(async () => {
      if (!this.opts.setupInterface) return;
      const r = await this.netif.ensure();
      this.opts.log.info('node interface ready', { mode: this.netif.mode, interface: this.opts.interfaceName, created: r.linkCreated, added: r.added });
    }, 'interface_check');
  }

  installRules(): Promise<void> {
    return this.serial(async () => {
      if (!this.opts.setupIptables) return;
      this.rulesWanted = true;
      const s = await this.ensureRules();
      // A pass that reported errors did not install everything: say so, the sync retries.
      if (s.failed > 0) this.opts.log.warn('iptables rules incomplete, the sync retries', { backend: this.iptables?.backend, added: s.added.length, total: this.rules.length });
      else this.opts.log.info('iptables rules installed', { backend: this.iptables?.backend, added: s.added.length, total: this.rules.length });
    }, 'iptables');
  }

  startSync(): void {
    if (this.syncing) return;
    this.syncing = true;
    this.schedule();
  }

  stopSync(): void {
    this.syncing = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async teardown(): Promise<void> {
    this.stopSync();
    await this.serial(async () => {
      this.rulesWanted = false;
      if (this.opts.setupIptables) {
        const ipt = await this.backend();
        let failed = 0;
        const removed = await ipt.removeAll(this.rules, (e) => {
          failed++;
          this.report(e);
        });
        if (failed === 0) this.opts.log.info('iptables rules removed', { backend: ipt.backend, removed });
      }
    }, 'iptables');
    await this.serial(async () => {
      if (!this.opts.setupInterface) return;
      await this.netif.teardown();
      this.opts.log.info('node interface removed', { mode: this.netif.mode, interface: this.opts.interfaceName });
    }, 'interface_add');
  }

  /** The first step refused for lack of privilege (CAP_NET_ADMIN), or null. */
  get privilegeProblem(): string | null {
    return this.refused;
  }

  describe(): { interfaceMode: string; backend: string } {
    return {
      interfaceMode: this.opts.setupInterface ? (this.netif.mode ?? 'pending') : 'disabled',
      backend: this.opts.setupIptables ? (this.iptables?.backend ?? 'pending') : 'disabled',
    };
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.serial(() => this.tick(), 'interface_check').finally(() => {
        if (this.syncing && this.timer === null) this.schedule();
      });
    }, this.opts.syncIntervalMs);
    // The listeners keep the process alive; this timer alone must not.
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.syncing) return;
    if (this.opts.setupInterface) {
      try {
        const r = await this.netif.ensure();
        if (r.linkCreated || r.added.length > 0) {
          this.repairs.addresses += r.added.length;
          this.opts.log.warn('node interface repaired', { interface: this.opts.interfaceName, recreated: r.linkCreated, added: r.added });
        }
      } catch (err) {
        this.report(err, 'interface_check');
      }
    }
    if (this.rulesWanted) {
      const s = await this.ensureRules();
      if (s.added.length > 0 || s.duplicatesRemoved > 0) {
        this.repairs.rules += s.added.length;
        this.repairs.duplicates += s.duplicatesRemoved;
        this.opts.log.warn('iptables rules repaired', { added: s.added.map((r) => `${r.table} ${r.saved}`), duplicatesRemoved: s.duplicatesRemoved });
      }
    }
  }

  private async ensureRules(): Promise<{ added: Rule[]; duplicatesRemoved: number; failed: number }> {
    const ipt = await this.backend();
    let failed = 0;
    const onError = (e: SetupError): void => {
      failed++;
      this.report(e);
    };
    const summary = await ipt.ensureAll(this.rules, onError);
    // After a failed pass (a held lock, no privilege) the next tick retries both.
    if (failed > 0) return { ...summary, failed };
    const stale = await ipt.removeAll(this.stale, onError);
    if (stale > 0) this.opts.log.warn('unconditional NOTRACK rules removed: they would keep pods off kube-dns while no agent runs', { removed: stale });
    return { ...summary, failed };
  }

  private async backend(): Promise<Iptables> {
    this.iptables ??= new Iptables(this.run, await chooseBackend(this.run, this.opts.iptablesBackend, this.opts.log), this.opts.log);
    return this.iptables;
  }

  /** Run fn after everything queued before it; failures are reported, never thrown. */
  private serial(fn: () => Promise<void>, fallback: SetupErrorType): Promise<void> {
    const next = this.queue.then(fn).catch((err: unknown) => this.report(err, fallback));
    this.queue = next;
    return next;
  }

  private report(err: unknown, fallback: SetupErrorType = 'iptables'): void {
    const errortype = err instanceof SetupError ? (err.errortype as SetupErrorType) : fallback;
    const message = err instanceof Error ? err.message : String(err);
    if (lacksPrivilege(message)) {
      this.refused ??= message;
      this.opts.log.error('node setup refused: no privilege', { errortype, error: err, hint: PRIVILEGE_HINT });
    } else {
      this.opts.log.error('node setup failed', { errortype, error: err });
    }
    try {
      this.opts.onSetupError(errortype);
    } catch (cbErr) {
      this.opts.log.error('onSetupError callback threw', { error: cbErr });
    }
  }
}
