// The cache key as a string (wire.ts queryKey builds it): the lowercased wire qname, then qtype
// and qclass (u16 BE each), then one byte of flags (1: DO, 2: CD). The slow paths that hold only
// the string (a miss's upstream query, a refresh, a log line) read its parts back here.

/** The key's qname in wire form, for building the upstream query of a miss. */
export function keyQname(key: string): Buffer {
  return Buffer.from(key.slice(0, key.length - 5), 'latin1');
}
export function keyQtype(key: string): number {
  return (key.charCodeAt(key.length - 5) << 8) | key.charCodeAt(key.length - 4);
}
export function keyQclass(key: string): number {
  return (key.charCodeAt(key.length - 3) << 8) | key.charCodeAt(key.length - 2);
}
export function keyDnssecOk(key: string): boolean {
  return (key.charCodeAt(key.length - 1) & 1) !== 0;
}
export function keyCheckingDisabled(key: string): boolean {
  return (key.charCodeAt(key.length - 1) & 2) !== 0;
}
