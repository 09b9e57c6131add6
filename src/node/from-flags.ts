// The agent's node setup from node-cache's flags. No -localip (the embedded laptop default) or
// both -setupinterface=false and -setupiptables=false: nothing to do on the node.
import type { Flags } from '../config/flags.js';
import type { Logger } from '../observe/log.js';
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
