// The cache key's 32-bit hash, and the word-wise lowercasing that parsing feeds it with.
import { randomBytes } from 'node:crypto';
import { endianness } from 'node:os';

// The key's hash, 32 bits, a word at a time: the name's bytes as little-endian words (the last one
// zero-padded), then the qtype+qclass word, then the DO/CD byte, each mixed in with a multiply and
// a fold of the high half down, then a multiply-xorshift finish (the cache's table takes the low
// bits). Words instead of bytes because parsing lowercases and hashes the name in words: a byte
// loop in V8 costs ~4 ns a byte (bounds and detach checks per access), a fifth of a hit's JS.
// The starting state is random per process, as V8 seeds its own string hashes: a client that can
// get names cached (a denial is cached too) must not be able to compute, offline, names that pile
// up in one probe chain of the cache's table.
export const HASH_SEED = (0x811c9dc5 ^ randomBytes(4).readInt32LE(0)) | 0;
const HASH_MUL = 0x9e3779b1 | 0;
/** Int32Array words read little-endian here (parseQuery's word path relies on it). */
export const LITTLE_ENDIAN = endianness() === 'LE';

export function hashWord(h: number, w: number): number {
  h = Math.imul(h ^ w, HASH_MUL);
  return h ^ (h >>> 16);
}

export function hashFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * ASCII A-Z in each byte of `w` to a-z, other bytes unchanged (SWAR: a byte's bit 7 marks it, so
 * no carry crosses bytes). A name's length bytes (1-63) are never letters, so a whole wire name
 * can be lowercased this way.
 */
export function lowerWord(w: number): number {
  const low7 = w & 0x7f7f7f7f;
  const upper = ~w & (((low7 + 0x3f3f3f3f) | 0) ^ ((low7 + 0x25252525) | 0)) & 0x80808080;
  return w | (upper >>> 2);
}

/** The hash parseQuery computes, from a key string (the slow paths that hold only the string). */
export function hashKeyString(key: string): number {
  const n = key.length > 5 ? key.length - 5 : 0;
  let h = HASH_SEED;
  for (let i = 0; i < n; i += 4) h = hashWord(h, charsWord(key, i, n));
  h = hashWord(h, charsWord(key, n, n + 4));
  return hashFinish(hashWord(h, n + 4 < key.length ? key.charCodeAt(n + 4) : 0));
}

/** key[i, min(i + 4, end)) as a little-endian word, zero-padded. */
function charsWord(key: string, i: number, end: number): number {
  let w = 0;
  for (let k = 0; k < 4 && i + k < end && i + k < key.length; k++) w |= key.charCodeAt(i + k) << (8 * k);
  return w;
}
