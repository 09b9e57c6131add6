// The request path for one listener: parse by hand, pick the zone, answer a cache hit straight
// from the stored wire (or a stale one, RFC 8767), hand a miss to the block. No closures and no
// decoding on a hit; a prefetch or stale refresh is started after the reply is sent.
import { performance } from 'node:perf_hooks';
import { RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTIMP, RCODE_REFUSED } from '../dns/constants.js';
import { errorReply, replyFromAnswer } from '../dns/reply.js';
import { PARSE_DROP, PARSE_OK, ParsedQuery, parseQuery } from '../dns/wire.js';
import { KIND_SUCCESS } from '../dns/answer.js';
import { C_STALE } from '../cache/cache.js';
import { STALE_TTL, answerStaleAtOnce, canRefresh, recordHit, shouldPrefetch } from '../cache/policy.js';
import { ListenerStats, PLUGIN_CACHE, PROTO_TCP, PROTO_UDP } from './stats.js';
import type { ZoneTable } from './zone-table.js';
import { Waiter, type Peer, type ReplySink } from './waiter.js';

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
   * `family` is 0 for IPv4, 1 for IPv6 (CoreDNS labels them "1" and "2"). Returns false when the
   * query was dropped and `sink` will never get a reply for it (TCP must not wait for one).
   */
  handle(msg: Buffer, sink: ReplySink, address: Peer, port: number, family: number): boolean {
    const t0 = performance.now();
    const q = this.q;
    const status = parseQuery(msg, q);
    if (status !== PARSE_OK) return this.reject(msg, sink, address, port, status);
    const route = this.table.match(q);
    if (!route) {
      this.stats.refused++;
      sink.send(errorReply(msg, q, RCODE_REFUSED), address, port);
      return true;
    }
    const stats = route.stats;
    const proto = sink.tcp ? PROTO_TCP : PROTO_UDP;
    stats.request(proto, family, q.qtype, msg.length, q.dnssecOk);
    const cache = route.cache;
    if (cache !== null) {
      const e = cache.get(q.key);
      if (e !== undefined) {
        const now = cache.nowAt(t0);
        if (now < e.expiresAt) {
          const reply = replyFromAnswer(e, msg, q, ((now - e.storedAt) / 1000) | 0, sink.tcp ? 0xffff : q.udpPayload, true);
          sink.send(reply, address, port);
          const ql = route.block.queryLog;
          if (ql !== null) ql.log({ query: msg, qnameEnd: q.qnameEnd, size: msg.length, dnssecOk: q.dnssecOk, limit: sink.tcp ? 0xffff : q.udpPayload }, sink.tcp, address, port, reply, t0);
          recordHit(e, now, cache.config);
          if (e.kind === KIND_SUCCESS) stats.cacheHitsSuccess++;
          else stats.cacheHitsDenial++;
          stats.response(proto, e.rcode, PLUGIN_CACHE, reply.length, (performance.now() - t0) / 1000);
          if (cache.config.prefetch !== null && route.forward && shouldPrefetch(e, now, cache.config)) route.block.refresh(e, true);
          return true;
        }
        if (now < e.staleUntil) {
          // RFC 8767: servable stale. Counted as a hit, as CoreDNS does (getIgnoreTTL).
          if (e.kind === KIND_SUCCESS) stats.cacheHitsSuccess++;
          else stats.cacheHitsDenial++;
          if (answerStaleAtOnce(e, now, cache.config)) {
            const reply = replyFromAnswer(e, msg, q, 0, sink.tcp ? 0xffff : q.udpPayload, true, STALE_TTL);
            sink.send(reply, address, port);
            const ql = route.block.queryLog;
            if (ql !== null) ql.log({ query: msg, qnameEnd: q.qnameEnd, size: msg.length, dnssecOk: q.dnssecOk, limit: sink.tcp ? 0xffff : q.udpPayload }, sink.tcp, address, port, reply, t0);
            stats.cacheServedStale++;
            cache.counters[C_STALE]!++;
            stats.response(proto, e.rcode, PLUGIN_CACHE, reply.length, (performance.now() - t0) / 1000);
            if (route.forward && canRefresh(e, now)) route.block.refresh(e, false);
            return true;
          }
          route.block.resolve(q.key, new Waiter(msg, q, sink, address, port, t0, stats), route, e);
          return true;
        }
      }
      stats.cacheMisses++;
    }
    route.block.resolve(q.key, new Waiter(msg, q, sink, address, port, t0, stats), route);
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
