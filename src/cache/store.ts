// The storage of one cache partition: an open-addressing hash table over the key's 32-bit hash
// (dns/wire.ts hashes the key bytes while parsing), a true-LRU recency list, an entry cap and a
// byte budget. Everything per entry but the value itself lives in typed arrays indexed by slot,
// so a hit allocates nothing and moves no object. A hit is probed with the parsed query, no key
// string built, and confirmed against the key's copy in its slot a word at a time (the byte loop
// over the entry's string, ~3 ns a character, was the largest JS frame after the handler at full
// rate, bench/hot-path.md); a key too long for a slot (a name over 59 bytes) uses that string.
// What a hit reads and writes of a slot (hash, key length, recency links, key words) is one record
// of REC words: one or two cache lines of the slot instead of one in each of five arrays, each a
// miss once the cache is larger than the CPU's.
//
// Sizing: the arrays start at MIN_SLOTS and double as entries arrive, up to the entry cap, so an
// idle agent configured for 1M entries does not hold 1M slots (84 B each plus the table); they
// are not shrunk again after evictions (the memory guard's `shrink` frees the values, the bulk).
import { keyEquals, type ParsedQuery } from '../dns/wire.js';

/** A value whose key is `data[keyStart, data.length)` (a cache entry keeps it after its answer). */
export interface Keyed {
  readonly data: string;
  readonly keyStart: number;
}

/** The value's key as a string of its own (slow paths: an update, a refresh, tests). */
export function keyOf(v: Keyed): string {
  return v.data.slice(v.keyStart);
}

function keyIs(v: Keyed, key: string): boolean {
  return v.data.length - v.keyStart === key.length && v.data.startsWith(key, v.keyStart);
}

const NONE = -1;
const MIN_SLOTS = 16;
/** Words of key kept per slot: 64 bytes, a name of up to 59 wire bytes and the key's 5. */
const KEY_WORDS = 16;
const KEY_BYTES = KEY_WORDS * 4;
// A slot's record: the key's hash and length in bytes, the recency links (prev towards the most
// recently used, next towards the least, and the free list), then the key when it fits, zero-padded.
const [R_HASH, R_LEN, R_PREV, R_NEXT, R_KEY] = [0, 1, 2, 3, 4] as const;
const REC = R_KEY + KEY_WORDS;

export class LruStore<V extends Keyed> {
  /** Entries held. */
  count = 0;
  /** Sum of the entries' sizes as given to `set`. */
  bytes = 0;
  private readonly values: (V | undefined)[] = [];
  /** REC words a slot (R_HASH .. R_KEY), and the same memory as bytes for writing keys. */
  private recs: Int32Array = new Int32Array(MIN_SLOTS * REC);
  private recBytes: Uint8Array = new Uint8Array(this.recs.buffer);
  /** Per slot, the size `set` was given (read only when the entry is replaced or leaves). */
  private sizes: Int32Array = new Int32Array(MIN_SLOTS);
  /** Open addressing with linear probing: slot + 1, 0 for empty; load kept at or under 1/2. */
  private table: Int32Array = new Int32Array(MIN_SLOTS * 2);
  private mask = MIN_SLOTS * 2 - 1;
  private head = NONE;
  private tail = NONE;
  /** Free slots, chained through `next`. */
  private free = NONE;

  /**
   * `onEvict` counts an entry pushed out by the cap, the byte budget or `pop` (not one replaced
   * or deleted), as lru-cache's dispose reason 'evict' did.
   */
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
    private readonly evictions: Float64Array,
    private readonly evictSlot: number,
  ) {}

  /** The hit path: the entry for the parsed query's key, made most recently used; undefined if none. */
  lookup(q: ParsedQuery): V | undefined {
    const table = this.table;
    const mask = this.mask;
    const recs = this.recs;
    const hash = q.hash;
    const len = q.qnameLen + 5;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const t = table[i]!;
      if (t === 0) return undefined;
      const s = t - 1;
      const r = s * REC;
      if (recs[r + R_HASH] === hash && recs[r + R_LEN] === len) {
        const v = this.values[s]!;
        if (len <= KEY_BYTES ? keyWordsEqual(recs, r + R_KEY, q.lowerWords, len) : keyEquals(v.data, v.keyStart, q)) {
          this.touch(s);
          return v;
        }
      }
    }
  }

  /** The entry for `key` (whose hash is `hash`), made most recently used. */
  get(key: string, hash: number): V | undefined {
    const i = this.indexOf(key, hash);
    if (i < 0) return undefined;
    const s = this.table[i]! - 1;
    this.touch(s);
    return this.values[s];
  }

  /** Whether `key` is held; its recency is left alone. */
  has(key: string, hash: number): boolean {
    return this.indexOf(key, hash) >= 0;
  }

  /**
   * Store `value` under its key as the most recently used entry, evicting least recently used
   * ones past the cap or the byte budget. A value larger than the whole budget is not stored and
   * removes what the key held (as lru-cache's maxEntrySize did); returns whether it was stored.
   */
  set(hash: number, value: V, size: number): boolean {
    const key = keyOf(value);
    const i = this.indexOf(key, hash);
    if (size > this.maxBytes) {
      if (i >= 0) this.remove(i);
      return false;
    }
    if (i >= 0) {
      const s = this.table[i]! - 1;
      this.bytes += size - this.sizes[s]!;
      this.sizes[s] = size;
      this.values[s] = value;
      this.touch(s);
      while (this.bytes > this.maxBytes && this.tail !== s) this.evictTail();
      return true;
    }
    while (this.count >= this.maxEntries) this.evictTail();
    while (this.count > 0 && this.bytes + size > this.maxBytes) this.evictTail();
    if ((this.count + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    const s = this.allocSlot();
    this.recs[s * REC + R_HASH] = hash;
    this.storeKey(s, key);
    this.sizes[s] = size;
    this.values[s] = value;
    this.bytes += size;
    this.count++;
    const table = this.table;
    const mask = this.mask;
    let j = hash & mask;
    while (table[j] !== 0) j = (j + 1) & mask;
    table[j] = s + 1;
    this.pushFront(s);
    return true;
  }

  delete(key: string, hash: number): boolean {
    const i = this.indexOf(key, hash);
    if (i < 0) return false;
    this.remove(i);
    return true;
  }

  /** Evict the least recently used entry (counted as an eviction); undefined when empty. */
  pop(): V | undefined {
    if (this.tail === NONE) return undefined;
    const v = this.values[this.tail];
    this.evictTail();
    return v;
  }

  /** Keys from the most to the least recently used (tests, slow). */
  keys(): string[] {
    const out: string[] = [];
    for (let s = this.head; s !== NONE; s = this.recs[s * REC + R_NEXT]!) out.push(keyOf(this.values[s]!));
    return out;
  }

  /** Slots the arrays have room for, and the hash table's length (tests: growth). */
  capacity(): { slots: number; table: number } {
    return { slots: this.sizes.length, table: this.table.length };
  }

  private indexOf(key: string, hash: number): number {
    const table = this.table;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const t = table[i]!;
      if (t === 0) return NONE;
      const s = t - 1;
      if (this.recs[s * REC + R_HASH] === hash && keyIs(this.values[s]!, key)) return i;
    }
  }

  private evictTail(): void {
    const s = this.tail;
    const table = this.table;
    const mask = this.mask;
    let i = this.recs[s * REC + R_HASH]! & mask;
    while (table[i] !== s + 1) i = (i + 1) & mask;
    this.remove(i);
    this.evictions[this.evictSlot]!++;
  }

  /** Remove the entry at table index `i`: backward-shift deletion keeps every probe chain unbroken. */
  private remove(i: number): void {
    const table = this.table;
    const mask = this.mask;
    const s = table[i]! - 1;
    let hole = i;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = this.recs[(table[j]! - 1) * REC + R_HASH]! & mask;
      // The entry at j may move back into the hole unless its home lies after the hole.
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole] = table[j]!;
        hole = j;
      }
    }
    table[hole] = 0;
    this.unlink(s);
    this.values[s] = undefined;
    this.bytes -= this.sizes[s]!;
    this.count--;
    this.recs[s * REC + R_NEXT] = this.free;
    this.free = s;
  }

  /** The key's length, and its bytes in the slot's words when they fit, zero-padded (byte order as the query's words). */
  private storeKey(s: number, key: string): void {
    const n = key.length;
    this.recs[s * REC + R_LEN] = n;
    if (n > KEY_BYTES) return;
    const b = this.recBytes;
    const base = (s * REC + R_KEY) * 4;
    for (let i = 0; i < n; i++) b[base + i] = key.charCodeAt(i);
    for (let i = n; (i & 3) !== 0; i++) b[base + i] = 0;
  }

  private allocSlot(): number {
    if (this.free !== NONE) {
      const s = this.free;
      this.free = this.recs[s * REC + R_NEXT]!;
      return s;
    }
    const s = this.values.length;
    this.values.push(undefined);
    if (s === this.sizes.length) {
      const n = Math.min(this.sizes.length * 2, Math.max(this.maxEntries, MIN_SLOTS));
      this.recs = grown(this.recs, n * REC);
      this.recBytes = new Uint8Array(this.recs.buffer);
      this.sizes = grown(this.sizes, n);
    }
    return s;
  }

  private rehash(length: number): void {
    const table = new Int32Array(length);
    const mask = length - 1;
    const recs = this.recs;
    for (let s = this.head; s !== NONE; s = recs[s * REC + R_NEXT]!) {
      let j = recs[s * REC + R_HASH]! & mask;
      while (table[j] !== 0) j = (j + 1) & mask;
      table[j] = s + 1;
    }
    this.table = table;
    this.mask = mask;
  }

  private touch(s: number): void {
    if (s === this.head) return;
    this.unlink(s);
    this.pushFront(s);
  }

  private unlink(s: number): void {
    const recs = this.recs;
    const p = recs[s * REC + R_PREV]!;
    const n = recs[s * REC + R_NEXT]!;
    if (p !== NONE) recs[p * REC + R_NEXT] = n;
    else this.head = n;
    if (n !== NONE) recs[n * REC + R_PREV] = p;
    else this.tail = p;
  }

  private pushFront(s: number): void {
    const recs = this.recs;
    const h = this.head;
    recs[s * REC + R_PREV] = NONE;
    recs[s * REC + R_NEXT] = h;
    if (h !== NONE) recs[h * REC + R_PREV] = s;
    else this.tail = s;
    this.head = s;
  }
}

/** Whether the key words at `recs[at]` equal the `len` bytes `words` holds, zero past its end (wire.ts keySuffix). */
function keyWordsEqual(recs: Int32Array, at: number, words: Int32Array, len: number): boolean {
  const n = (len + 3) >> 2;
  for (let i = 0; i < n; i++) if (recs[at + i] !== words[i]) return false;
  return true;
}

function grown(a: Int32Array, length: number): Int32Array {
  const b = new Int32Array(length);
  b.set(a);
  return b;
}
