// One Corefile server block at run time: its cache, its forwarder, and the coalescing of
// identical misses (one upstream query per key however many clients ask at once).
import { performance } from 'node:perf_hooks';
import { DnsCache, C_DROPS } from '../cache/cache.js';
import type { ServerBlockConfig } from '../config/types.js';
import { prepareAnswer } from '../dns/answer.js';
import { RCODE_REFUSED, RCODE_SERVFAIL } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { errorReply, replyFromAnswer, type AnswerWire } from '../dns/reply.js';
import { keyCheckingDisabled, keyDnssecOk, keyQclass, keyQname, keyQtype } from '../dns/wire.js';
import { OverloadError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import { PLUGIN_FORWARD, PLUGIN_NONE, PROTO_TCP, PROTO_UDP } from '../observe/stats.js';
import { Forwarder } from '../upstream/forwarder.js';
import type { Waiter } from './waiter.js';

/** Clients that may wait on one in-flight key; beyond it they get SERVFAIL at once. */
export const MAX_WAITERS_PER_KEY = 1024;

interface Pending {
  waiters: Waiter[];
}

export class BlockRuntime {
  readonly cache: DnsCache | null;
  readonly forwarder: Forwarder | null;
  /** Misses answered with an upstream answer that did not fit the question (FORMERR-ish). */
  upstreamDrops = 0;
  coalesced = 0;
  private readonly inflight = new Map<string, Pending>();
  private lastErrorLogAt = 0;

  constructor(
    readonly config: ServerBlockConfig,
    private readonly log: Logger,
    cache?: DnsCache | null,
  ) {
    this.cache = cache !== undefined ? cache : config.cache ? new DnsCache(config.cache) : null;
    this.forwarder = config.forward ? new Forwarder(config.forward, log) : null;
  }

  get pendingKeys(): number {
    return this.inflight.size;
  }

  /** A cache miss: join the in-flight query for `key` or start one. */
  resolve(key: string, w: Waiter): void {
    const existing = this.inflight.get(key);
    if (existing) {
      if (existing.waiters.length >= MAX_WAITERS_PER_KEY) return respondError(w, RCODE_SERVFAIL);
      existing.waiters.push(w);
      this.coalesced++;
      return;
    }
    if (!this.forwarder) return respondError(w, RCODE_REFUSED);
    const p: Pending = { waiters: [w] };
    this.inflight.set(key, p);
    const qname = keyQname(key);
    const qtype = keyQtype(key);
    const qclass = keyQclass(key);
    const query = buildQuery(qname, qtype, qclass, { cd: keyCheckingDisabled(key), dnssecOk: keyDnssecOk(key) });
    this.forwarder.forward({ query, qname, qtype, qclass }, w.sink.tcp).then(
      (res) => this.complete(key, p, res, qname, qtype, qclass),
      (err: Error) => this.fail(key, p, err),
    );
  }

  private complete(key: string, p: Pending, res: Buffer, qname: Buffer, qtype: number, qclass: number): void {
    this.inflight.delete(key);
    const prepared = prepareAnswer(res, qname, qtype, qclass);
    if (!prepared) {
      this.upstreamDrops++;
      if (this.cache) this.cache.counters[C_DROPS]!++;
      for (const w of p.waiters) respondError(w, RCODE_SERVFAIL);
      return;
    }
    const entry = this.cache?.insert(key, prepared) ?? null;
    const answer: AnswerWire = entry ?? { wire: prepared.wire, ttlOffsets: prepared.ttlOffsets, servedTtls: prepared.ttls };
    for (const w of p.waiters) {
      const reply = replyFromAnswer(answer, w.query, w, 0, w.limit, false);
      send(w, reply, prepared.rcode, PLUGIN_FORWARD);
    }
  }

  private fail(key: string, p: Pending, err: Error): void {
    this.inflight.delete(key);
    const rcode = err instanceof OverloadError ? RCODE_REFUSED : RCODE_SERVFAIL;
    if (this.config.errors.enabled) {
      const now = Date.now();
      if (now - this.lastErrorLogAt >= 1000) {
        this.lastErrorLogAt = now;
        this.log.error('upstream failure', { zone: this.config.zones[0], err, waiters: p.waiters.length });
      }
    }
    for (const w of p.waiters) respondError(w, rcode);
  }

  close(): void {
    this.forwarder?.close();
  }
}

function respondError(w: Waiter, rcode: number): void {
  send(w, errorReply(w.query, w, rcode), rcode, PLUGIN_NONE);
}

function send(w: Waiter, reply: Buffer, rcode: number, plugin: number): void {
  w.sink.send(reply, w.address, w.port);
  w.stats.response(w.sink.tcp ? PROTO_TCP : PROTO_UDP, rcode, plugin, reply.length, (performance.now() - w.startedAt) / 1000);
}
