// Queries we originate: the upstream query of a cache miss (normalised: lowercased name, RD,
// our own OPT so the answer can serve every client of the key) and health probes.
import { CLASS_IN, EDNS_DO, FLAG_CD, FLAG_RD, OUR_UDP_PAYLOAD, TYPE_OPT } from './constants.js';

export function buildQuery(
  qname: Buffer,
  qtype: number,
  qclass = CLASS_IN,
  opts: { rd?: boolean; cd?: boolean; dnssecOk?: boolean; edns?: boolean } = {},
): Buffer {
  const edns = opts.edns ?? true;
  const out = Buffer.alloc(12 + qname.length + 4 + (edns ? 11 : 0));
  const flags = (opts.rd ?? true ? FLAG_RD : 0) | (opts.cd ? FLAG_CD : 0);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  qname.copy(out, 12);
  let pos = 12 + qname.length;
  out.writeUInt16BE(qtype, pos);
  out.writeUInt16BE(qclass, pos + 2);
  pos += 4;
  if (edns) {
    out.writeUInt16BE(1, 10);
    out[pos] = 0;
    out.writeUInt16BE(TYPE_OPT, pos + 1);
    out.writeUInt16BE(OUR_UDP_PAYLOAD, pos + 3);
    out.writeUInt16BE(opts.dnssecOk ? EDNS_DO : 0, pos + 7);
  }
  return out;
}
