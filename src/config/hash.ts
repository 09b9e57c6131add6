// coredns_reload_version_info{hash="sha512",value=...}: CoreDNS's reload plugin labels the
// running config with the SHA-512 of the Corefile text. Same here, so dashboards keep working.
import { createHash } from 'node:crypto';
import type { AgentConfig } from './types.js';

export function reloadVersionInfo(config: AgentConfig): { hash: 'sha512'; value: string } {
  const text = config.corefileText !== '' ? config.corefileText : JSON.stringify(config.servers);
  return { hash: 'sha512', value: createHash('sha512').update(text).digest('hex') };
}
