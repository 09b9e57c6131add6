// The UDP I/O knob (NODELOCALDNS_UDP_IO) and the IPv4 peer formatting of the batch path, where a
// client's IPv4 address travels as a number in host order.
import t from 'tap';
import { parseUdpIo } from '../../src/config/env.js';
import { peerText } from '../../src/observe/query-log.js';

t.test('parseUdpIo: auto, batch, dgram; empty or unset is auto; anything else names the variable', async (t) => {
  t.equal(parseUdpIo(undefined), 'auto');
  t.equal(parseUdpIo(''), 'auto');
  t.equal(parseUdpIo('auto'), 'auto');
  t.equal(parseUdpIo('batch'), 'batch');
  t.equal(parseUdpIo('dgram'), 'dgram');
  for (const bad of ['Batch', 'recvmmsg', ' dgram', 'native', '1']) {
    t.throws(() => parseUdpIo(bad), { message: /NODELOCALDNS_UDP_IO/ }, `"${bad}" rejected`);
    t.throws(() => parseUdpIo(bad), { message: new RegExp(`"${bad}"`) }, `"${bad}" quoted in the message`);
  }
});

t.test('peerText: numbers in host order become dotted quads, strings pass through', async (t) => {
  t.equal(peerText(0x7f000001), '127.0.0.1');
  t.equal(peerText(0xffffffff), '255.255.255.255');
  t.equal(peerText(0), '0.0.0.0');
  t.equal(peerText(0x0a600307), '10.96.3.7', 'octets in order, not reversed');
  // the batch listener hands over `int32 >>> 0`; a negative int32 (high bit set) must format the same
  t.equal(peerText(0xc0a80001 | 0), '192.168.0.1', 'an address with the high bit set, as a signed int32');
  t.equal(peerText('::1'), '::1');
  t.equal(peerText('fd00::3:7'), 'fd00::3:7');
  t.equal(peerText('127.1.2.3'), '127.1.2.3');
});
