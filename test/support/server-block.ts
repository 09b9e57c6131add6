// A server block's configuration with every plugin off unless the test turns it on, and one block
// behind a QueryHandler in the test process (no sockets): for tests that feed the request path
// bytes directly.
import type { ServerBlockConfig } from '../../src/config/types.js';
import { blankServerBlock } from '../../src/config/corefile/build.js';
import { silentLogger } from '../../src/observe/log.js';
import { BlockRuntime } from '../../src/resolve/block.js';
import { QueryHandler } from '../../src/resolve/query-handler.js';
import { ListenerStats, ZoneStats } from '../../src/resolve/stats.js';
import { blockRoutes, ZoneTable } from '../../src/resolve/zone-table.js';

export function serverBlock(o: Partial<ServerBlockConfig> & Pick<ServerBlockConfig, 'zones'>): ServerBlockConfig {
  return {
    ...blankServerBlock('test'),
    port: 53,
    bind: ['127.0.0.1'],
    ...o,
  };
}

export interface BlockHandler {
  block: BlockRuntime;
  handler: QueryHandler;
  /** The counters of the block's first zone on the listener "dns://127.0.0.1:53". */
  stats: ZoneStats;
  listener: ListenerStats;
}

/** `cfg`'s first zone routed by a QueryHandler of its own; close `block` when done. */
export function blockHandler(cfg: ServerBlockConfig): BlockHandler {
  const zone = cfg.zones[0]!;
  const block = new BlockRuntime(cfg, silentLogger);
  const stats = new ZoneStats('dns://127.0.0.1:53', zone);
  const listener = new ListenerStats('dns://127.0.0.1:53');
  const handler = new QueryHandler(new ZoneTable(blockRoutes(block, zone, stats)), listener);
  return { block, handler, stats, listener };
}
