// Replies on the raw bytes. `writeReplyFromAnswer` is the cache-hit path: one copy of the stored
// wire into the listener's send slab (or into `replyFromAnswer`'s own Buffer), then the client's
// ID, flags and qname case, aged TTLs at stored offsets, the client's own OPT, and when the
// client's UDP size is too small, the whole records that fit.
import {
  EDNS_DO,
  FLAG_AA,
  FLAG_AD,
  FLAG_QR,
  FLAG_RD,
  FLAG_TC,
  HEADER_LEN,
  OPCODE_MASK,
  OPT_RR_LEN,
  OUR_UDP_PAYLOAD,
  RCODE_BADVERS,
  TYPE_OPT,
} from './constants.js';
import { OWN_TTLS, type PackedAnswer } from './packed.js';

/**
 * Node's Buffer method behind write(string, offset, length, 'latin1'); not in @types/node. Held
 * here and called with `.call`: looked up on each reply, the method was a property load V8 left
 * to its generic inline cache (Builtins_LoadIC in the hit path's profile).
 */
const latin1Write = (Buffer.prototype as unknown as { latin1Write(this: Buffer, s: string, offset: number, length: number): number }).latin1Write;

/** The parts of a query a reply needs: a ParsedQuery, or a waiter's copy of one. */
export interface QueryView {
  flags: number;
  qnameEnd: number;
  questionEnd: number;
  /** The query's name has no uppercase letter (ParsedQuery.nameLowercase). */
  nameLowercase: boolean;
  hasEdns: boolean;
  dnssecOk: boolean;
}

/**
 * The reply for `q` (parsed from `query`) from `a`, its TTLs aged by `elapsedSec`, in a Buffer
 * of its own (see `writeReplyFromAnswer`).
 */
export function replyFromAnswer(
  a: PackedAnswer,
  query: Buffer,
  q: QueryView,
  elapsedSec: number,
  limit: number,
  authoritative: boolean,
  fixedTtl = -1,
): Buffer {
  const out = Buffer.allocUnsafe(replyLength(a, q, limit));
  writeReplyFromAnswer(out, 0, a, query, q, elapsedSec, limit, authoritative, fixedTtl);
  return out;
}

/** The most bytes `writeReplyFromAnswer` writes for `a` and `q`: what a listener reserves. */
export function replyBound(a: PackedAnswer, q: QueryView): number {
  return a.wireLen + (q.hasEdns ? OPT_RR_LEN : 0);
}

/** The reply's length under `limit` (whole records that fit when the answer does not). */
export function replyLength(a: PackedAnswer, q: QueryView, limit: number): number {
  return wireKept(a, q, limit, keptRecords(a, q, limit)) + (q.hasEdns ? OPT_RR_LEN : 0);
}

/** How many records the reply keeps: all, or the whole ones that fit under `limit` with the OPT. */
function keptRecords(a: PackedAnswer, q: QueryView, limit: number): number {
  const optLen = q.hasEdns ? OPT_RR_LEN : 0;
  return a.wireLen + optLen <= limit ? a.ttlCount : recordsThatFit(a, limit - optLen);
}

/** The wire bytes (OPT not counted) of a reply keeping `kept` records. */
function wireKept(a: PackedAnswer, q: QueryView, limit: number, kept: number): number {
  if (kept === a.ttlCount && a.wireLen + (q.hasEdns ? OPT_RR_LEN : 0) <= limit) return a.wireLen;
  return kept > 0 ? a.recordEnd(kept - 1) : q.questionEnd;
}

/**
 * Write the reply for `q` (parsed from `query`) from `a` into `out` at `base`, its TTLs aged by
 * `elapsedSec`; returns its length (at most `replyBound`). The cache-hit path writes it straight
 * into the listener's send slab, so a hit builds no Buffer of its own.
 * `limit` is the most the transport may carry (client's UDP payload, or 65535 on TCP); an answer
 * beyond it keeps the whole records that fit, with TC set (see `recordsThatFit`).
 * Every TTL is `a.uniformTtl` aged (or each record's own aged, with OWN_TTLS); `fixedTtl` ≥ 0
 * overrides them all (serve-stale answers use 30 s, RFC 8767 §4).
 */
export function writeReplyFromAnswer(
  out: Buffer,
  base: number,
  a: PackedAnswer,
  query: Buffer,
  q: QueryView,
  elapsedSec: number,
  limit: number,
  authoritative: boolean,
  fixedTtl = -1,
): number {
  const optLen = q.hasEdns ? OPT_RR_LEN : 0;
  const records = a.ttlCount;
  const kept = keptRecords(a, q, limit);
  const wireLen = wireKept(a, q, limit, kept);
  // Buffer#latin1Write is what Buffer#write(…, 'latin1') calls after its argument handling, which
  // costs more than the copy itself (≈ 150 vs 270 ns per reply measured on Node 20).
  latin1Write.call(out, a.data, base, wireLen);
  out[base] = query[0]!;
  out[base + 1] = query[1]!;
  writeFlags(out, base, (out[base + 2]! << 8) | out[base + 3]!, q, authoritative);
  if (kept < records) truncateCounts(out, base, kept);
  // The client's qname case (RFC 4343 §4.1: the question is echoed as sent, which 0x20-encoding
  // resolvers check). A stored answer's question holds the lowercased name (prepareAnswer), so a
  // lowercase query, the usual one, skips the copy: a byte loop costing ~50 ns of a ~290 ns hit.
  if (!q.nameLowercase) for (let i = HEADER_LEN; i < q.qnameEnd; i++) out[base + i] = query[i]!;
  // One TTL for every record (CoreDNS), unless the answer keeps each record's own (OWN_TTLS).
  const uniform = fixedTtl >= 0 ? fixedTtl : a.uniformTtl >= 0 ? Math.max(a.uniformTtl - elapsedSec, 0) : OWN_TTLS;
  for (let i = 0; i < kept; i++) {
    let ttl = uniform >= 0 ? uniform : a.origTtl(i) - elapsedSec;
    if (ttl < 0) ttl = 0;
    const o = base + a.ttlOffset(i);
    out[o] = ttl >>> 24;
    out[o + 1] = (ttl >>> 16) & 0xff;
    out[o + 2] = (ttl >>> 8) & 0xff;
    out[o + 3] = ttl & 0xff;
  }
  if (q.hasEdns) {
    const ar = ((out[base + 10]! << 8) | out[base + 11]!) + 1;
    writeOpt(out, base + wireLen, q.dnssecOk, 0);
    out[base + 10] = ar >> 8;
    out[base + 11] = ar & 0xff;
  }
  return wireLen + optLen;
}

/**
 * How many leading records end within `budget` bytes. CoreDNS (miekg/dns Msg.Truncate) keeps the
 * answer records that fit, then authority, then additional, and stops at the first that does not:
 * a prefix of the records. A client that cannot retry over TCP (musl before 1.2.4) still gets
 * addresses. Record ends grow with the index, so this is a binary search on the stored offsets.
 */
function recordsThatFit(a: PackedAnswer, budget: number): number {
  let lo = 0; // `lo` records fit
  let hi = a.ttlCount; // more than `hi` do not
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (a.recordEnd(mid - 1) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** RFC 2181 §9: TC, and section counts for the first `kept` records (OPT not yet added). */
function truncateCounts(out: Buffer, base: number, kept: number): void {
  out[base + 2] = out[base + 2]! | (FLAG_TC >> 8);
  const an = Math.min((out[base + 6]! << 8) | out[base + 7]!, kept);
  const ns = Math.min((out[base + 8]! << 8) | out[base + 9]!, kept - an);
  const ar = kept - an - ns;
  out[base + 6] = an >> 8;
  out[base + 7] = an & 0xff;
  out[base + 8] = ns >> 8;
  out[base + 9] = ns & 0xff;
  out[base + 10] = ar >> 8;
  out[base + 11] = ar & 0xff;
}

/** `flags`: the stored answer's header flags. */
function writeFlags(out: Buffer, base: number, flags: number, q: QueryView, authoritative: boolean): void {
  flags = (flags & ~FLAG_RD & ~FLAG_TC) | (q.flags & FLAG_RD) | FLAG_QR;
  // CoreDNS sets AA on cache hits: some clients drop non-authoritative answers (plugin/cache).
  if (authoritative) flags |= FLAG_AA;
  // RFC 6840 §5.8: AD only for clients that asked with DO or AD.
  if (!q.dnssecOk && !(q.flags & FLAG_AD)) flags &= ~FLAG_AD;
  out[base + 2] = flags >> 8;
  out[base + 3] = flags & 0xff;
}

/** An OPT RR with our payload size, the client's DO bit and an extended rcode. */
function writeOpt(out: Buffer, at: number, dnssecOk: boolean, extRcode: number): void {
  out[at] = 0;
  out[at + 1] = 0;
  out[at + 2] = TYPE_OPT;
  out[at + 3] = OUR_UDP_PAYLOAD >> 8;
  out[at + 4] = OUR_UDP_PAYLOAD & 0xff;
  out[at + 5] = extRcode;
  out[at + 6] = 0; // version
  out[at + 7] = dnssecOk ? EDNS_DO >> 8 : 0;
  out[at + 8] = 0;
  out[at + 9] = 0;
  out[at + 10] = 0;
}

/**
 * An error reply (FORMERR, NOTIMP, SERVFAIL, REFUSED, BADVERS) for a query whose header was
 * readable. Carries the question when it parsed, and an OPT when the client sent one.
 */
export function errorReply(query: Buffer, q: QueryView, rcode: number): Buffer {
  const withQuestion = q.questionEnd > 0;
  const withOpt = q.hasEdns || rcode === RCODE_BADVERS;
  const qEnd = withQuestion ? q.questionEnd : HEADER_LEN;
  const out = Buffer.alloc(qEnd + (withOpt ? OPT_RR_LEN : 0));
  query.copy(out, 0, 0, qEnd);
  const flags = FLAG_QR | (q.flags & (OPCODE_MASK | FLAG_RD)) | (rcode & 0x0f);
  out[2] = flags >> 8;
  out[3] = flags & 0xff;
  out.fill(0, 4, HEADER_LEN);
  out[5] = withQuestion ? 1 : 0;
  if (withOpt) {
    writeOpt(out, qEnd, q.dnssecOk, rcode >> 4);
    out[11] = 1;
  }
  return out;
}
