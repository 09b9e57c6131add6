// One Corefile server block at run time: its cache, its forwarder, and the coalescing of
// identical misses and background refreshes (one upstream query per key however many clients
// ask at once). When upstream fails or is slow, waiters get the cached fallback (RFC 8767).
import { performance } from 'node:perf_hooks';
import { DnsCache, C_DROPS, monotonicMs, type CacheEntry, type Clock } from '../cache/cache.js';
import { replyFromEntry } from '../cache/entry-reply.js';
import { STALE_CLIENT_TIMEOUT_MS, keepFallbackOver, servable, startRefresh, storeAnswer } from '../cache/policy.js';
import type { ServerBlockConfig } from '../config/types.js';
import { prepareAnswer } from '../dns/answer.js';
import { RCODE_REFUSED, RCODE_SERVFAIL } from '../dns/constants.js';
import { buildQueryFromKey } from '../dns/query.js';
import { OWN_TTLS, PackedAnswer } from '../dns/packed.js';
import { errorReply, replyFromAnswer } from '../dns/reply.js';
import { keyQclass, keyQname, keyQtype } from '../dns/key.js';
import { NoNextPluginError, OverloadError } from '../errors.js';
import { dnsTypeName } from '../dns/names.js';
import { ErrorReporter } from '../observe/error-log.js';
import { withFields, type Logger } from '../observe/log.js';
import { presentName, QueryLog } from '../observe/query-log.js';
import { forwarded, PLUGIN_CACHE, PLUGIN_FORWARD, PLUGIN_NONE, PROTO_TCP, PROTO_UDP } from './stats.js';
import type { ForwardQuestion } from '../upstream/attempt.js';
import { Forwarder } from '../upstream/forwarder.js';
import type { ForwardDone } from '../upstream/race.js';
import type { PoolRegistry } from '../upstream/pool-registry.js';
import { PendingBudget } from './pending-budget.js';
import type { Waiter } from './waiter.js';
import type { Route } from './zone-table.js';

/** Clients that may wait on one in-flight key; beyond it they get the fallback or SERVFAIL at once. */
export const MAX_WAITERS_PER_KEY = 1024;

/**
 * One in-flight upstream query and the clients waiting on it. It is also where the forwarder
 * delivers the outcome (no Promise and no closures per miss).
 */
class Pending implements ForwardDone, ForwardQuestion {
  timer: NodeJS.Timeout | null = null; // RFC 8767 client-response timer
  slow = false; // the timer fired: later joiners get the fallback at once
  readonly startedAt = performance.now(); // when the query went upstream
  /** The upstream query, and its question: the name is a view into it. */
  readonly query: Buffer;
  readonly qname: Buffer;
  readonly qtype: number;
  readonly qclass: number;

  constructor(
    private readonly block: BlockRuntime,
    readonly key: string,
    public waiters: Waiter[],
    /** The cached entry this query refreshes: answered instead when upstream fails or is slow. */
    public fallback: CacheEntry | null,
    /** Where the answer is stored: the block's cache, or null for a name outside its zones. */
    readonly cache: DnsCache | null,
  ) {
    this.query = buildQueryFromKey(key);
    this.qname = this.query.subarray(12, 12 + key.length - 5);
    this.qtype = keyQtype(key);
    this.qclass = keyQclass(key);
  }

  answer(res: Buffer): void {
    this.block.complete(this, res);
  }

  fail(err: Error): void {
    this.block.fail(this, err);
  }
}

export class BlockRuntime {
  readonly cache: DnsCache | null;
  readonly forwarder: Forwarder | null;
  /** `log` directive: null when off, so the reply path pays one null check. */
  readonly queryLog: QueryLog | null;
  private readonly errors: ErrorReporter | null;
  private readonly inflight = new Map<string, Pending>();

  /**
   * `clock` drives the cache's TTLs when the block makes its own cache (tests inject one);
   * `pools`: the agent's TCP connection pools, shared by every block forwarding to an address.
   */
  constructor(
    readonly config: ServerBlockConfig,
    log: Logger,
    cache?: DnsCache | null,
    clock: Clock = monotonicMs,
    pools?: PoolRegistry,
    /** The agent-wide bound on pending upstream queries, shared by every block. */
    private readonly budget: PendingBudget = new PendingBudget(),
  ) {
    this.cache = cache !== undefined ? cache : config.cache ? new DnsCache(config.cache, clock) : null;
    // Its lines name the block's zones: FROM is "." in node-cache's cluster.local block too.
    this.forwarder = config.forward ? new Forwarder(config.forward, withFields(log, { zone: config.zones.join(',') }), pools) : null;
    this.queryLog = config.log.enabled ? new QueryLog() : null;
    this.errors = config.errors.enabled ? new ErrorReporter(config.errors, log) : null;
  }

  get pendingKeys(): number {
    return this.inflight.size;
  }

  /**
   * A cache miss (or a stale entry in `verify` mode, passed as `fallback`): join the in-flight
   * query for `key` or start one. `route` says whether the block's `cache` and `forward` take the
   * name (zone-table.ts).
   */
  resolve(key: string, w: Waiter, route: Pick<Route, 'cache' | 'forward'>, fallback: CacheEntry | null = null): void {
    if (!route.forward || this.forwarder === null) return this.notForwarded(key, w);
    const p = this.inflight.get(key);
    if (p) {
      if (fallback !== null && p.fallback === null) p.fallback = fallback;
      if (p.slow && this.answerFallback(w, p.fallback)) return;
      if (p.waiters.length >= MAX_WAITERS_PER_KEY) {
        if (!this.answerFallback(w, p.fallback)) respondError(w, RCODE_SERVFAIL, this.queryLog);
        return;
      }
      p.waiters.push(w);
      this.armTimer(p);
      return;
    }
    if (!this.budget.take()) {
      if (!this.answerFallback(w, fallback)) respondError(w, RCODE_SERVFAIL, this.queryLog);
      return;
    }
    this.start(key, [w], fallback, w.sink.tcp, route.cache);
  }

  /**
   * CoreDNS passes a name its `forward` does not take (or every name, in a block without one) to
   * the next plugin; with none after it the chain ends in SERVFAIL, "no next plugin found".
   */
  private notForwarded(key: string, w: Waiter): void {
    const last = this.forwarder !== null ? 'forward' : this.cache !== null ? 'cache' : 'errors';
    this.errors?.report(RCODE_SERVFAIL, presentName(keyQname(key), 0), dnsTypeName(keyQtype(key)), new NoNextPluginError(last));
    respondError(w, RCODE_SERVFAIL, this.queryLog);
  }

  /** Refresh `e` in the background (prefetch, or stale `immediate`); a miss for its key joins it. */
  refresh(e: CacheEntry, prefetch: boolean): void {
    if (!this.forwarder || this.inflight.has(e.key) || !this.budget.take()) return;
    startRefresh(this.cache, e, prefetch);
    this.start(e.key, [], e, false, this.cache);
  }

  private start(key: string, waiters: Waiter[], fallback: CacheEntry | null, tcp: boolean, cache: DnsCache | null): void {
    const p = new Pending(this, key, waiters, fallback, cache);
    this.inflight.set(key, p);
    this.armTimer(p);
    this.forwarder!.forwardTo(p, tcp, p);
  }

  /** Start the client-response timer when serve_stale is on and someone waits on a fallback. */
  private armTimer(p: Pending): void {
    if (p.timer !== null || p.slow || p.fallback === null || p.waiters.length === 0) return;
    if (!this.cache?.config.serveStale) return;
    const left = Math.max(0, STALE_CLIENT_TIMEOUT_MS - (performance.now() - p.startedAt));
    p.timer = setTimeout(() => this.onSlow(p), left);
  }

  /** Upstream is slower than the client-response timer: answer the waiters from the fallback. */
  private onSlow(p: Pending): void {
    p.timer = null;
    p.slow = true;
    const waiters = p.waiters;
    p.waiters = [];
    for (const w of waiters) if (!this.answerFallback(w, p.fallback)) p.waiters.push(w);
  }

  /** The forwarder's answer for `p` (called by Pending). */
  complete(p: Pending, res: Buffer): void {
    this.settle(p.key, p);
    this.deliver(p, res);
    release(p);
  }

  private deliver(p: Pending, res: Buffer): void {
    const key = p.key;
    const first = p.waiters[0];
    if (first !== undefined) forwarded(first.stats, (performance.now() - p.startedAt) / 1000, true);
    const prepared = prepareAnswer(res, p.qname, p.qtype, p.qclass);
    if (!prepared) {
      if (p.cache) p.cache.counters[C_DROPS]!++;
      return this.failWaiters(p, RCODE_SERVFAIL);
    }
    if (p.fallback !== null && this.cache !== null && keepFallbackOver(prepared.rcode, p.fallback, this.cache.now())) return this.failWaiters(p, prepared.rcode);
    const cache = p.cache;
    const entry = cache !== null ? storeAnswer(cache, key, prepared, p.fallback) : null;
    const answer = entry ?? new PackedAnswer(prepared, OWN_TTLS);
    for (const w of p.waiters) {
      const reply = replyFromAnswer(answer, w.query, w, 0, w.limit, false);
      send(w, reply, prepared.rcode, PLUGIN_FORWARD, this.queryLog);
    }
  }

  /** The forwarder gave up on `p` (called by Pending). */
  fail(p: Pending, err: Error): void {
    const key = p.key;
    this.settle(key, p);
    const first = p.waiters[0];
    if (first !== undefined) forwarded(first.stats, (performance.now() - p.startedAt) / 1000, false);
    const rcode = err instanceof OverloadError ? RCODE_REFUSED : RCODE_SERVFAIL;
    this.errors?.report(rcode, presentName(keyQname(key), 0), dnsTypeName(keyQtype(key)), err);
    this.failWaiters(p, rcode);
    release(p);
  }

  private settle(key: string, p: Pending): void {
    this.inflight.delete(key);
    this.budget.release();
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    if (p.fallback !== null) p.fallback.refreshing = false;
  }

  /** Upstream failed: start the failure recheck timer, answer from the fallback or with `rcode`. */
  private failWaiters(p: Pending, rcode: number): void {
    const fb = p.fallback;
    if (fb !== null && this.cache !== null) fb.refreshFailedAt = this.cache.now();
    for (const w of p.waiters) if (!this.answerFallback(w, fb)) respondError(w, rcode, this.queryLog);
  }

  /** Answer `w` from a cached entry while it is servable (cache/entry-reply.ts). */
  private answerFallback(w: Waiter, e: CacheEntry | null): boolean {
    const cache = this.cache;
    if (cache === null) return false;
    const now = cache.now();
    if (!servable(e, now)) return false;
    const reply = replyFromEntry(cache, e, e.ageAt(now), w.query, w, w.limit, w.stats);
    send(w, reply, e.rcode, PLUGIN_CACHE, this.queryLog);
    return true;
  }

  close(): void {
    this.errors?.stop();
    this.forwarder?.close();
  }
}

const NO_WAITERS: Waiter[] = [];

/**
 * The query is answered: drop what only its clients needed. The forwarder's timer wheel keeps a
 * finished try (and through it this Pending) queued until the slot of its timeout comes round,
 * up to the 2 s try timeout later; at 25k misses/s that held ~50k queries' waiters, their query
 * copies and replaced cache entries, and pushed them all into old space.
 */
function release(p: Pending): void {
  p.waiters = NO_WAITERS;
  p.fallback = null;
}

function respondError(w: Waiter, rcode: number, ql: QueryLog | null): void {
  send(w, errorReply(w.query, w, rcode), rcode, PLUGIN_NONE, ql);
}

function send(w: Waiter, reply: Buffer, rcode: number, plugin: number, ql: QueryLog | null): void {
  w.sink.send(reply, w.address, w.port);
  if (ql !== null) ql.log(w, w.sink.tcp, w.address, w.port, reply, w.startedAt);
  w.stats.response(w.sink.tcp ? PROTO_TCP : PROTO_UDP, rcode, plugin, reply.length, ((performance.now() - w.startedAt) * 1000) | 0);
}
