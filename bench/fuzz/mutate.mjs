// Datagram generators. Byte mutations of the seed corpus (what a broken client or a noisy link
// makes) and structure-aware messages (what a hostile client makes: a valid header over counts
// that lie, compression pointers in a question, odd EDNS). Every one is a pure function of `rng`.
import { SEEDS, opt, query, u16 } from './corpus.mjs';

const MAX_GARBAGE = 300;

/** Bit flips, truncation, inserted bytes or random garbage (up to 300 B), from a seed query. */
export function mutated(rng) {
  const kind = rng.int(5);
  if (kind === 4) return rng.bytes(rng.int(MAX_GARBAGE + 1));
  const b = Buffer.from(rng.pick(SEEDS));
  if (kind === 0) {
    for (let i = 1 + rng.int(4); i > 0; i--) b[rng.int(b.length)] ^= 1 << rng.int(8);
    return b;
  }
  if (kind === 1) return b.subarray(0, rng.int(b.length));
  if (kind === 2) {
    const at = rng.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
  }
  // Overwrite a run of bytes in the question (labels and lengths get random values).
  const at = 12 + rng.int(Math.max(1, b.length - 12));
  for (let i = at; i < Math.min(b.length, at + 1 + rng.int(6)); i++) b[i] = rng.u32() & 255;
  return b;
}

const STRUCTURED = [hostileCounts, pointerQuestion, ednsVariant, longName, oddHeader];

/** A message that parses far enough to reach the checks a byte mutation rarely reaches. */
export function structured(rng) {
  return rng.pick(STRUCTURED)(rng);
}

/** A valid question under header counts that lie (up to 0xffff of each section). */
function hostileCounts(rng) {
  const b = Buffer.from(rng.pick(SEEDS));
  const field = 4 + 2 * rng.int(4);
  b.writeUInt16BE(rng.pick([0, 2, 3, 0xff, 0x7fff, 0xffff, rng.int(0x10000)]), field);
  return b;
}

/**
 * Compression pointers where a question name is (RFC 1035 §4.1.4): to itself (a loop), to a
 * later offset (forward), to the header, past the end, chains of pointers, a pointer after a label.
 */
function pointerQuestion(rng) {
  const head = Buffer.from(SEEDS[0].subarray(0, 12));
  const ptr = (off) => Buffer.from([0xc0 | ((off >> 8) & 0x3f), off & 255]);
  const q = u16(1);
  const variants = [
    () => [ptr(12), q, u16(1)], // points at itself
    () => [Buffer.from([1, 0x61]), ptr(12), q, u16(1)], // "a" then back to its own start
    () => [ptr(14), Buffer.from([1, 0x62]), ptr(12), q, u16(1)], // forward, then a loop back
    () => [ptr(rng.int(0x4000)), q, u16(1)], // anywhere, mostly past the end
    () => [ptr(2), q, u16(1)], // into the header
    () => [Buffer.from([0x40 | rng.int(0x40), rng.u32() & 255]), q, u16(1)], // reserved label types
    () => {
      const chain = [];
      for (let i = 0; i < 40; i++) chain.push(ptr(12 + 2 * (i + 1)));
      return [...chain, Buffer.from([0]), q, u16(1)];
    },
  ];
  return Buffer.concat([head, ...rng.pick(variants)()]);
}

/** EDNS: odd versions, sizes, flags, options that overrun or repeat, two OPT records. */
function ednsVariant(rng) {
  const options = [];
  for (let i = rng.int(4); i > 0; i--) options.push({ code: rng.pick([3, 8, 10, 11, 12, 15, rng.int(0x10000)]), data: rng.bytes(rng.int(40)) });
  const e = { size: rng.pick([0, 1, 511, 512, 1232, 4096, 0xffff]), dnssecOk: rng.int(2) === 1, version: rng.pick([0, 0, 0, 1, 255]), options };
  const b = query(rng.u32() & 0xffff, rng.pick(['n1.bench.svc.cluster.local', 'kubernetes.default.svc.cluster.local', 'x.y']), rng.pick([1, 28, 33, 255]), { edns: e });
  const v = rng.int(4);
  if (v === 0) return b.subarray(0, b.length - 1 - rng.int(6)); // option data cut short
  if (v === 1) {
    b.writeUInt16BE(2, 10); // two OPT records (RFC 6891 §6.1.1: FORMERR)
    return Buffer.concat([b, opt(e)]);
  }
  if (v === 2) b.writeUInt16BE(rng.int(0x10000), b.length - 2 - sumOptions(options)); // RDLENGTH lies
  return b;
}

function sumOptions(options) {
  return options.reduce((n, o) => n + 4 + o.data.length, 0);
}

/** Names at and past the 255-octet limit (RFC 1035 §2.3.4), labels up to and past 63. */
function longName(rng) {
  const labels = [];
  let len = 0;
  const target = 200 + rng.int(120);
  while (len < target) {
    const l = 1 + rng.int(rng.int(8) === 0 ? 70 : 20);
    labels.push('a'.repeat(Math.min(l, 63)));
    len += l + 1;
  }
  const b = query(rng.u32() & 0xffff, labels.join('.') + '.cluster.local', 1);
  if (rng.int(4) === 0) b[12] = 64 + rng.int(63); // first label length past 63
  return b;
}

/** Header bits no client sets: QR, opcodes, Z, RCODE, QDCOUNT 0 or 2, class CH/ANY/NONE. */
function oddHeader(rng) {
  const b = query(rng.u32() & 0xffff, 'n1.bench.svc.cluster.local', rng.pick([1, 28, 255, 251, 252, 0, 65535]), {
    qdcount: rng.pick([1, 1, 0, 2]),
    cls: rng.pick([1, 1, 3, 254, 255, 0]),
  });
  b.writeUInt16BE(rng.u32() & 0xffff, 2);
  return b;
}
