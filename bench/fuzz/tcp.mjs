// DNS over TCP framing abuse (RFC 7766 §8: two-octet length prefix): zero, short and oversized
// prefixes, a frame split across writes, several frames in one write, a prefix and then silence
// cut by a close. Each connection carries a few frames and is closed by the harness.
import { connect } from 'node:net';
import { mutated, structured } from './mutate.mjs';
import { u16 } from './corpus.mjs';

function frame(payload) {
  return Buffer.concat([u16(payload.length), payload]);
}

/** The writes of one connection, as a list of buffers (each written separately). */
export function tcpScript(rng) {
  const writes = [];
  for (let i = 1 + rng.int(6); i > 0; i--) {
    const payload = rng.int(2) === 0 ? mutated(rng) : structured(rng);
    const kind = rng.int(6);
    if (kind === 0) writes.push(u16(0)); // zero-length frame
    else if (kind === 1) writes.push(Buffer.concat([u16(payload.length + 1 + rng.int(300)), payload])); // prefix longer than the data: the rest never comes
    else if (kind === 2) writes.push(Buffer.concat([u16(0xffff), payload])); // oversized
    else if (kind === 3) {
      const f = frame(payload);
      const cut = rng.int(f.length + 1);
      writes.push(f.subarray(0, cut), f.subarray(cut)); // split, first write may be one octet of the prefix
    } else if (kind === 4) writes.push(Buffer.concat([frame(payload), frame(mutated(rng))])); // two frames, one write
    else writes.push(frame(payload));
    if (kind === 1 || kind === 2) break; // the stream is out of step now: nothing after it is a frame
  }
  return writes;
}

/** Run one script; resolves once the connection is closed. `sent` counts the frames written. */
export function runTcpScript(host, port, writes) {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let replies = 0;
    s.on('data', (d) => (replies += d.length));
    s.on('error', () => {});
    const done = () => {
      clearTimeout(guard);
      resolve(replies);
    };
    s.once('close', done);
    const guard = setTimeout(() => s.destroy(), 2000);
    s.once('connect', async () => {
      for (const w of writes) {
        if (s.destroyed) break;
        s.write(w);
        await new Promise((r) => setImmediate(r));
      }
      // Give the agent a moment to answer whole frames, then close from our side.
      setTimeout(() => s.end(), 20);
      setTimeout(() => s.destroy(), 300);
    });
  });
}
