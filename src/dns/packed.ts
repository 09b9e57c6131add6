// A prepared answer packed into one latin1 string: the wire bytes, then per TTL field its offset
// (u16 BE) and the upstream TTL (u32 BE). A string is one contiguous V8 heap object (16 B header):
// no ArrayBuffer, backing store or typed-array objects per entry, so a cached answer costs ~90 B
// instead of ~700 B over four typed arrays, and a hit touches one object for all of it
// (bench/cache-bench.mjs measures both). Copying it into a reply is a latin1 write: one byte per
// char, no decoding.
import type { AnswerKind, PreparedAnswer } from './answer.js';

/** No cap on served TTLs (`keepttl`, or an answer relayed without caching). */
export const NO_TTL_CAP = 0x7fffffff;
const TTL_SLOT = 6; // u16 offset + u32 TTL

export class PackedAnswer {
  readonly data: string;
  readonly wireLen: number;
  readonly ttlCount: number;
  /** Served TTLs are min(original, ttlCap). */
  readonly ttlCap: number;
  readonly kind: AnswerKind;
  readonly rcode: number;

  constructor(a: PreparedAnswer, ttlCap: number) {
    const wireLen = a.wire.length;
    const n = a.ttlOffsets.length;
    const buf = Buffer.allocUnsafe(wireLen + n * TTL_SLOT);
    a.wire.copy(buf, 0);
    for (let i = 0, p = wireLen; i < n; i++, p += TTL_SLOT) {
      buf.writeUInt16BE(a.ttlOffsets[i]!, p);
      buf.writeUInt32BE(a.ttls[i]!, p + 2);
    }
    this.data = buf.toString('latin1');
    this.wireLen = wireLen;
    this.ttlCount = n;
    this.ttlCap = ttlCap;
    this.kind = a.kind;
    this.rcode = a.rcode;
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

  /** TTL `i` as served before ageing: the original, capped to the entry's TTL unless keepttl. */
  servedTtl(i: number): number {
    const t = this.origTtl(i);
    return t < this.ttlCap ? t : this.ttlCap;
  }

  /** Wire byte `i` (header flags and counts on the reply paths). */
  wireByte(i: number): number {
    return this.data.charCodeAt(i);
  }
}
