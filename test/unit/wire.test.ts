// Query parsing, cache keys, reply building (TTL aging, truncation) on raw bytes.
import t from 'tap';
import * as packet from 'dns-packet';
import { PARSE_DROP, PARSE_OK, ParsedQuery, parseQuery, queryKey } from '../../src/dns/wire.js';
import { keyDnssecOk, keyQname, keyQtype } from '../../src/dns/key.js';
import { prepareAnswer } from '../../src/dns/answer.js';
import { buildQuery, buildQueryFromKey } from '../../src/dns/query.js';
import { OWN_TTLS, PackedAnswer } from '../../src/dns/packed.js';
import { errorReply, replyFromAnswer } from '../../src/dns/reply.js';
import { RCODE_BADVERS, RCODE_FORMERR, RCODE_NOTIMP } from '../../src/dns/constants.js';
import { encodeQuery } from '../support/dnsclient.js';

t.test('header and question parse by hand', async (t) => {
  const q = new ParsedQuery();
  const msg = encodeQuery('Web.Prod.SVC.cluster.local', 'AAAA', { id: 4242, edns: 4096, do: true });
  t.equal(parseQuery(msg, q), PARSE_OK);
  t.equal(q.id, 4242);
  t.equal(q.qtype, 28);
  t.equal(q.qclass, 1);
  t.ok(q.hasEdns);
  t.equal(q.udpPayload, 4096);
  t.ok(q.dnssecOk);
  t.equal(keyQname(queryKey(q)).toString('latin1'), '\x03web\x04prod\x03svc\x07cluster\x05local\x00', 'key name lowercased');
  t.equal(keyQtype(queryKey(q)), 28);
  t.ok(keyDnssecOk(queryKey(q)));
  const q2 = new ParsedQuery();
  parseQuery(encodeQuery('web.prod.svc.cluster.local', 'AAAA', { edns: 1232, do: true }), q2);
  t.equal(queryKey(q2), queryKey(q), 'case and payload size do not change the key');
  parseQuery(encodeQuery('web.prod.svc.cluster.local', 'AAAA', { edns: 1232 }), q2);
  t.not(queryKey(q2), queryKey(q), 'DO changes the key');
});

t.test('EDNS payload below 512 counts as 512; no OPT → 512', async (t) => {
  const q = new ParsedQuery();
  parseQuery(encodeQuery('a.b', 'A', { edns: 100 }), q);
  t.equal(q.udpPayload, 512);
  parseQuery(encodeQuery('a.b', 'A'), q);
  t.equal(q.udpPayload, 512);
  t.notOk(q.hasEdns);
});

t.test('what is not a standard query', async (t) => {
  const q = new ParsedQuery();
  t.equal(parseQuery(Buffer.alloc(5), q), PARSE_DROP, 'short header dropped');
  const resp = encodeQuery('a.b', 'A');
  resp[2] |= 0x80;
  t.equal(parseQuery(resp, q), PARSE_DROP, 'a response is dropped, never answered');
  const notify = encodeQuery('a.b', 'SOA');
  notify[2] = (notify[2]! & 0x87) | (4 << 3);
  t.equal(parseQuery(notify, q), RCODE_NOTIMP, 'NOTIFY → NOTIMP');
  const two = encodeQuery('a.b', 'A');
  two[5] = 2;
  t.equal(parseQuery(two, q), RCODE_FORMERR, 'QDCOUNT 2 → FORMERR');
  const cut = encodeQuery('abc.example', 'A').subarray(0, 16);
  t.equal(parseQuery(cut, q), RCODE_FORMERR, 'cut question → FORMERR');
  const reply = errorReply(cut, q, RCODE_FORMERR);
  t.equal(reply.readUInt16BE(0), cut.readUInt16BE(0), 'FORMERR keeps the ID');
  t.equal(reply[3]! & 0xf, RCODE_FORMERR);
  t.equal(reply.readUInt16BE(4), 0, 'no question echoed when it did not parse');
  const v1 = packet.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'a.b' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 1, flags: 0, options: [] } as never] });
  const opt = { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as never;
  const withOpts = (o: Partial<packet.Packet>): Buffer => packet.encode({ type: 'query', id: 1, questions: [{ type: 'A', name: 'a.b' }], ...o });
  t.equal(parseQuery(withOpts({ answers: [opt] }), q), RCODE_FORMERR, 'OPT in the answer section → FORMERR (RFC 6891 §6.1.1)');
  t.equal(parseQuery(withOpts({ authorities: [opt], additionals: [opt] }), q), RCODE_FORMERR, 'OPT in the authority section → FORMERR');
  t.equal(parseQuery(withOpts({ additionals: [opt, opt] }), q), RCODE_FORMERR, 'two OPTs → FORMERR');
  t.equal(parseQuery(withOpts({ additionals: [opt] }), q), PARSE_OK, 'one OPT in the additional section is fine');
  t.equal(parseQuery(v1, q), RCODE_BADVERS, 'EDNS version 1 → BADVERS');
  const bv = packet.decode(errorReply(v1, q, RCODE_BADVERS));
  const bvOpt = bv.additionals![0] as { type: string; extendedRcode?: number };
  t.equal(bvOpt.type, 'OPT', 'BADVERS travels in an OPT');
  t.equal(bvOpt.extendedRcode, 1, 'extended rcode 1 + header 0 = 16 (BADVERS)');
});

function upstreamAnswer(name: string, ttls: number[], extra: Partial<packet.Packet> = {}): Buffer {
  return packet.encode({
    type: 'response',
    id: 77,
    flags: packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE,
    questions: [{ type: 'A', name }],
    answers: ttls.map((ttl, i) => ({ type: 'A', name, ttl, data: `10.0.0.${i + 1}` })),
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as never],
    ...extra,
  });
}

t.test('prepared answers: TTL offsets, OPT stripped, ID cleared; reply ages TTLs', async (t) => {
  const q = new ParsedQuery();
  const query = encodeQuery('WWW.example.com', 'A', { id: 999 });
  parseQuery(query, q);
  const a = prepareAnswer(upstreamAnswer('www.example.com', [60, 40]), keyQname(queryKey(q)), 1, 1)!;
  t.ok(a);
  t.equal(a.minTtl, 40);
  t.equal(a.ttlOffsets.length, 2, 'OPT TTL is not a TTL');
  t.equal(a.wire.readUInt16BE(10), 0, 'OPT stripped from the stored wire');
  t.equal(a.wire.readUInt16BE(0), 0, 'ID cleared');
  const served = new PackedAnswer(a, 30); // upstream says 60 and 40, the cache serves at most 30
  const r = packet.decode(replyFromAnswer(served, query, q, 7, 512, true));
  t.equal(r.id, 999, 'client ID');
  t.same(r.answers!.map((x) => x.ttl), [23, 23], 'TTLs aged by 7 s');
  t.equal(r.questions![0]!.name, 'WWW.example.com', 'client case');
  t.equal(r.additionals!.length, 0, 'no OPT for a client without EDNS');
  t.ok(r.flags! & packet.AUTHORITATIVE_ANSWER, 'AA on a cache hit');
  const qe = new ParsedQuery();
  const queryEdns = encodeQuery('www.example.com', 'A', { edns: 1232, do: true });
  parseQuery(queryEdns, qe);
  const re = packet.decode(replyFromAnswer(served, queryEdns, qe, 40, 1232, false));
  t.same(re.answers!.map((x) => x.ttl), [0, 0], 'never below 0');
  t.equal(re.additionals![0]!.type, 'OPT', 'the client\'s OPT comes back');
  t.ok(((re.additionals![0] as { flags?: number }).flags ?? 0) & packet.DNSSEC_OK, 'with its DO bit');
});

t.test('the reply\'s question is the client\'s, whatever case upstream echoed', async (t) => {
  // Upstream may answer in another case than asked (the answer is matched without case): the
  // stored question is the lowercased name, and each reply carries the client's own bytes.
  const asked = new ParsedQuery();
  parseQuery(encodeQuery('www.example.com', 'A'), asked);
  const a = prepareAnswer(upstreamAnswer('WwW.ExAmPlE.CoM', [60]), keyQname(queryKey(asked)), 1, 1)!;
  t.ok(a, 'a question in another case still answers the query');
  t.equal(packet.decode(a.wire).questions![0]!.name, 'www.example.com', 'stored lowercased');
  const packed = new PackedAnswer(a, 30);
  for (const name of ['www.example.com', 'WWW.EXAMPLE.COM', 'wWw.eXample.cOm', 'www.example.coM']) {
    const q = new ParsedQuery();
    const query = encodeQuery(name, 'A', { id: 7 });
    parseQuery(query, q);
    t.equal(q.nameLowercase, name === name.toLowerCase(), `${name}: case flag`);
    const reply = replyFromAnswer(packed, query, q, 0, 512, true);
    t.equal(packet.decode(reply).questions![0]!.name, name, `${name}: echoed as sent`);
    t.same(reply.subarray(12, q.questionEnd), query.subarray(12, q.questionEnd), `${name}: question bytes identical`);
  }
});

t.test('packed answers: bytes ≥ 0x80 survive, TTL caps, stale TTL, truncation', async (t) => {
  const q = new ParsedQuery();
  const query = encodeQuery('Big.example.com', 'A', { id: 4321 });
  parseQuery(query, q);
  // Addresses with high bytes and a TTL with bit 31 clear but > 2^24: latin1 must round-trip them.
  const msg = packet.encode({
    type: 'response', id: 5, flags: packet.RECURSION_DESIRED,
    questions: [{ type: 'A', name: 'big.example.com' }],
    answers: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => ({ type: 'A', name: 'big.example.com', ttl: 0x12345678 + i, data: `250.251.252.${240 + i}` })),
  });
  const a = prepareAnswer(msg, keyQname(queryKey(q)), 1, 1)!;
  const kept = new PackedAnswer(a, OWN_TTLS);
  t.equal(kept.ttlCount, 10);
  t.same(Array.from({ length: 10 }, (_, i) => kept.origTtl(i)), Array.from({ length: 10 }, (_, i) => 0x12345678 + i), 'original TTLs');
  t.same(Array.from({ length: 10 }, (_, i) => kept.ttlOffset(i)), Array.from(a.ttlOffsets), 'offsets');
  const r = packet.decode(replyFromAnswer(kept, query, q, 0, 0xffff, true));
  t.same(r.answers!.map((x) => x.data), Array.from({ length: 10 }, (_, i) => `250.251.252.${240 + i}`), 'high bytes intact');
  t.same(r.answers!.map((x) => x.ttl), Array.from({ length: 10 }, (_, i) => 0x12345678 + i), 'uncapped TTLs served as sent');
  t.equal(r.id, 4321);
  const capped = packet.decode(replyFromAnswer(new PackedAnswer(a, 100), query, q, 3, 0xffff, true));
  t.same(capped.answers!.map((x) => x.ttl), Array(10).fill(97), 'capped to 100, aged by 3');
  const stale = packet.decode(replyFromAnswer(kept, query, q, 0, 0xffff, true, 30));
  t.same(stale.answers!.map((x) => x.ttl), Array(10).fill(30), 'fixed stale TTL');
  // dns-packet does not compress: 33 B of header and question, then 31 B per A record.
  const small = replyFromAnswer(kept, query, q, 0, 100, true);
  const tc = packet.decode(small);
  t.ok(tc.flags! & packet.TRUNCATED_RESPONSE, 'TC when the answer does not fit the limit');
  t.equal(tc.id, 4321);
  t.same(tc.answers!.map((x) => x.data), ['250.251.252.240', '250.251.252.241'], 'the two whole records that fit in 100 B');
  t.same(tc.answers!.map((x) => x.ttl), [0x12345678, 0x12345679], 'with their TTLs');
  t.equal(tc.questions![0]!.name, 'Big.example.com', 'client case in the truncated reply');
  t.equal(small.length, q.questionEnd + 2 * 31);
  t.equal(replyFromAnswer(kept, query, q, 0, q.questionEnd + 2 * 31 - 1, true).readUInt16BE(6), 1, 'one byte less: one record');
  t.equal(replyFromAnswer(kept, query, q, 0, q.questionEnd + 10 * 31, true)[2]! & 0x02, 0, 'exactly the whole answer: no TC');
  const none = replyFromAnswer(kept, query, q, 0, q.questionEnd + 30, true);
  t.same([none.length, none.readUInt16BE(6), none[2]! & 0x02], [q.questionEnd, 0, 0x02], 'no record fits: header and question, TC');
});

t.test('truncation keeps a prefix of the records across sections, then the client\'s OPT', async (t) => {
  const q = new ParsedQuery();
  const query = encodeQuery('www.example.com', 'A', { id: 7, edns: 512, do: true });
  parseQuery(query, q);
  const msg = packet.encode({
    type: 'response', id: 5, flags: packet.RECURSION_DESIRED,
    questions: [{ type: 'A', name: 'www.example.com' }],
    answers: [1, 2, 3].map((i) => ({ type: 'A', name: 'www.example.com', ttl: 60, data: `10.0.0.${i}` })),
    authorities: [1, 2].map((i) => ({ type: 'NS', name: 'example.com', ttl: 60, data: `ns${i}.example.com` })),
    additionals: [
      { type: 'A', name: 'ns1.example.com', ttl: 60, data: '10.0.1.1' },
      { type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as never,
    ],
  });
  const a = new PackedAnswer(prepareAnswer(msg, keyQname(queryKey(q)), 1, 1)!, 60);
  const full = replyFromAnswer(a, query, q, 3, 0xffff, true);
  const lastNs = a.recordEnd(3); // the answer's three A records and the first NS
  const cut = replyFromAnswer(a, query, q, 3, lastNs + 11, true);
  const d = packet.decode(cut);
  t.ok(d.flags! & packet.TRUNCATED_RESPONSE, 'TC');
  t.same([cut.readUInt16BE(6), cut.readUInt16BE(8), cut.readUInt16BE(10)], [3, 1, 1], 'AN 3, NS 1, AR 1 (the OPT)');
  t.same(d.answers!.map((x) => x.data), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
  t.same(d.authorities!.map((x) => x.data), ['ns1.example.com']);
  t.same([...d.answers!, ...d.authorities!].map((x) => x.ttl), [57, 57, 57, 57], 'aged TTLs on the records kept');
  const opt = d.additionals![0] as packet.OptAnswer;
  t.equal(opt.type, 'OPT', 'the OPT follows the last record kept');
  t.equal(opt.flag_do, true, 'with the client\'s DO');
  t.equal(cut.length, lastNs + 11, 'exactly the budget');
  t.same(cut.subarray(12, lastNs), full.subarray(12, lastNs), 'the records are the full reply\'s bytes up to the cut');
});

t.test('answers that do not match the question are refused', async (t) => {
  const other = upstreamAnswer('evil.example.com', [60]);
  t.equal(prepareAnswer(other, Buffer.from('\x03www\x07example\x03com\x00', 'latin1'), 1, 1), null);
  t.equal(prepareAnswer(Buffer.alloc(11), Buffer.from([0]), 1, 1), null, 'short');
  const good = upstreamAnswer('www.example.com', [60]);
  t.equal(prepareAnswer(good.subarray(0, good.length - 5), Buffer.from('\x03www\x07example\x03com\x00', 'latin1'), 1, 1), null, 'cut record');
});

t.test('denials take min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)', async (t) => {
  const msg = packet.encode({
    type: 'response',
    id: 1,
    flags: 3, // NXDOMAIN
    questions: [{ type: 'A', name: 'x.example.com' }],
    authorities: [{ type: 'SOA', name: 'example.com', ttl: 300, data: { mname: 'ns.example.com', rname: 'h.example.com', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 20 } }],
  });
  const a = prepareAnswer(msg, Buffer.from('\x01x\x07example\x03com\x00', 'latin1'), 1, 1)!;
  t.equal(a.kind, 1, 'denial');
  t.ok(a.hasSoa);
  t.equal(a.minTtl, 20);
});

t.test('the upstream query of a miss, built from its cache key, decodes to the normalised question', async (t) => {
  for (const [name, type, opts] of [
    ['Web.Prod.SVC.cluster.local', 'AAAA', { id: 7, edns: 4096, do: true }],
    ['x.Example.COM', 'A', { id: 9 }],
  ] as const) {
    const q = new ParsedQuery();
    t.equal(parseQuery(encodeQuery(name, type, opts), q), PARSE_OK);
    // Fill the pool slab with junk first: every byte of the query must be written.
    Buffer.allocUnsafe(64).fill(0xff);
    const wire = buildQueryFromKey(queryKey(q));
    const d = packet.decode(wire);
    t.equal(d.id, 0);
    t.equal(d.flags! & packet.RECURSION_DESIRED, packet.RECURSION_DESIRED, 'RD');
    t.equal(d.questions![0]!.name, name.toLowerCase());
    t.equal(d.questions![0]!.type, type);
    const opt = d.additionals![0] as packet.OptAnswer;
    t.equal(opt.type, 'OPT');
    t.equal(opt.udpPayloadSize, 1232);
    t.equal(opt.flag_do, 'do' in opts && opts.do === true, 'DO bit follows the key');
    t.same(opt.options, []);
    t.same(wire, buildQuery(keyQname(queryKey(q)), q.qtype, q.qclass, { dnssecOk: q.dnssecOk }), 'same bytes as buildQuery');
  }
});
