// What the agent calls for node integration, in node-cache's order: ensureInterface() before
// serving, installRules() once serving and the pidfile exist, startSync() to keep both in place,
// teardown() on a clean stop. Every step is serialised (a sync tick never races teardown), never
// throws (failures are logged and counted through onSetupError, as node-cache counts
// coredns_nodecache_setup_errors_total), and only runs `ip`/`iptables` with literal addresses,
// so teardown needs no DNS and finishes when the upstream is gone.
import { SetupError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { binary, chooseBackend, type BackendChoice } from './backend.js';
import { createRunner, describeRun, lacksPrivilege, PRIVILEGE_HINT, type Runner } from './exec.js';
import { FAILOPEN_CHAIN, failOpenHooks, failOpenRestore, kubeDnsEndpoints } from './failopen.js';
import { canonicalIp, familyOf, hostPrefix } from './ipaddr.js';
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
  /** The fail-open chain as last written, per family: a tick rewrites it only when it changed. */
  private readonly failOpenWritten = new Map<number, string>();

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
        const hooks = await ipt.removeAll(failOpenHooks(this.opts.localIps, this.opts.dnsPort), (e) => {
          failed++;
          this.report(e);
        });
        await this.removeFailOpenChain(ipt);
        if (failed === 0) this.opts.log.info('iptables rules removed', { backend: ipt.backend, removed: removed + hooks });
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
    await this.ensureFailOpen(ipt, onError);
    return { ...summary, failed };
  }

  /**
   * The link-local fail-open (failopen.ts): our nat chain rewritten from kube-proxy's kube-dns
   * endpoints when they changed, and hooked for every -localip that is not a ClusterIP. Nothing
   * to do where kube-proxy has no such chains (IPVS or nftables mode) or no ClusterIP is local.
   */
  private async ensureFailOpen(ipt: Iptables, onError: (e: SetupError) => void): Promise<void> {
    for (const family of [4, 6] as const) {
      const ips = this.opts.localIps.filter((ip) => familyOf(ip) === family);
      if (ips.length === 0) continue;
      const bin = binary(ipt.backend, family);
      const save = await this.run(`${bin}-save`, ['-t', 'nat'], 15_000);
      if (save.code !== 0) {
        onError(new SetupError('iptables', describeRun(`${bin}-save`, ['-t', 'nat'], save)));
        continue;
      }
      const clusterIps = ips.filter((ip) => save.stdout.includes(`-A KUBE-SERVICES -d ${canonicalIp(ip)}${hostPrefix(ip)} `));
      const linkLocal = ips.filter((ip) => !clusterIps.includes(ip));
      const eps = kubeDnsEndpoints(save.stdout, clusterIps, this.opts.dnsPort);
      if (linkLocal.length === 0 || eps.udp.length + eps.tcp.length === 0) continue;
      const input = failOpenRestore(eps);
      if (this.failOpenWritten.get(family) !== input || !save.stdout.includes(`:${FAILOPEN_CHAIN} `)) {
        const r = await this.run(`${bin}-restore`, ['--noflush'], 15_000, input);
        if (r.code !== 0) {
          onError(new SetupError('iptables', describeRun(`${bin}-restore`, ['--noflush'], r)));
          continue;
        }
        this.failOpenWritten.set(family, input);
        this.opts.log.info('fail-open to kube-dns written', { chain: FAILOPEN_CHAIN, localIps: linkLocal, udp: eps.udp, tcp: eps.tcp });
      }
      await ipt.ensureAll(failOpenHooks(linkLocal, this.opts.dnsPort), onError);
    }
  }

  /** Flush and delete our nat chain (its hooks are gone first); absent is fine. */
  private async removeFailOpenChain(ipt: Iptables): Promise<void> {
    for (const family of [4, 6] as const) {
      if (!this.opts.localIps.some((ip) => familyOf(ip) === family)) continue;
      const bin = binary(ipt.backend, family);
      for (const op of ['-F', '-X']) {
        const r = await this.run(bin, ['-w', '5', '-t', 'nat', op, FAILOPEN_CHAIN], 15_000);
        if (r.code !== 0 && r.code !== 1) this.report(new SetupError('iptables', describeRun(bin, ['-t', 'nat', op, FAILOPEN_CHAIN], r)));
      }
      this.failOpenWritten.delete(family);
    }
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
