// Query parsing by hand on the raw bytes: header, the one question, EDNS. Fills a reused
// ParsedQuery so a cache hit allocates nothing here: the cache key is its bytes in lowerName and
// their hash, and the key string is built only for a path that keeps it (a miss, a refresh).
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
import { HASH_SEED, LITTLE_ENDIAN, hashFinish, hashWord, lowerWord } from './key-hash.js';

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
  /**
   * Lowercased qname wire bytes live in `lowerName[0, qnameLen)`; `lowerWords` views the same
   * bytes 4 at a time (the qname is lowercased and hashed a word at a time).
   */
  readonly lowerName: Buffer;
  readonly lowerWords: Int32Array;
  qnameLen = 0;
  /**
   * The client's qname has no uppercase letter: it equals `lowerName`, and a reply from a stored
   * answer (whose question holds the lowercased name) needs no copy of the client's case.
   */
  nameLowercase = true;
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

  constructor() {
    // Its own ArrayBuffer, so the word view starts aligned; the longest key plus a word of slack
    // for the last, partly filled word of the name.
    const ab = new ArrayBuffer((MAX_NAME_LEN + 5 + 3) & ~3);
    this.lowerName = Buffer.from(ab);
    this.lowerWords = new Int32Array(ab);
  }
}

/**
 * Whether `data[start, data.length)` (a cache entry's key, stored after its answer) is the query's
 * key (lowerName[0, qnameLen + 5)), without building a string.
 */
export function keyEquals(data: string, start: number, q: ParsedQuery): boolean {
  const n = q.qnameLen + 5;
  if (data.length - start !== n) return false;
  const b = q.lowerName;
  for (let i = 0; i < n; i++) if (data.charCodeAt(start + i) !== b[i]) return false;
  return true;
}

/**
 * Parse the query in `msg[0, len)` into `q`. Returns PARSE_OK, PARSE_DROP (not even a header, or
 * a response), or an rcode the caller answers with (FORMERR, NOTIMP, BADVERS). `len` lets a
 * listener hand over a long-lived view of its receive slot instead of a view per datagram.
 * `words`, when given, views `msg.buffer` from its start as int32 (a batch listener's receive
 * slab); the name is then read from it a word at a time when `msg` starts on a word boundary.
 * `at`, when given, is where `msg` starts in that slab (the listener knows it: reading the
 * Buffer's byteOffset getter was a generic property load, a call per query).
 */
export function parseQuery(msg: Buffer, q: ParsedQuery, len = msg.length, words?: Int32Array, at = -1): ParseStatus {
  q.length = len;
  q.answerable = false;
  q.hasEdns = false;
  q.dnssecOk = false;
  q.udpPayload = MIN_UDP_PAYLOAD;
  q.qnameLen = 0;
  q.nameLowercase = true;
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
  const qnameEnd = readQname(msg, HEADER_LEN, len, q, words, at);
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

/**
 * Check the qname's labels (no compression allowed in a question), then copy it lowercased into
 * q.lowerName and hash it. Returns the offset after the name, or -1.
 */
function readQname(msg: Buffer, start: number, end: number, q: ParsedQuery, words: Int32Array | undefined, msgAt: number): number {
  let pos = start;
  let n = 0;
  let labels = 0;
  const starts = q.labelStarts;
  for (;;) {
    if (pos >= end) return -1;
    const len = msg[pos]!;
    if (len === 0) break;
    if (len > 63) return -1; // pointer or reserved label type in a question
    if (n + 1 + len + 1 > MAX_NAME_LEN || pos + 1 + len > end) return -1;
    if (labels < starts.length) starts[labels] = n;
    labels++;
    n += 1 + len;
    pos += 1 + len;
  }
  n++; // the root label
  q.qnameLen = n;
  q.labelCount = labels;
  const out = q.lowerWords;
  const whole = n >> 2;
  const rest = n & 3;
  let h = HASH_SEED;
  let upper = 0; // non-zero when the client's name has an uppercase letter
  const at = words === undefined ? -1 : (msgAt >= 0 ? msgAt : msg.byteOffset) + start;
  if (words !== undefined && LITTLE_ENDIAN && (at & 3) === 0) {
    // The slab's slots start and end on word boundaries, so the word holding the name's last
    // byte lies inside it; the bytes past the name are masked off.
    const w0 = at >> 2;
    for (let i = 0; i < whole; i++) {
      const raw = words[w0 + i]!;
      const w = lowerWord(raw);
      out[i] = w;
      upper |= w ^ raw;
      h = hashWord(h, w);
    }
    if (rest !== 0) {
      const raw = words[w0 + whole]! & ((1 << (8 * rest)) - 1);
      const w = lowerWord(raw); // the masked-off bytes are zero, and lowercasing leaves zero alone
      out[whole] = w;
      upper |= w ^ raw;
      h = hashWord(h, w);
    }
  } else {
    // Any other buffer (TCP, node:dgram): byte by byte, the words assembled little-endian.
    const b = q.lowerName;
    let w = 0;
    for (let i = 0; i < n; i++) {
      const c = msg[start + i]!;
      const lc = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
      b[i] = lc;
      upper |= lc ^ c;
      w |= lc << (8 * (i & 3));
      if ((i & 3) === 3) {
        h = hashWord(h, w);
        w = 0;
      }
    }
    if (rest !== 0) h = hashWord(h, w);
  }
  q.hash = h; // the suffix's five bytes are hashed in by keySuffix
  q.nameLowercase = upper === 0;
  return pos + 1;
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
  // Zero up to the next word boundary: the key then compares a whole word at a time against the
  // words a cache store keeps of it (cache/store.ts), with no mask for its last word.
  for (let i = n + 5; (i & 3) !== 0; i++) b[i] = 0;
  // The key's bytes n..n+3 as a little-endian word, then the flags byte (as hashKeyString).
  const w = (q.qtype >> 8) | ((q.qtype & 0xff) << 8) | ((q.qclass >> 8) << 16) | ((q.qclass & 0xff) << 24);
  q.hash = hashFinish(hashWord(hashWord(q.hash, w), flags));
}

/** The cache key of a parsed query as a latin1 string, built once per query on first use. */
export function queryKey(q: ParsedQuery): string {
  if (q.keyString === '') q.keyString = latin1Slice.call(q.lowerName, 0, q.qnameLen + 5);
  return q.keyString;
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
