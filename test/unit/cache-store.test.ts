// The partition store (src/cache/store.ts) on its own: probe chains under forced hash
// collisions, backward-shift deletion, true-LRU order, eviction by count and by bytes, growth,
// and a long random run checked against a plain Map plus a recency array.
import t from 'tap';
import { LruStore, keyOf } from '../../src/cache/store.js';
import { ParsedQuery, PARSE_OK, nameToWire, parseQuery, queryKey } from '../../src/dns/wire.js';
import { hashKeyString } from '../../src/dns/key-hash.js';
import { buildQuery } from '../../src/dns/query.js';

interface V {
  readonly data: string;
  readonly keyStart: number;
  readonly n: number;
}

/** A value keyed `key`, after a prefix as a cache entry keeps its key after its answer. */
function v(key: string, n: number, prefix = ''): V {
  return { data: prefix + key, keyStart: prefix.length, n };
}


function store(maxEntries: number, maxBytes = 1 << 30): { s: LruStore<V>; evicted: Float64Array } {
  const evicted = new Float64Array(1);
  return { s: new LruStore<V>(maxEntries, maxBytes, evicted, 0), evicted };
}

t.test('equal hashes: every key found, deletes keep the probe chain', async (t) => {
  const { s } = store(100);
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
  // All on one hash, then a second group two buckets on, so the chains run into each other.
  for (const k of keys) t.ok(s.set(k < 'k2' ? 7 : 9, v(k, 0), 1));
  const h = (k: string): number => (k < 'k2' ? 7 : 9);
  for (const k of keys) {
    const got = s.get(k, h(k));
    t.equal(got && keyOf(got), k, `found ${k}`);
  }
  for (const k of keys.filter((_, i) => i % 3 === 0)) t.ok(s.delete(k, h(k)));
  for (const [i, k] of keys.entries()) t.equal(s.has(k, h(k)), i % 3 !== 0, `${k} after deletes`);
  t.equal(s.count, keys.length - Math.ceil(keys.length / 3));
  t.notOk(s.get('absent', 7), 'a miss on a crowded hash ends at the empty bucket');
});

t.test('a hit moves the entry to the front; eviction takes the least recently used', async (t) => {
  const { s, evicted } = store(3);
  for (const k of ['a', 'b', 'c']) s.set(hashKeyString(k), v(k, 0), 10);
  t.same(s.keys(), ['c', 'b', 'a']);
  s.get('a', hashKeyString('a'));
  t.same(s.keys(), ['a', 'c', 'b'], 'a is most recent after its hit');
  s.set(hashKeyString('d'), v('d', 0), 10);
  t.same(s.keys(), ['d', 'a', 'c'], 'b, the least recent, was evicted by the cap');
  t.equal(evicted[0], 1);
  s.set(hashKeyString('a'), v('a', 1), 10);
  t.equal(evicted[0], 1, 'replacing a key is no eviction');
  t.equal(s.get('a', hashKeyString('a'))?.n, 1);
  s.delete('d', hashKeyString('d'));
  t.equal(evicted[0], 1, 'deleting is no eviction');
  const last = s.pop();
  t.equal(last && keyOf(last), 'c', 'pop takes the tail');
  t.equal(evicted[0], 2, 'and counts it');
});

t.test('the byte budget evicts from the tail; an entry larger than the budget is not stored', async (t) => {
  const { s, evicted } = store(100, 100);
  for (let i = 0; i < 5; i++) s.set(hashKeyString(`k${i}`), v(`k${i}`, i), 30);
  t.equal(s.count, 3);
  t.equal(s.bytes, 90);
  t.same(s.keys(), ['k4', 'k3', 'k2']);
  t.equal(evicted[0], 2);
  s.set(hashKeyString('k3'), v('k3', 9), 60);
  t.same(s.keys(), ['k3', 'k4'], 'a replacement that grows pushes out the tail');
  t.equal(s.bytes, 90);
  t.notOk(s.set(hashKeyString('k4'), v('k4', 9), 101), 'over the whole budget: refused');
  t.same(s.keys(), ['k3'], 'and the key loses its old value');
});

t.test('grows from a few slots, up to the cap only', async (t) => {
  const { s } = store(1000);
  t.equal(s.capacity().slots, 16, 'starts small');
  for (let i = 0; i < 1000; i++) s.set(hashKeyString(`k${i}`), v(`k${i}`, i), 1);
  const c = s.capacity();
  t.equal(c.slots, 1000, 'slot arrays stop at the cap');
  t.ok(c.table >= 2000 && (c.table & (c.table - 1)) === 0, `table ${c.table}: a power of two, load ≤ 1/2`);
  for (let i = 0; i < 1000; i++) t.equal(s.get(`k${i}`, hashKeyString(`k${i}`))?.n, i);
  for (let i = 0; i < 2000; i++) s.set(hashKeyString(`j${i}`), v(`j${i}`, i), 1);
  t.same(s.capacity(), c, 'churn at the cap reuses freed slots');
});

t.test('lookup with a parsed query matches get with its key string', async (t) => {
  const { s } = store(10);
  const q = new ParsedQuery();
  t.equal(parseQuery(buildQuery(nameToWire('Web.Example.COM.'), 1, 1), q), PARSE_OK);
  const key = queryKey(q);
  t.equal(q.hash, hashKeyString(key), 'the parser hashes the same bytes as the key string');
  s.set(q.hash, v(key, 1, '\x85\x80answer bytes before the key'), 1);
  t.equal(s.lookup(q)?.n, 1);
  const q2 = new ParsedQuery();
  parseQuery(buildQuery(nameToWire('web.example.com.'), 28, 1), q2);
  t.equal(s.lookup(q2), undefined, 'another qtype is another key');
  // A stored key with the query's hash but other bytes is not a match.
  s.set(q2.hash, v('other', 2, 'prefix'), 1);
  t.equal(s.lookup(q2), undefined);
});

t.test('keys either side of the words a slot keeps: each found by its own key only', async (t) => {
  const { s } = store(100);
  const q = new ParsedQuery();
  // Keys of 55 to 75 bytes: stored in a slot's words up to 64, compared against the string past it.
  for (let len = 55; len <= 75; len++) {
    const label = 'x'.repeat(len - 12); // its length byte, "\x04test\x00" and the 5 key bytes make 12
    t.equal(parseQuery(buildQuery(nameToWire(`${label}.test.`), 1, 1), q), PARSE_OK);
    const key = queryKey(q);
    t.equal(key.length, len);
    // Same hash and length, one byte apart (the name's first letter): never a match.
    const other = 'y' + key.slice(1);
    s.set(q.hash, v(other, -len, 'answer'), 1);
    t.equal(s.lookup(q), undefined, `${len}-byte key: another key of the same hash and length is no match`);
    s.set(q.hash, v(key, len, 'answer'), 1);
    t.equal(s.lookup(q)?.n, len, `${len}-byte key found`);
    // The query's own case does not matter, its last byte (DO) does.
    t.equal(parseQuery(buildQuery(nameToWire(`${label.toUpperCase()}.TEST.`), 1, 1), q), PARSE_OK);
    t.equal(s.lookup(q)?.n, len, `${len}-byte key found from an uppercase query`);
    t.equal(parseQuery(buildQuery(nameToWire(`${label}.test.`), 1, 1, { dnssecOk: true }), q), PARSE_OK);
    const withDo = q.hash;
    s.set(withDo, v(key, -1, 'answer'), 1); // the DO-less key stored under this query's hash
    t.equal(s.lookup(q), undefined, `${len}-byte key: the DO bit, the key's last byte, tells them apart`);
  }
  // A slot freed by a longer key and reused by a shorter one: the words past the shorter key's
  // end still hold the old key's bytes, and only the shorter key's own words are compared.
  const { s: small } = store(1);
  parseQuery(buildQuery(nameToWire(`${'a'.repeat(38)}.test.`), 1, 1), q);
  small.set(q.hash, v(queryKey(q), 1), 1);
  parseQuery(buildQuery(nameToWire('b.test.'), 1, 1), q);
  small.set(q.hash, v(queryKey(q), 2), 1);
  t.equal(small.count, 1, 'the longer key was evicted, its slot reused');
  t.equal(small.lookup(q)?.n, 2, 'the short key in the reused slot');
  parseQuery(buildQuery(nameToWire('c.test.'), 1, 1), q);
  t.equal(small.lookup(q), undefined);
});

t.test('1e5 random sets, gets and deletes agree with a Map and a recency array', async (t) => {
  const CAP = 64;
  const { s, evicted } = store(CAP, 64 * 20);
  const model = new Map<string, { n: number; size: number }>();
  let order: string[] = []; // most recent first
  let modelEvicted = 0;
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  // A small hash space forces collisions; 200 keys over a cap of 64 force evictions.
  const hash = (k: string): number => hashKeyString(k) & 0x3f;
  let mismatches = 0;
  for (let i = 0; i < 100_000; i++) {
    const k = `k${rand(200)}`;
    const op = rand(10);
    if (op < 5) {
      const got = s.get(k, hash(k));
      const want = model.get(k);
      if ((got?.n ?? -1) !== (want?.n ?? -1)) mismatches++;
      if (want) order = [k, ...order.filter((x) => x !== k)];
    } else if (op < 9) {
      const size = 1 + rand(40);
      // Keys after prefixes of different lengths, as entries keep them after answers of any size.
      s.set(hash(k), v(k, i, 'p'.repeat(i % 7)), size);
      if (model.has(k)) {
        model.set(k, { n: i, size });
        order = [k, ...order.filter((x) => x !== k)];
      } else {
        while (model.size >= CAP) {
          model.delete(order.pop()!);
          modelEvicted++;
        }
        let bytes = [...model.values()].reduce((a, v) => a + v.size, 0);
        while (model.size > 0 && bytes + size > 64 * 20) {
          const victim = order.pop()!;
          bytes -= model.get(victim)!.size;
          model.delete(victim);
          modelEvicted++;
        }
        model.set(k, { n: i, size });
        order = [k, ...order];
      }
      let bytes = [...model.values()].reduce((a, v) => a + v.size, 0);
      while (bytes > 64 * 20 && order[order.length - 1] !== k) {
        const victim = order.pop()!;
        bytes -= model.get(victim)!.size;
        model.delete(victim);
        modelEvicted++;
      }
    } else {
      if (s.delete(k, hash(k)) !== model.delete(k)) mismatches++;
      order = order.filter((x) => x !== k);
    }
  }
  t.equal(mismatches, 0, 'every get and delete agreed');
  t.same(s.keys(), order, 'same recency order');
  t.equal(s.count, model.size);
  t.equal(s.bytes, [...model.values()].reduce((a, v) => a + v.size, 0));
  t.equal(evicted[0], modelEvicted, 'same evictions');
  t.ok(modelEvicted > 1000, `evictions happened (${modelEvicted})`);
});
