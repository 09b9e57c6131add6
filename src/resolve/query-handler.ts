// The request path for one listener: parse by hand, pick the zone, answer a cache hit straight
// from the stored wire (or a stale one, RFC 8767), hand a miss to the block. What counts as a hit
// and the reply built from it are the cache's (cache/policy.ts, cache/entry-reply.ts). No closures
// and no decoding on a hit; a prefetch or stale refresh is started after the reply is sent.
import { performance } from 'node:perf_hooks';
import { RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTIMP, RCODE_REFUSED } from '../dns/constants.js';
import { errorReply, replyBound } from '../dns/reply.js';
import { PARSE_DROP, PARSE_OK, ParsedQuery, parseQuery, queryKey } from '../dns/wire.js';
import { CLOCK_ORIGIN, MAX_AGE_MS } from '../cache/cache.js';
import { replyFromEntry, writeReplyFromEntry } from '../cache/entry-reply.js';
import { ENTRY_FRESH, ENTRY_STALE_NOW, ENTRY_VERIFY, REFRESH_NONE, REFRESH_PREFETCH, entryState, recordHit, refreshAfterAnswer } from '../cache/policy.js';
import { ListenerStats, PLUGIN_CACHE, PROTO_TCP, PROTO_UDP } from './stats.js';
import type { ZoneTable } from './zone-table.js';
import type { Peer } from '../observe/query-log.js';
import { Waiter, type ReplySink } from './waiter.js';

export class QueryHandler {
  /** Swapped whole on reload; a query in progress keeps the table it started with. */
  table: ZoneTable;
  private readonly q = new ParsedQuery();

  constructor(
    table: ZoneTable,
    readonly stats: ListenerStats,
  ) {
    this.table = table;
  }

  /**
   * The query is `msg[0, len)`. `family` is 0 for IPv4, 1 for IPv6 (CoreDNS labels them "1" and
   * "2"). Returns false when the query was dropped and `sink` will never get a reply for it (TCP
   * must not wait for one).
   */
  handle(msg: Buffer, sink: ReplySink, address: Peer, port: number, family: number, len = msg.length): boolean {
    // A batch's receive time comes as memory the native side wrote; performance.now() returns a
    // new heap number each call (16 B a query, bench/hot-path.md). It also counts the time the
    // query waited behind the earlier ones of its batch, which a client waits too.
    const clock = sink.clock;
    const t0 = clock !== undefined ? clock[0]! - clock[1]! : performance.now();
    const q = this.q;
    const status = parseQuery(msg, q, len, sink.words, sink.wordsAt);
    if (status !== PARSE_OK) return this.reject(msg, sink, address, port, status);
    const route = this.table.match(q);
    if (!route) {
      this.stats.refused++;
      sink.send(errorReply(msg, q, RCODE_REFUSED), address, port);
      return true;
    }
    const stats = route.stats;
    const proto = sink.tcp ? PROTO_TCP : PROTO_UDP;
    stats.request(proto, family, q.qtype, len, q.dnssecOk);
    const cache = route.cache;
    if (cache !== null) {
      const e = cache.lookup(q);
      if (e !== undefined) {
        // The entry's age in whole ms from the one clock reading, worked out here: a double that
        // crosses a call V8 did not inline is boxed, 16 B a hit (bench/hot-path.md); an int is not.
        const d = (cache.monotonic ? CLOCK_ORIGIN + t0 : cache.now()) - e.storedAt;
        const age = (d >= MAX_AGE_MS ? MAX_AGE_MS : d <= -MAX_AGE_MS ? -MAX_AGE_MS : Math.floor(d)) | 0;
        const state = entryState(e, age, cache.config);
        if (state === ENTRY_FRESH || state === ENTRY_STALE_NOW) {
          // Stale answers count as hits, as CoreDNS counts them (getIgnoreTTL).
          stats.hit(e);
          if (state === ENTRY_FRESH) recordHit(e, age, cache.config);
          const limit = sink.tcp ? 0xffff : q.udpPayload;
          // Straight into the listener's send slab when it has room; else a Buffer of its own.
          const at = sink.reserve(replyBound(e, q), address, port);
          let reply: Buffer | null = null;
          let replyLen: number;
          if (at >= 0) {
            replyLen = writeReplyFromEntry(sink.slab!, at, cache, e, age, msg, q, limit, stats);
            // Its duration is counted by the listener when the batch's replies leave.
            sink.sendWritten(replyLen, stats);
            stats.answered(proto, e.rcode, PLUGIN_CACHE, replyLen);
          } else {
            reply = replyFromEntry(cache, e, age, msg, q, limit, stats);
            replyLen = reply.length;
            sink.send(reply, address, port);
            let t1: number;
            if (clock !== undefined) {
              sink.stamp!();
              t1 = clock[2]! - clock[1]!;
            } else t1 = performance.now();
            stats.response(proto, e.rcode, PLUGIN_CACHE, replyLen, ((t1 - t0) * 1000) | 0);
          }
          const ql = route.block.queryLog;
          if (ql !== null) ql.log({ query: msg, qnameEnd: q.qnameEnd, size: len, dnssecOk: q.dnssecOk, limit }, sink.tcp, address, port, reply ?? sink.slab!.subarray(at, at + replyLen), t0);
          if (route.forward) {
            const refresh = refreshAfterAnswer(e, state, age, cache.config);
            if (refresh !== REFRESH_NONE) route.block.refresh(e, refresh === REFRESH_PREFETCH);
          }
          return true;
        }
        if (state === ENTRY_VERIFY) {
          stats.hit(e);
          route.block.resolve(queryKey(q), new Waiter(msg, q, sink, address, port, t0, stats), route, e);
          return true;
        }
      }
      stats.cacheMisses++;
    }
    route.block.resolve(queryKey(q), new Waiter(msg, q, sink, address, port, t0, stats), route);
    return true;
  }

  /** Malformed or unsupported: answer when the header was readable, else drop; count both. */
  private reject(msg: Buffer, sink: ReplySink, address: Peer, port: number, status: number): boolean {
    const q = this.q;
    if (status === PARSE_DROP || !q.answerable) {
      this.stats.dropped++;
      return false;
    }
    if (status === RCODE_NOTIMP) this.stats.notimp++;
    else if (status === RCODE_FORMERR || status === RCODE_BADVERS) this.stats.formerr++;
    sink.send(errorReply(msg, q, status), address, port);
    return true;
  }
}
