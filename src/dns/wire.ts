// Query parsing by hand on the raw bytes: header, the one question, EDNS. Fills a reused
// ParsedQuery so a cache hit allocates nothing here: the cache key is its bytes in lowerName and
// their hash, and the key string is built only for a path that keeps it (a miss, a refresh).
import { randomBytes } from 'node:crypto';
import {
  EDNS_DO,
  FLAG_CD,
  FLAG_QR,
  HEADER_LEN,
  MAX_NAME_LEN,
  MIN_UDP_PAYLOAD,
  OPCODE_MASK,
  RCODE_BADVERS,
  RCODE_FORMERR,
  RCODE_NOTIMP,
  TYPE_OPT,
} from './constants.js';

/** Outcome of parsing: OK, or how to answer (an rcode), or drop silently. */
export const PARSE_OK = 0;
export const PARSE_DROP = -1;
export type ParseStatus = number; // PARSE_OK, PARSE_DROP or an rcode to answer with

export class ParsedQuery {
  id = 0;
  flags = 0;
  qtype = 0;
  qclass = 0;
  /** End of the qname (offset of qtype). The question spans [12, questionEnd). */
  qnameEnd = 0;
  questionEnd = 0;
  hasEdns = false;
  ednsVersion = 0;
  udpPayload = MIN_UDP_PAYLOAD;
  dnssecOk = false;
  checkingDisabled = false;
  /** Whether the header was readable enough to answer (FORMERR needs the ID). */
  answerable = false;
  /** The query's length: the message may sit at the start of a larger buffer (a batch slot). */
  length = 0;
  /** Lowercased qname wire bytes live in `lowerName[0, qnameLen)`. */
  readonly lowerName = Buffer.alloc(MAX_NAME_LEN + 5);
  qnameLen = 0;
  /** Start offsets of each label inside lowerName (for zone suffix matching). */
  readonly labelStarts = new Uint8Array(128);
  labelCount = 0;
  /**
   * The cache key's bytes, lowercased qname + qtype + qclass + DO/CD bits, are
   * `lowerName[0, qnameLen + 5)`; `hash` is hashKey over them (equal to hashKeyString of the key
   * string). The string itself is built on first use (`queryKey`).
   */
  hash = 0;
  /** The key string once built for this query; '' until then (a key is never empty). */
  keyString = '';
}

// FNV-1a (32 bit) over the key bytes, then a multiply-xorshift finish: the cache's table takes
// the low bits, which plain FNV-1a leaves poorly mixed for names differing only in the last byte.
// The starting state is random per process (FNV's offset basis mixed with random bits), as V8
// seeds its own string hashes: a client that can get names cached (a denial is cached too) must
// not be able to compute, offline, names that pile up in one probe chain of the cache's table.
export const HASH_SEED = (0x811c9dc5 ^ randomBytes(4).readInt32LE(0)) | 0;
const FNV_PRIME = 0x01000193;

export function hashStep(h: number, byte: number): number {
  return Math.imul(h ^ byte, FNV_PRIME);
}

export function hashFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h | 0;
}

/** The hash parseQuery computes, from a key string (the slow paths that hold only the string). */
export function hashKeyString(key: string): number {
  let h = HASH_SEED;
  for (let i = 0; i < key.length; i++) h = hashStep(h, key.charCodeAt(i));
  return hashFinish(h);
}

/** Whether `key` is the query's key (lowerName[0, qnameLen + 5)), without building a string. */
export function keyEquals(key: string, q: ParsedQuery): boolean {
  const n = q.qnameLen + 5;
  if (key.length !== n) return false;
  const b = q.lowerName;
  for (let i = 0; i < n; i++) if (key.charCodeAt(i) !== b[i]) return false;
  return true;
}

/**
 * Parse the query in `msg[0, len)` into `q`. Returns PARSE_OK, PARSE_DROP (not even a header, or
 * a response), or an rcode the caller answers with (FORMERR, NOTIMP, BADVERS). `len` lets a
 * listener hand over a long-lived view of its receive slot instead of a view per datagram.
 */
export function parseQuery(msg: Buffer, q: ParsedQuery, len = msg.length): ParseStatus {
  q.length = len;
  q.answerable = false;
  q.hasEdns = false;
  q.dnssecOk = false;
  q.udpPayload = MIN_UDP_PAYLOAD;
  q.qnameLen = 0;
  q.questionEnd = 0;
  q.keyString = '';
  if (len < HEADER_LEN) return PARSE_DROP;
  const flags = (msg[2]! << 8) | msg[3]!;
  if (flags & FLAG_QR) return PARSE_DROP; // a response sent to us: never answer (reflection loops)
  q.id = (msg[0]! << 8) | msg[1]!;
  q.flags = flags;
  q.answerable = true;
  if ((flags & OPCODE_MASK) !== 0) return RCODE_NOTIMP;
  const qdcount = (msg[4]! << 8) | msg[5]!;
  if (qdcount !== 1) return RCODE_FORMERR;
  const qnameEnd = readQname(msg, HEADER_LEN, len, q);
  if (qnameEnd < 0 || qnameEnd + 4 > len) return RCODE_FORMERR;
  q.qnameEnd = qnameEnd;
  q.qtype = (msg[qnameEnd]! << 8) | msg[qnameEnd + 1]!;
  q.qclass = (msg[qnameEnd + 2]! << 8) | msg[qnameEnd + 3]!;
  q.questionEnd = qnameEnd + 4;
  q.checkingDisabled = (flags & FLAG_CD) !== 0;
  const ancount = (msg[6]! << 8) | msg[7]!;
  const nscount = (msg[8]! << 8) | msg[9]!;
  const arcount = (msg[10]! << 8) | msg[11]!;
  if (ancount + nscount + arcount > 0) {
    const status = readEdns(msg, q.questionEnd, len, ancount + nscount, arcount, q);
    if (status !== PARSE_OK) return status;
  }
  keySuffix(q);
  return PARSE_OK;
}

/** Copy the qname lowercased into q.lowerName; no compression allowed in a question. */
function readQname(msg: Buffer, start: number, end: number, q: ParsedQuery): number {
  const out = q.lowerName;
  let pos = start;
  let n = 0;
  let labels = 0;
  let h = HASH_SEED;
  for (;;) {
    if (pos >= end) return -1;
    const len = msg[pos]!;
    if (len === 0) {
      out[n++] = 0;
      h = hashStep(h, 0);
      pos++;
      break;
    }
    if (len > 63) return -1; // pointer or reserved label type in a question
    if (n + 1 + len + 1 > MAX_NAME_LEN || pos + 1 + len > end) return -1;
    if (labels < q.labelStarts.length) q.labelStarts[labels] = n;
    labels++;
    out[n++] = len;
    h = hashStep(h, len);
    pos++;
    for (let i = 0; i < len; i++) {
      const c = msg[pos++]!;
      const lc = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
      out[n++] = lc;
      h = hashStep(h, lc);
    }
  }
  q.hash = h; // the suffix's five bytes are hashed in by keySuffix
  q.qnameLen = n;
  q.labelCount = labels;
  return pos;
}

/**
 * Find the OPT record. RFC 6891 §6.1.1: at most one, owner root, in the additional section; an
 * OPT in the answer or authority section, or a second one, is FORMERR.
 */
function readEdns(msg: Buffer, start: number, end: number, skipCount: number, arcount: number, q: ParsedQuery): ParseStatus {
  let pos = start;
  const total = skipCount + arcount;
  for (let i = 0; i < total; i++) {
    const nameEnd = skipName(msg, pos, end);
    if (nameEnd < 0 || nameEnd + 10 > end) return RCODE_FORMERR;
    const type = (msg[nameEnd]! << 8) | msg[nameEnd + 1]!;
    if (type === TYPE_OPT) {
      if (i < skipCount || q.hasEdns || nameEnd !== pos + 1 || msg[pos] !== 0) return RCODE_FORMERR;
      q.hasEdns = true;
      const size = (msg[nameEnd + 2]! << 8) | msg[nameEnd + 3]!;
      q.udpPayload = size < MIN_UDP_PAYLOAD ? MIN_UDP_PAYLOAD : size;
      q.ednsVersion = msg[nameEnd + 5]!;
      q.dnssecOk = (((msg[nameEnd + 6]! << 8) | msg[nameEnd + 7]!) & EDNS_DO) !== 0;
    }
    const rdlen = (msg[nameEnd + 8]! << 8) | msg[nameEnd + 9]!;
    pos = nameEnd + 10 + rdlen;
    if (pos > end) return RCODE_FORMERR;
  }
  if (q.hasEdns && q.ednsVersion !== 0) return RCODE_BADVERS;
  return PARSE_OK;
}

/** Skip a possibly compressed name in `msg[0, end)`; returns the offset after it or -1. */
export function skipName(msg: Buffer, pos: number, end = msg.length): number {
  for (let guard = 0; guard < 128; guard++) {
    if (pos >= end) return -1;
    const len = msg[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= end ? pos + 2 : -1;
    if (len > 63) return -1;
    pos += 1 + len;
  }
  return -1;
}

// Buffer's own latin1 decoder, without toString's encoding dispatch.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Buffer, start: number, end: number): string }).latin1Slice;

/** The key's last five bytes after the name in lowerName (5 spare bytes past the longest name), and the hash finished over them. */
function keySuffix(q: ParsedQuery): void {
  const n = q.qnameLen;
  const b = q.lowerName;
  const flags = (q.dnssecOk ? 1 : 0) | (q.checkingDisabled ? 2 : 0);
  b[n] = q.qtype >> 8;
  b[n + 1] = q.qtype & 0xff;
  b[n + 2] = q.qclass >> 8;
  b[n + 3] = q.qclass & 0xff;
  b[n + 4] = flags;
  let h = q.hash;
  h = hashStep(h, q.qtype >> 8);
  h = hashStep(h, q.qtype & 0xff);
  h = hashStep(h, q.qclass >> 8);
  h = hashStep(h, q.qclass & 0xff);
  q.hash = hashFinish(hashStep(h, flags));
}

/** The cache key of a parsed query as a latin1 string, built once per query on first use. */
export function queryKey(q: ParsedQuery): string {
  if (q.keyString === '') q.keyString = latin1Slice.call(q.lowerName, 0, q.qnameLen + 5);
  return q.keyString;
}

/** The key's parts back, for building the upstream query of a miss. */
export function keyQname(key: string): Buffer {
  return Buffer.from(key.slice(0, key.length - 5), 'latin1');
}
export function keyQtype(key: string): number {
  return (key.charCodeAt(key.length - 5) << 8) | key.charCodeAt(key.length - 4);
}
export function keyQclass(key: string): number {
  return (key.charCodeAt(key.length - 3) << 8) | key.charCodeAt(key.length - 2);
}
export function keyDnssecOk(key: string): boolean {
  return (key.charCodeAt(key.length - 1) & 1) !== 0;
}
export function keyCheckingDisabled(key: string): boolean {
  return (key.charCodeAt(key.length - 1) & 2) !== 0;
}

/** Presentation form of a wire name (for logs and metrics labels only; slow path). */
export function wireNameToString(buf: Buffer, start = 0): string {
  const labels: string[] = [];
  let pos = start;
  while (pos < buf.length && buf[pos] !== 0) {
    const len = buf[pos]!;
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len).replace(/[.\\]/g, (c) => '\\' + c));
    pos += 1 + len;
  }
  return labels.length ? labels.join('.') + '.' : '.';
}

/** Wire form of a presentation name ("cluster.local." → 7cluster5local0), lowercased. */
export function nameToWire(name: string): Buffer {
  const trimmed = name.replace(/\.$/, '').toLowerCase();
  if (trimmed === '') return Buffer.from([0]);
  const parts = trimmed.split('.');
  const out: number[] = [];
  for (const p of parts) {
    const b = Buffer.from(p, 'latin1');
    if (b.length === 0 || b.length > 63) throw new RangeError(`bad label in ${JSON.stringify(name)}`);
    out.push(b.length, ...b);
  }
  out.push(0);
  if (out.length > MAX_NAME_LEN) throw new RangeError(`name too long: ${name}`);
  return Buffer.from(out);
}
