// The seed corpus: real queries as clients send them (glibc, musl, dig, CoreDNS health checks),
// built from fixed fields so the file needs no generator. Every mutation starts from one of these;
// the names are in the zone the harness gives knot, so an intact seed gets a real answer.
const HIT = 'n1.bench.svc.cluster.local';

/** One query on the wire: header, question, and an optional OPT record (RFC 6891 §6.1.2). */
export function query(id, name, type, { rd = true, edns = null, qdcount = 1, cls = 1 } = {}) {
  const labels = name === '.' ? [] : name.replace(/\.$/, '').split('.');
  const qname = Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id, 0);
  head.writeUInt16BE(rd ? 0x0100 : 0, 2);
  head.writeUInt16BE(qdcount, 4);
  head.writeUInt16BE(edns ? 1 : 0, 10);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(cls, 2);
  return Buffer.concat([head, qname, q, edns ? opt(edns) : Buffer.alloc(0)]);
}

/** An OPT record: `size` UDP payload, DO bit, raw options [{code, data}]. */
export function opt({ size = 1232, dnssecOk = false, version = 0, options = [] }) {
  const body = Buffer.concat(options.map((o) => Buffer.concat([u16(o.code), u16(o.data.length), o.data])));
  const rr = Buffer.alloc(11);
  rr[0] = 0; // root owner
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(size, 3);
  rr[6] = 0; // extended rcode
  rr[7] = version;
  rr.writeUInt16BE(dnssecOk ? 0x8000 : 0, 8);
  return Buffer.concat([rr.subarray(0, 9), u16(body.length), body]);
}

export function u16(v) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}

const COOKIE = { code: 10, data: Buffer.from('0123456789abcdef', 'latin1').subarray(0, 8) };
const ECS = { code: 8, data: Buffer.from([0, 1, 24, 0, 10, 1, 2]) };

export const SEEDS = [
  query(0x1234, HIT, 1),
  query(0x1235, HIT, 28),
  query(0x1236, HIT, 1, { edns: { size: 1232 } }),
  query(0x1237, HIT, 1, { edns: { size: 4096, dnssecOk: true, options: [COOKIE] } }),
  query(0x1238, 'kubernetes.default.svc.cluster.local', 1, { edns: { size: 512, options: [ECS] } }),
  query(0x1239, 'kubernetes.default.svc.cluster.local.svc.cluster.local', 1),
  query(0x123a, 'nope.bench.svc.cluster.local', 28),
  query(0x123b, '_http._tcp.kubernetes.default.svc.cluster.local', 33),
  query(0x123c, '1.0.96.10.in-addr.arpa', 12),
  query(0x123d, 'cluster.local', 6),
  query(0x123e, 'cluster.local', 2, { rd: false }),
  query(0x123f, 'x.miss.svc.cluster.local', 16, { edns: { size: 1232, dnssecOk: true } }),
  query(0x1240, '.', 2),
];
