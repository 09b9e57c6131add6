// A prepared answer packed into one latin1 string: the wire bytes, then per TTL field its offset
// (u16 BE) and the upstream TTL (u32 BE), then, for a cache entry, its key (the slow paths read it
// there, and a key too long for the store's words is confirmed there; no second string per entry).
// A string is one contiguous V8 heap object (16 B header):
// no ArrayBuffer, backing store or typed-array objects per entry, so a cached answer costs ~90 B
// instead of ~700 B over four typed arrays, and a hit touches one object for all of it
// (bench/cache-bench.mjs measures both). Copying it into a reply is a latin1 write: one byte per
// char, no decoding.
import type { AnswerKind, PreparedAnswer } from './answer.js';

/** Serve each record's own TTL (`keepttl`, or an answer relayed without caching). */
export const OWN_TTLS = -1;
const TTL_SLOT = 6; // u16 offset + u32 TTL

export class PackedAnswer {
  readonly data: string;
  readonly wireLen: number;
  /** One per record (the OPT is stripped): TTL `i` belongs to record `i`, in wire order. */
  readonly ttlCount: number;
  /**
   * The TTL every record is served with before ageing, or OWN_TTLS. CoreDNS writes the entry's
   * TTL into every RR (plugin/cache item.toMsg, and filterRRSlice on the miss), so a record below
   * MINTTL is served with MINTTL counting down, never with its own shorter TTL.
   */
  readonly uniformTtl: number;
  readonly kind: AnswerKind;
  readonly rcode: number;
  /** Where the key starts in `data` (its end when there is none). */
  readonly keyStart: number;

  /** `key`: the cache key stored at the end of `data` ('' for an answer that is not cached). */
  constructor(a: PreparedAnswer, uniformTtl: number, key = '') {
    const wireLen = a.wire.length;
    const n = a.ttlOffsets.length;
    const keyStart = wireLen + n * TTL_SLOT;
    const buf = Buffer.allocUnsafe(keyStart + key.length);
    a.wire.copy(buf, 0);
    for (let i = 0, p = wireLen; i < n; i++, p += TTL_SLOT) {
      buf.writeUInt16BE(a.ttlOffsets[i]!, p);
      buf.writeUInt32BE(a.ttls[i]!, p + 2);
    }
    buf.write(key, keyStart, 'latin1');
    this.data = buf.toString('latin1');
    this.wireLen = wireLen;
    this.ttlCount = n;
    this.uniformTtl = uniformTtl;
    this.kind = a.kind;
    this.rcode = a.rcode;
    this.keyStart = keyStart;
  }

  /** Byte offset in the wire of TTL field `i`. */
  ttlOffset(i: number): number {
    const d = this.data;
    const p = this.wireLen + i * TTL_SLOT;
    return (d.charCodeAt(p) << 8) | d.charCodeAt(p + 1);
  }

  /** TTL `i` as the upstream sent it (RFC 2181 §8 already applied by prepareAnswer). */
  origTtl(i: number): number {
    const d = this.data;
    const p = this.wireLen + i * TTL_SLOT + 2;
    return ((d.charCodeAt(p) << 24) | (d.charCodeAt(p + 1) << 16) | (d.charCodeAt(p + 2) << 8) | d.charCodeAt(p + 3)) >>> 0;
  }

  /**
   * Offset just past record `i`: its TTL field is followed by RDLENGTH and the RDATA, so the
   * stored TTL offsets give every record boundary without storing more per entry.
   */
  recordEnd(i: number): number {
    const d = this.data;
    const o = this.ttlOffset(i) + 4;
    return o + 2 + ((d.charCodeAt(o) << 8) | d.charCodeAt(o + 1));
  }
}
