// Queries and upstream-style answers built by hand for the in-process cache bench: the query is
// what dnsperf sends (A, with EDNS), the answer one A record at a pointer to the question.
import { buildQuery } from '../../dist/dns/query.js';
import { prepareAnswer } from '../../dist/dns/answer.js';
import { nameToWire, ParsedQuery, parseQuery, PARSE_OK, queryKey } from '../../dist/dns/wire.js';
import { CLASS_IN, TYPE_A } from '../../dist/dns/constants.js';

export function nameOf(i) {
  return `n${i}.bench.svc.cluster.local.`;
}

/** The client query for name i, as a random-ID wire message. */
export function queryFor(i) {
  const q = buildQuery(nameToWire(nameOf(i)), TYPE_A, CLASS_IN);
  q.writeUInt16BE((i * 7919) & 0xffff, 0);
  return q;
}

/** The cache key the agent's parser derives from a query. */
export function keyOf(query) {
  const q = new ParsedQuery();
  if (parseQuery(query, q) !== PARSE_OK) throw new Error('bench query did not parse');
  return queryKey(q);
}

/** The PreparedAnswer the upstream path would insert for name i (TTL 3600, one A record). */
export function preparedFor(i) {
  const qname = nameToWire(nameOf(i));
  // Header and question as the agent's own query builder writes them, then one A record.
  const question = buildQuery(qname, TYPE_A, CLASS_IN, { edns: false });
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0); // pointer to the question name
  record.writeUInt16BE(TYPE_A, 2);
  record.writeUInt16BE(CLASS_IN, 4);
  record.writeUInt32BE(3600, 6);
  record.writeUInt16BE(4, 10);
  record.writeUInt32BE(0x0a640000 + i, 12);
  const msg = Buffer.concat([question, record]);
  msg.writeUInt16BE(0x8580, 2); // QR AA RD RA, NOERROR
  msg.writeUInt16BE(1, 6);
  const a = prepareAnswer(msg, qname, TYPE_A, CLASS_IN);
  if (!a) throw new Error(`prepareAnswer rejected the bench answer for ${nameOf(i)}`);
  return a;
}

/**
 * Client queries for name i written in place into one reused buffer per label length, so the
 * hit-cost loop reads no cold query memory: what grows with the cache size is the cache's own.
 */
export class QueryWriter {
  constructor() {
    // "n" + up to 7 digits: index d holds the template for a d-digit i.
    this.templates = [null];
    for (let d = 1; d <= 7; d++) this.templates.push(queryFor(10 ** (d - 1)));
  }

  query(i) {
    let d = 1;
    for (let v = i; v >= 10; v = Math.floor(v / 10)) d++;
    const buf = this.templates[d];
    for (let p = 13 + d, v = i; p > 13; p--, v = Math.floor(v / 10)) buf[p] = 48 + (v % 10); // digits after "n" at 13
    buf[0] = i & 0xff;
    return buf;
  }
}
