// Hot reload, node-cache's way: every 10 s hash the watched files and directories (ConfigMap
// mounts, imports, resolv.conf); on a change — or on SIGUSR1 with -reloadwithsignal — load the
// config again. A good new config goes to onConfig; a bad one goes to onError and the old one
// keeps serving (the caller counts coredns_reload_failed_total or setup_errors{configmap}).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Flags } from './flags.js';
import { loadAgentConfig, type LoadOptions, type LoadResult } from './load.js';
import type { AgentConfig } from './types.js';

export const CONFIG_SYNC_INTERVAL_MS = 10_000; // node-cache's DefaultConfigSyncPeriod

export type ConfigErrorType = 'configmap' | 'corefile';

export interface WatcherOptions extends LoadOptions {
  intervalMs?: number;
  onConfig(config: AgentConfig): void;
  onError(err: Error, errortype: ConfigErrorType): void;
}

export class ConfigWatcher {
  private current: LoadResult;
  private hash: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly onSignal = (): void => void this.check(true);

  constructor(private readonly flags: Flags, private readonly env: NodeJS.ProcessEnv, initial: LoadResult, private readonly opts: WatcherOptions) {
    this.current = initial;
    this.hash = hashPaths(initial.files);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(false), this.opts.intervalMs ?? CONFIG_SYNC_INTERVAL_MS);
    this.timer.unref();
    if (this.flags.reloadwithsignal) process.on('SIGUSR1', this.onSignal);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    process.off('SIGUSR1', this.onSignal);
  }

  /** The config in effect (the last good one). */
  get config(): AgentConfig {
    return this.current.config;
  }

  /** Re-read if the watched content changed (or always, when forced). True if onConfig ran. */
  check(force = false): boolean {
    const h = hashPaths(this.current.files);
    if (!force && h === this.hash) return false;
    // Remember the hash even for a bad config, so it is reported once per change, not per tick.
    this.hash = h;
    let next: LoadResult;
    try {
      next = loadAgentConfig(this.flags, this.env, { ...this.opts, previousKubeDns: this.current.kubeDns ?? undefined });
    } catch (e) {
      this.opts.onError(e as Error, 'corefile');
      return false;
    }
    for (const p of next.problems) this.opts.onError(p.error, p.errortype);
    const changed = fingerprint(next.config) !== fingerprint(this.current.config);
    this.current = next;
    this.hash = hashPaths(next.files); // the set of files may have changed (imports)
    if (changed) this.opts.onConfig(next.config);
    return changed;
  }
}

function fingerprint(c: AgentConfig): string {
  return JSON.stringify(c.servers) + '\0' + c.corefileText;
}

/** Content hash of files; a directory counts as its visible files (ConfigMap `..data` links followed). */
export function hashPaths(paths: string[]): string {
  const h = createHash('sha256');
  for (const p of paths) {
    h.update(`${p}\0`);
    addPath(h, p, true);
  }
  return h.digest('hex');
}

function addPath(h: ReturnType<typeof createHash>, p: string, descend: boolean): void {
  try {
    const st = statSync(p);
    if (st.isDirectory()) {
      if (!descend) return;
      for (const name of readdirSync(p).sort()) {
        if (name.startsWith('.')) continue;
        h.update(`/${name}\0`);
        addPath(h, join(p, name), false);
      }
    } else {
      h.update(readFileSync(p));
    }
  } catch {
    h.update('\0missing\0');
  }
}
