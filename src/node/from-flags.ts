// The agent's node setup from node-cache's flags. No -localip (the embedded laptop default) or
// both -setupinterface=false and -setupiptables=false: nothing to do on the node.
import type { Flags } from '../config/flags.js';
import type { Logger } from '../observe/log.js';
import { PRIVILEGE_HINT } from './exec.js';
import { NodeSetup, type SetupErrorType } from './setup.js';

export function nodeSetupFromFlags(flags: Flags, setupErrors: Record<string, number>, log: Logger): NodeSetup | null {
  if (flags.localip.length === 0 || (!flags.setupinterface && !flags.setupiptables)) return null;
  return new NodeSetup({
    localIps: flags.localip,
    interfaceName: flags.interfacename,
    setupInterface: flags.setupinterface,
    setupIptables: flags.setupiptables,
    dnsPort: flags.dnsPort || 53,
    healthPort: flags.healthPort,
    syncIntervalMs: flags.syncintervalMs,
    iptablesBackend: flags.iptablesBackend,
    log,
    onSetupError: (errortype: SetupErrorType) => {
      setupErrors[errortype] = (setupErrors[errortype] ?? 0) + 1;
    },
  });
}

/**
 * The one line printed when serving could not start. `refused` is the node setup step refused
 * for lack of privilege before serving was tried: then the address was never added and the bind
 * fails with EADDRNOTAVAIL, so the refusal is the cause and comes first, with what to do.
 */
export function startFailureLine(err: Error, refused: string | null, flags: Flags): string {
  if (refused) return `node setup refused, no privilege (${refused}): ${PRIVILEGE_HINT}; then serving failed: ${err.message}`;
  if (/EADDRNOTAVAIL/.test(err.message) && flags.localip.length > 0 && !flags.setupinterface) {
    return `${err.message}: with -setupinterface=false the -localip addresses must already be on an interface here`;
  }
  return err.message;
}
