// The cache key's hash and lowercasing: parseQuery reads a name a word at a time from a batch
// listener's receive slab and byte by byte from any other buffer; both must give the same key
// bytes and the same hash, and that hash must be the one the slow paths compute from the key string.
import t from 'tap';
import { ParsedQuery, PARSE_OK, parseQuery, queryKey } from '../../src/dns/wire.js';
import { hashKeyString, lowerWord } from '../../src/dns/key-hash.js';
import { buildQuery } from '../../src/dns/query.js';

/** A wire name from raw label bytes (any byte value, as a client may send). */
function wireName(labels: number[][]): Buffer {
  return Buffer.from([...labels.flatMap((l) => [l.length, ...l]), 0]);
}

let seed = 4242;
function rand(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}

// Bytes around and inside the letter ranges, digits, '-', and high bytes that only look like
// letters once bit 7 is dropped (0xc1 & 0x7f = 'A').
const BYTES = [0x2d, 0x30, 0x39, 0x40, 0x41, 0x4d, 0x5a, 0x5b, 0x60, 0x61, 0x7a, 0x7b, 0x7f, 0x80, 0xc1, 0xda, 0xe1, 0xff, 0x5f, 0x20];

function randomName(): Buffer {
  const labels: number[][] = [];
  let total = 1;
  const count = 1 + rand(6);
  for (let i = 0; i < count; i++) {
    const len = 1 + rand(63);
    if (total + 1 + len > 255) break;
    total += 1 + len;
    labels.push(Array.from({ length: len }, () => BYTES[rand(BYTES.length)]!));
  }
  return wireName(labels.length ? labels : [[0x41]]);
}

t.test('lowerWord lowercases exactly A-Z in every byte', async (t) => {
  let wrong = 0;
  for (let b = 0; b < 256; b++) {
    for (const pos of [0, 1, 2, 3]) {
      const w = (0x61626364 & ~(0xff << (8 * pos))) | (b << (8 * pos));
      const expect = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
      const got = (lowerWord(w) >>> (8 * pos)) & 0xff;
      if (got !== expect) wrong++;
      // The other bytes ('a'-'d') are untouched whatever is next to them.
      if (((lowerWord(w) ^ w) & ~(0xff << (8 * pos))) !== 0) wrong++;
    }
  }
  t.equal(wrong, 0);
});

/** The key's bytes in lowerName are followed by zeros up to a word boundary (the store compares whole words). */
function paddedWithZeros(q: ParsedQuery): boolean {
  const end = q.qnameLen + 5;
  for (let i = end; (i & 3) !== 0; i++) if (q.lowerName[i] !== 0) return false;
  return true;
}

t.test('word path, byte path and the key string give the same key, hash and case flag', async (t) => {
  const SLOT = 512;
  const slab = new ArrayBuffer(SLOT * 4);
  const words = new Int32Array(slab);
  let mismatches = 0;
  let wordPathRuns = 0;
  // Reused as the listeners reuse theirs: the bytes a longer name left past a key must not count.
  const plain = new ParsedQuery();
  const q = new ParsedQuery();
  for (let i = 0; i < 3000; i++) {
    const name = randomName();
    const query = buildQuery(name, 1 + rand(300), 1, { dnssecOk: rand(2) === 1, cd: rand(2) === 1 });
    if (parseQuery(query, plain) !== PARSE_OK) {
      mismatches++;
      continue;
    }
    // The same query in a slot of the slab: word-aligned (the word path), then one byte on (the
    // word view cannot serve it: the byte path must run even though words were given).
    for (const shift of [0, 1]) {
      const slot = Buffer.from(slab, (i % 3) * SLOT + shift, SLOT - shift);
      slot.fill(0xc5); // junk after the query: the name's last word must be masked
      query.copy(slot);
      if (parseQuery(slot, q, query.length, words) !== PARSE_OK) {
        mismatches++;
        continue;
      }
      if (shift === 0) wordPathRuns++;
      if (q.hash !== plain.hash || queryKey(q) !== queryKey(plain) || q.nameLowercase !== plain.nameLowercase) mismatches++;
      if (!paddedWithZeros(q)) mismatches++;
      if (shift === 0) {
        // The batch listener passes the slot's offset in the slab instead of the Buffer's byteOffset.
        const at = new ParsedQuery();
        if (parseQuery(slot, at, query.length, words, (i % 3) * SLOT) !== PARSE_OK || at.hash !== q.hash || queryKey(at) !== queryKey(q)) mismatches++;
      }
    }
    const hasUpper = name.some((c) => c >= 0x41 && c <= 0x5a);
    if (plain.nameLowercase === hasUpper || !paddedWithZeros(plain)) mismatches++;
    const key = queryKey(plain);
    if (plain.hash !== hashKeyString(key)) mismatches++;
    const lower = Buffer.from(name.map((c) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c)));
    if (!Buffer.from(key.slice(0, name.length), 'latin1').equals(lower)) mismatches++;
  }
  t.equal(mismatches, 0, 'every query parsed alike on both paths, hashed as its key string');
  t.equal(wordPathRuns, 3000);
});

t.test('names differing in one byte, or only in case, hash apart and together', async (t) => {
  const hashes = new Set<number>();
  const q = new ParsedQuery();
  for (let i = 0; i < 5000; i++) {
    parseQuery(buildQuery(wireName([[...Buffer.from(`n${i}`)], [...Buffer.from('bench')], [...Buffer.from('svc')]]), 1), q);
    hashes.add(q.hash);
  }
  t.equal(hashes.size, 5000, 'no collision among 5000 sequential names');
  parseQuery(buildQuery(wireName([[...Buffer.from('Web')], [...Buffer.from('EXAMPLE')]]), 1), q);
  const upper = q.hash;
  parseQuery(buildQuery(wireName([[...Buffer.from('web')], [...Buffer.from('example')]]), 1), q);
  t.equal(q.hash, upper, 'case does not change the hash');
});
