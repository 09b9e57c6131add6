// The interface that holds the agent's local IPs (node-cache: a `dummy` link named
// -interfacename, each IP as /32 or /128). Kernels without the dummy link type exist (this
// project's CI kernel is one), so creation falls back, in order:
//   dummy → ifb (a virtual link that, like dummy, drops what is routed into it and is NOARP, so
//   no DAD delay for IPv6) → addresses on `lo` (IPv4 ones labelled lo:<name> so `ip addr` shows
//   whose they are).
// In link modes teardown deletes the link (as node-cache does); in lo mode it deletes exactly the
// configured addresses from lo, never a loopback address.
import { SetupError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { describeRun, type Runner } from './exec.js';
import { canonicalIp, familyOf, hostPrefix, isLoopback } from './ipaddr.js';

/** dummy / ifb: a link we created (or found with that kind); lo: addresses on lo; existing:<kind>. */
export type InterfaceMode = 'dummy' | 'ifb' | 'lo' | `existing:${string}`;

export interface EnsureResult {
  linkCreated: boolean;
  /** Addresses that were missing and have been added. */
  added: string[];
}

interface IpLink { ifname: string; flags?: string[]; linkinfo?: { info_kind?: string } }
interface IpAddr { ifname: string; addr_info?: { local: string; prefixlen: number; label?: string }[] }

const UNSUPPORTED = /Unknown device type|not supported|Operation not supported/i;
const ALREADY = /File exists|already assigned/i;
const NO_DEVICE = /does not exist|Cannot find device/i;

export class NetIf {
  private modeChosen: InterfaceMode | null = null;
  private readonly ips: string[];

  constructor(
    private readonly run: Runner,
    readonly name: string,
    localIps: string[],
    private readonly log: Logger,
    /** Link types to try, in order, before falling back to lo (tests pass a shorter list). */
    private readonly linkKinds: readonly string[] = ['dummy', 'ifb'],
  ) {
    this.ips = localIps.map(canonicalIp);
  }

  get mode(): InterfaceMode | null {
    return this.modeChosen;
  }

  private get device(): string {
    return this.modeChosen === 'lo' ? 'lo' : this.name;
  }

  /** Create the link if needed (choosing a mode the first time), bring it up, add missing IPs. */
  async ensure(): Promise<EnsureResult> {
    let linkCreated = false;
    if (this.modeChosen === 'lo') {
      await this.ensureUp('lo');
    } else {
      const link = await this.readLink(this.name);
      if (link) {
        if (this.modeChosen === null) {
          this.modeChosen = kindToMode(link.linkinfo?.info_kind);
          this.log.info('node interface mode chosen', { mode: this.modeChosen, interface: this.name, reason: 'link exists' });
        }
        if (!link.flags?.includes('UP')) await this.setUp(this.name);
      } else {
        await this.createLink();
        linkCreated = true;
      }
    }
    const have = await this.addresses();
    const added: string[] = [];
    for (const ip of this.ips) {
      if (this.modeChosen === 'lo' && isLoopback(ip)) continue;
      if (have.has(ip)) continue;
      await this.addAddress(ip);
      added.push(ip);
    }
    return { linkCreated, added };
  }

  /** Remove what ensure() set up. Safe to call when nothing was set up. */
  async teardown(): Promise<void> {
    if (this.modeChosen === 'lo') {
      const have = await this.addresses();
      for (const ip of this.ips) {
        if (isLoopback(ip) || !have.has(ip)) continue;
        const args = ['addr', 'del', ip + hostPrefix(ip), 'dev', 'lo'];
        const r = await this.run('ip', args);
        if (r.code !== 0 && !/not found|Cannot assign/i.test(r.stderr))
          throw new SetupError('interface_add', `removing address: ${describeRun('ip', args, r)}`);
      }
      return;
    }
    const args = ['link', 'del', this.name];
    const r = await this.run('ip', args);
    if (r.code !== 0 && !NO_DEVICE.test(r.stderr))
      throw new SetupError('interface_add', `removing interface: ${describeRun('ip', args, r)}`);
  }

  /** The canonical addresses currently on our device (empty when it does not exist). */
  async addresses(): Promise<Set<string>> {
    const args = ['-j', 'addr', 'show', 'dev', this.device];
    const r = await this.run('ip', args);
    if (r.code !== 0) {
      if (NO_DEVICE.test(r.stderr)) return new Set();
      throw new SetupError('interface_check', `listing addresses: ${describeRun('ip', args, r)}`);
    }
    const out = new Set<string>();
    for (const link of parseJson<IpAddr[]>(r.stdout, 'interface_check'))
      for (const a of link.addr_info ?? []) if (a.prefixlen === (a.local.includes(':') ? 128 : 32)) out.add(canonicalIp(a.local));
    return out;
  }

  private async readLink(name: string): Promise<IpLink | null> {
    const args = ['-j', '-d', 'link', 'show', 'dev', name];
    const r = await this.run('ip', args);
    if (r.code === 0) return parseJson<IpLink[]>(r.stdout, 'interface_check')[0] ?? null;
    if (NO_DEVICE.test(r.stderr)) return null;
    throw new SetupError('interface_check', `checking interface: ${describeRun('ip', args, r)}`);
  }

  private async createLink(): Promise<void> {
    // Once a mode is known (the link vanished under us) recreate the same kind, no re-probing.
    const kinds = this.modeChosen === 'dummy' || this.modeChosen === 'ifb' ? [this.modeChosen] : this.linkKinds;
    for (const kind of kinds) {
      const args = ['link', 'add', this.name, 'type', kind];
      const r = await this.run('ip', args);
      if (r.code === 0 || ALREADY.test(r.stderr)) {
        if (this.modeChosen === null) this.log.info('node interface mode chosen', { mode: kind, interface: this.name });
        this.modeChosen = kind as InterfaceMode;
        await this.setUp(this.name);
        return;
      }
      if (!UNSUPPORTED.test(r.stderr)) throw new SetupError('interface_add', `creating interface: ${describeRun('ip', args, r)}`);
      this.log.warn('link type not available in this kernel, trying the next', { type: kind, stderr: r.stderr.trim() });
    }
    if (this.modeChosen !== null) throw new SetupError('interface_add', `cannot recreate ${this.modeChosen} link ${this.name}`);
    this.modeChosen = 'lo';
    this.log.info('node interface mode chosen', { mode: 'lo', interface: 'lo', reason: `no ${kinds.join(' or ')} link type` });
    await this.ensureUp('lo');
  }

  private async ensureUp(name: string): Promise<void> {
    const link = await this.readLink(name);
    if (!link) throw new SetupError('interface_check', `interface ${name} does not exist`);
    if (!link.flags?.includes('UP')) await this.setUp(name);
  }

  private async setUp(name: string): Promise<void> {
    // IPv6 only installs local routes for addresses on an UP link (IPv4 does either way).
    const args = ['link', 'set', name, 'up'];
    const r = await this.run('ip', args);
    if (r.code !== 0) throw new SetupError('interface_add', `bringing interface up: ${describeRun('ip', args, r)}`);
  }

  private async addAddress(ip: string): Promise<void> {
    const args = ['addr', 'add', ip + hostPrefix(ip), 'dev', this.device];
    if (this.modeChosen === 'lo' && familyOf(ip) === 4) args.push('label', `lo:${this.name}`.slice(0, 15));
    if (familyOf(ip) === 6) args.push('nodad');
    const r = await this.run('ip', args);
    if (r.code !== 0 && !ALREADY.test(r.stderr))
      throw new SetupError('interface_add', `adding address: ${describeRun('ip', args, r)}`);
  }
}

function kindToMode(kind: string | undefined): InterfaceMode {
  return kind === 'dummy' || kind === 'ifb' ? kind : `existing:${kind ?? 'unknown'}`;
}

function parseJson<T>(text: string, errortype: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new SetupError(errortype, `unreadable ip -j output: ${text.slice(0, 200)}`, { cause: err });
  }
}
