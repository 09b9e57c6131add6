// Queries we originate: the upstream query of a cache miss (normalised: lowercased name, RD,
// our own OPT so the answer can serve every client of the key) and health probes.
// Buffers come from Node's pool (allocUnsafe, every byte written): Buffer.alloc made a fresh
// zero-filled ArrayBuffer per miss, a visible share of the miss path's garbage.
import { CLASS_IN, EDNS_DO, FLAG_CD, FLAG_RD, OUR_UDP_PAYLOAD, TYPE_OPT } from './constants.js';
import { keyCheckingDisabled, keyDnssecOk, keyQclass, keyQtype } from './key.js';

export function buildQuery(
  qname: Buffer,
  qtype: number,
  qclass = CLASS_IN,
  opts: { rd?: boolean; cd?: boolean; dnssecOk?: boolean; edns?: boolean } = {},
): Buffer {
  const edns = opts.edns ?? true;
  const out = Buffer.allocUnsafe(12 + qname.length + 4 + (edns ? 11 : 0));
  qname.copy(out, 12);
  const flags = (opts.rd ?? true ? FLAG_RD : 0) | (opts.cd ? FLAG_CD : 0);
  finishQuery(out, qname.length, qtype, qclass, flags, edns, opts.dnssecOk === true);
  return out;
}

/**
 * The upstream query of a cache miss, straight from its cache key (name bytes, then type, class
 * and the CD/DO bits; see dns/wire.ts): RD, CD as asked, our OPT with DO as asked. The question
 * name is `out.subarray(12, 12 + key.length - 5)`: no separate name buffer per miss.
 */
export function buildQueryFromKey(key: string): Buffer {
  const nameLen = key.length - 5;
  const out = Buffer.allocUnsafe(12 + nameLen + 4 + 11);
  out.write(key, 12, nameLen, 'latin1');
  const flags = FLAG_RD | (keyCheckingDisabled(key) ? FLAG_CD : 0);
  finishQuery(out, nameLen, keyQtype(key), keyQclass(key), flags, true, keyDnssecOk(key));
  return out;
}

/** Header, type, class and OPT around a name already at offset 12. */
function finishQuery(out: Buffer, nameLen: number, qtype: number, qclass: number, flags: number, edns: boolean, dnssecOk: boolean): void {
  out.fill(0, 0, 12);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(1, 4);
  let pos = 12 + nameLen;
  out.writeUInt16BE(qtype, pos);
  out.writeUInt16BE(qclass, pos + 2);
  pos += 4;
  if (edns) {
    out.writeUInt16BE(1, 10);
    out[pos] = 0;
    out.writeUInt16BE(TYPE_OPT, pos + 1);
    out.writeUInt16BE(OUR_UDP_PAYLOAD, pos + 3);
    out.writeUInt32BE(0, pos + 5); // extended RCODE, version, high DO byte
    out.writeUInt16BE(dnssecOk ? EDNS_DO : 0, pos + 7);
    out.writeUInt16BE(0, pos + 9); // no options
  }
}
