// Upstream answers (slow path): check they belong to the query, find every TTL's offset, strip
// the OPT record (each client gets its own), and classify them for the cache. The result,
// a PreparedAnswer, is what a cache hit copies from.
import {
  FLAG_TC,
  HEADER_LEN,
  RCODE_MASK,
  RCODE_NOERROR,
  RCODE_NXDOMAIN,
  RCODE_SERVFAIL,
  TYPE_OPT,
  TYPE_SOA,
} from './constants.js';
import { skipName } from './wire.js';

export const KIND_SUCCESS = 0;
export const KIND_DENIAL = 1; // NXDOMAIN, or NOERROR with no answer (NODATA)
export const KIND_SERVFAIL = 2;
export const KIND_OTHER = 3; // REFUSED, FORMERR, NOTIMP...: relayed, never cached
export type AnswerKind = 0 | 1 | 2 | 3;

export interface PreparedAnswer {
  /** Response wire with ID 0 and no OPT record. The question starts at 12. */
  wire: Buffer;
  /** Byte offsets of every TTL field (OPT excluded). */
  ttlOffsets: Uint16Array;
  /** The TTLs as the upstream sent them. */
  ttls: Uint32Array;
  kind: AnswerKind;
  rcode: number;
  truncated: boolean;
  /** min TTL over all records (RFC 2308 §5 for denials: min(SOA TTL, SOA MINIMUM)); -1 if none. */
  minTtl: number;
  /** A denial carried an SOA in the authority section (otherwise it is not cacheable). */
  hasSoa: boolean;
  questionEnd: number;
}

// Scratch space for one answer's TTL offsets and TTLs, copied out at exact size (slice) at the
// end: growing two JS arrays per answer and converting them was garbage on every miss. Every
// record takes at least 11 bytes, so a 64 KiB message has fewer than 6,000.
const MAX_RECORDS = Math.ceil(0x10000 / 11);
const scratchOffsets = new Uint16Array(MAX_RECORDS);
const scratchTtls = new Uint32Array(MAX_RECORDS);

/**
 * Check `msg` answers the question whose lowercased wire name is `qname` with qtype/qclass,
 * and prepare it. Returns null when malformed or not matching (caller counts and discards).
 */
export function prepareAnswer(msg: Buffer, qname: Buffer, qtype: number, qclass: number): PreparedAnswer | null {
  if (msg.length < HEADER_LEN) return null;
  if (((msg[4]! << 8) | msg[5]!) !== 1) return null;
  if (!questionMatches(msg, qname, qtype, qclass)) return null;
  const questionEnd = HEADER_LEN + qname.length + 4;
  const flags = (msg[2]! << 8) | msg[3]!;
  const rcode = flags & RCODE_MASK;
  const an = (msg[6]! << 8) | msg[7]!;
  const ns = (msg[8]! << 8) | msg[9]!;
  const ar = (msg[10]! << 8) | msg[11]!;
  let n = 0; // records seen so far (OPT excluded): their TTL offsets and TTLs are in the scratch arrays
  let minTtl = -1;
  let hasSoa = false;
  let soaMin = -1;
  let optStart = -1;
  let optEnd = -1;
  let pos = questionEnd;
  for (let section = 0; section < 3; section++) {
    const count = section === 0 ? an : section === 1 ? ns : ar;
    for (let i = 0; i < count; i++) {
      const start = pos;
      const nameEnd = skipName(msg, pos);
      if (nameEnd < 0 || nameEnd + 10 > msg.length) return null;
      const type = (msg[nameEnd]! << 8) | msg[nameEnd + 1]!;
      const rdlen = (msg[nameEnd + 8]! << 8) | msg[nameEnd + 9]!;
      pos = nameEnd + 10 + rdlen;
      if (pos > msg.length) return null;
      if (type === TYPE_OPT) {
        if (section !== 2 || optStart >= 0) return null;
        optStart = start;
        optEnd = pos;
        continue;
      }
      if (n === MAX_RECORDS) return null; // cannot happen within 64 KiB; keeps the scratch writes in bounds
      const raw = msg.readUInt32BE(nameEnd + 4);
      const ttl = raw > 0x7fffffff ? 0 : raw; // RFC 2181 §8: a TTL with the top bit set means 0
      scratchOffsets[n] = nameEnd + 4;
      scratchTtls[n] = ttl;
      n++;
      if (minTtl < 0 || ttl < minTtl) minTtl = ttl;
      if (type === TYPE_SOA && section === 1 && rdlen >= 22) {
        hasSoa = true;
        const minimum = msg.readUInt32BE(pos - 4);
        soaMin = Math.min(ttl, minimum);
      }
    }
  }
  if (pos !== msg.length && !(flags & FLAG_TC)) {
    // trailing garbage: tolerate (some middleboxes pad) but never copy it into the cache
    msg = msg.subarray(0, pos);
  }
  let wire: Buffer;
  if (optStart >= 0) {
    wire = Buffer.allocUnsafe(msg.length - (optEnd - optStart));
    msg.copy(wire, 0, 0, optStart);
    msg.copy(wire, optStart, optEnd);
    wire.writeUInt16BE(ar - 1, 10);
    const shift = optEnd - optStart;
    for (let i = 0; i < n; i++) if (scratchOffsets[i]! > optStart) scratchOffsets[i] = scratchOffsets[i]! - shift;
  } else {
    wire = Buffer.allocUnsafe(msg.length);
    msg.copy(wire, 0);
  }
  wire[0] = 0;
  wire[1] = 0;
  // The question as asked, lowercased: upstream may echo another case (the match above ignores
  // case), and a reply to a lowercase query then needs no copy of the client's name (dns/reply.ts).
  qname.copy(wire, HEADER_LEN);
  const ancount = an;
  let kind: AnswerKind;
  if (rcode === RCODE_NXDOMAIN || (rcode === RCODE_NOERROR && ancount === 0)) kind = KIND_DENIAL;
  else if (rcode === RCODE_NOERROR) kind = KIND_SUCCESS;
  else if (rcode === RCODE_SERVFAIL) kind = KIND_SERVFAIL;
  else kind = KIND_OTHER;
  if (kind === KIND_DENIAL && hasSoa) minTtl = soaMin;
  return {
    wire,
    ttlOffsets: scratchOffsets.slice(0, n),
    ttls: scratchTtls.slice(0, n),
    kind,
    rcode,
    truncated: (flags & FLAG_TC) !== 0,
    minTtl,
    hasSoa,
    questionEnd,
  };
}

/** Case-insensitive comparison of the response's question with the one we asked. */
export function questionMatches(msg: Buffer, qname: Buffer, qtype: number, qclass: number): boolean {
  const end = HEADER_LEN + qname.length;
  if (end + 4 > msg.length) return false;
  for (let i = 0; i < qname.length; i++) {
    let c = msg[HEADER_LEN + i]!;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    if (c !== qname[i]) return false;
  }
  return ((msg[end]! << 8) | msg[end + 1]!) === qtype && ((msg[end + 2]! << 8) | msg[end + 3]!) === qclass;
}
