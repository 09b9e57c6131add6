// RFC 6891 §6.1.1 on a running agent: a query whose OPT record sits in the answer or authority
// section, or that carries two OPT records, is answered FORMERR over UDP and TCP, with its ID and
// question; the same query with its one OPT in the additional section is answered by knot.
import t from 'tap';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { decode, rawTcp, rawUdp } from '../support/dnsclient.js';
import { startTestAgent } from '../support/agent.js';
import { randomLoopback, randomPort } from '../support/net.js';

const missing = knotMissing();

const NAME = 'web.prod.svc.cluster.local';

/** The wire bytes of a query for NAME A, by hand: header counts as given, then the question. */
function header(id: number, an: number, ns: number, ar: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(0x0100, 2); // RD
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(an, 6);
  h.writeUInt16BE(ns, 8);
  h.writeUInt16BE(ar, 10);
  return h;
}

function question(): Buffer {
  const labels = NAME.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l, 'ascii')]);
  return Buffer.concat([...labels, Buffer.from([0, 0, 1, 0, 1])]); // root, A, IN
}

/** OPT RR: root owner, type 41, payload 1232, ext rcode 0, version 0, no flags, no options. */
const OPT = Buffer.from([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);

/** An A record for NAME, owner compressed to the question (offset 12). */
const A_RR = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 0, 0, 1]);

const cases: [string, (id: number) => Buffer][] = [
  ['OPT in the answer section', (id) => Buffer.concat([header(id, 1, 0, 0), question(), OPT])],
  ['OPT in the authority section', (id) => Buffer.concat([header(id, 0, 1, 0), question(), OPT])],
  ['OPT in the authority and the additional section', (id) => Buffer.concat([header(id, 0, 1, 1), question(), OPT, OPT])],
  ['two OPT records in the additional section', (id) => Buffer.concat([header(id, 0, 0, 2), question(), OPT, OPT])],
  ['OPT in the answer section after an A record', (id) => Buffer.concat([header(id, 2, 0, 0), question(), A_RR, OPT])],
];

t.test('OPT placement against a running agent', { skip: missing }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone() } });
  t.teardown(() => knot.stop());
  const a = await startTestAgent({ upstreams: [{ host: knot.address, port: knot.port }] });
  t.teardown(() => a.stop());

  const good = Buffer.concat([header(0x1234, 0, 0, 1), question(), OPT]);
  const ok = await rawUdp(a.host, a.port, good);
  t.equal(ok && decode(ok).rcode, 'NOERROR', 'the same query with its one OPT in the additional section: NOERROR');
  t.same(ok && decode(ok).answers?.map((r) => (r as { data?: unknown }).data), ['10.96.3.7'], 'answered by knot');

  let id = 0x4000;
  for (const [label, build] of cases) {
    const udpId = ++id;
    const udp = await rawUdp(a.host, a.port, build(udpId));
    t.ok(udp, `${label} over UDP: answered`);
    const du = decode(udp!);
    t.equal(du.rcode, 'FORMERR', `${label} over UDP: FORMERR`);
    t.equal(du.id, udpId, `${label} over UDP: the query's ID`);
    t.equal(du.questions?.[0]?.name, NAME, `${label} over UDP: the question echoed`);
    t.equal(du.answers?.length, 0, `${label} over UDP: no answers`);
    const tcpId = ++id;
    const [tcp] = await rawTcp(a.host, a.port, [build(tcpId)]);
    t.ok(tcp, `${label} over TCP: answered`);
    const dt = decode(tcp!);
    t.equal(dt.rcode, 'FORMERR', `${label} over TCP: FORMERR`);
    t.equal(dt.id, tcpId, `${label} over TCP: the query's ID`);
  }
});
