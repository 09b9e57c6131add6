// Wire constants (RFC 1035 §4.1, RFC 6891, RFC 2308).
export const HEADER_LEN = 12;
export const MAX_NAME_LEN = 255;

export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_AD = 0x0020;
export const FLAG_CD = 0x0010;
export const OPCODE_MASK = 0x7800;
export const RCODE_MASK = 0x000f;

export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;
export const RCODE_BADVERS = 16; // extended: upper 8 bits travel in the OPT TTL

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_HINFO = 13;
export const TYPE_MX = 15;
export const TYPE_TXT = 16;
export const TYPE_AAAA = 28;
export const TYPE_SRV = 33;
export const TYPE_OPT = 41;
export const TYPE_AXFR = 252;
export const TYPE_IXFR = 251;
export const CLASS_IN = 1;

export const EDNS_DO = 0x8000; // in the low 16 bits of the OPT TTL
export const OPT_RR_LEN = 11; // root name + type + class + ttl + rdlength, no options

/** RFC 6891 §6.2.5: a UDP payload below 512 is treated as 512. */
export const MIN_UDP_PAYLOAD = 512;
/** DNS Flag Day 2020: what we advertise and accept by default. */
export const OUR_UDP_PAYLOAD = 1232;
