// One Corefile server block at run time: its cache, its forwarder, and the coalescing of
// identical misses (one upstream query per key however many clients ask at once).
import { performance } from 'node:perf_hooks';
import { DnsCache, C_DROPS } from '../cache/cache.js';
import type { ServerBlockConfig } from '../config/types.js';
import { prepareAnswer } from '../dns/answer.js';
import { RCODE_REFUSED, RCODE_SERVFAIL, rcodeName } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { errorReply, replyFromAnswer, type AnswerWire } from '../dns/reply.js';
import { keyCheckingDisabled, keyDnssecOk, keyQclass, keyQname, keyQtype } from '../dns/wire.js';
import { OverloadError } from '../errors.js';
import { dnsTypeName } from '../observe/dns-names.js';
import { ErrorReporter } from '../observe/errors.js';
import type { Logger } from '../observe/log.js';
import { presentName, QueryLog } from '../observe/query-log.js';
import { forwarded, PLUGIN_FORWARD, PLUGIN_NONE, PROTO_TCP, PROTO_UDP } from '../observe/stats.js';
import { Forwarder } from '../upstream/forwarder.js';
import type { Waiter } from './waiter.js';

/** Clients that may wait on one in-flight key; beyond it they get SERVFAIL at once. */
export const MAX_WAITERS_PER_KEY = 1024;

interface Pending {
  waiters: Waiter[];
  startedAt: number; // performance.now() when the upstream query went out
}

export class BlockRuntime {
  readonly cache: DnsCache | null;
  readonly forwarder: Forwarder | null;
  /** `log` directive: null when off, so the reply path pays one null check. */
  readonly queryLog: QueryLog | null;
  private readonly errors: ErrorReporter | null;
  /** Misses answered with an upstream answer that did not fit the question (FORMERR-ish). */
  upstreamDrops = 0;
  coalesced = 0;
  private readonly inflight = new Map<string, Pending>();

  constructor(
    readonly config: ServerBlockConfig,
    private readonly log: Logger,
    cache?: DnsCache | null,
  ) {
    this.cache = cache !== undefined ? cache : config.cache ? new DnsCache(config.cache) : null;
    this.forwarder = config.forward ? new Forwarder(config.forward, log) : null;
    this.queryLog = config.log.enabled ? new QueryLog() : null;
    this.errors = config.errors.enabled ? new ErrorReporter(config.errors, log) : null;
  }

  get pendingKeys(): number {
    return this.inflight.size;
  }

  /** A cache miss: join the in-flight query for `key` or start one. */
  resolve(key: string, w: Waiter): void {
    const existing = this.inflight.get(key);
    if (existing) {
      if (existing.waiters.length >= MAX_WAITERS_PER_KEY) return respondError(w, RCODE_SERVFAIL, this.queryLog);
      existing.waiters.push(w);
      this.coalesced++;
      return;
    }
    if (!this.forwarder) return respondError(w, RCODE_REFUSED, this.queryLog);
    const p: Pending = { waiters: [w], startedAt: performance.now() };
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
    forwarded(p.waiters[0]!.stats, (performance.now() - p.startedAt) / 1000, true);
    const prepared = prepareAnswer(res, qname, qtype, qclass);
    if (!prepared) {
      this.upstreamDrops++;
      if (this.cache) this.cache.counters[C_DROPS]!++;
      for (const w of p.waiters) respondError(w, RCODE_SERVFAIL, this.queryLog);
      return;
    }
    const entry = this.cache?.insert(key, prepared) ?? null;
    const answer: AnswerWire = entry ?? { wire: prepared.wire, ttlOffsets: prepared.ttlOffsets, servedTtls: prepared.ttls };
    for (const w of p.waiters) {
      const reply = replyFromAnswer(answer, w.query, w, 0, w.limit, false);
      send(w, reply, prepared.rcode, PLUGIN_FORWARD, this.queryLog);
    }
  }

  private fail(key: string, p: Pending, err: Error): void {
    this.inflight.delete(key);
    forwarded(p.waiters[0]!.stats, (performance.now() - p.startedAt) / 1000, false);
    const rcode = err instanceof OverloadError ? RCODE_REFUSED : RCODE_SERVFAIL;
    this.errors?.report(rcodeName(rcode), presentName(keyQname(key), 0), dnsTypeName(keyQtype(key)), err);
    for (const w of p.waiters) respondError(w, rcode, this.queryLog);
  }

  close(): void {
    this.errors?.stop();
    this.forwarder?.close();
  }
}

function respondError(w: Waiter, rcode: number, ql: QueryLog | null): void {
  send(w, errorReply(w.query, w, rcode), rcode, PLUGIN_NONE, ql);
}

function send(w: Waiter, reply: Buffer, rcode: number, plugin: number, ql: QueryLog | null): void {
  w.sink.send(reply, w.address, w.port);
  if (ql !== null) ql.log(w, w.sink.tcp, w.address, w.port, reply, w.startedAt);
  w.stats.response(w.sink.tcp ? PROTO_TCP : PROTO_UDP, rcode, plugin, reply.length, (performance.now() - w.startedAt) / 1000);
}
