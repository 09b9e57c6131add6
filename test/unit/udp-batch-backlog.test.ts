// The batch addon's reading of a backlog: a readable event keeps reading while its batches come
// back full, up to READ_ROUNDS of them, so a queue that built up while the loop was busy is
// answered in one event-loop turn instead of one batch a turn; past the bound the loop gets its
// turn (timers, other sockets) and the rest follows. Real sockets on loopback: the addon's own
// listener, and a second addon socket as the client, whose sends are synchronous, so the whole
// backlog is queued before the loop next polls.
import t, { type Test } from 'tap';
import { nativeUdp, type NativeUdp } from '../../src/listen/native.js';
import { randomLoopback, randomPort } from '../support/net.js';

const { mod, why } = nativeUdp();
const skip = mod === null ? why : false;

interface Sock {
  handle: unknown;
  /** The sequence number (first 4 bytes) of every datagram read, in order. */
  got: number[];
  /** Datagrams read per JS call. */
  calls: number[];
}

/** An addon socket on host:port whose onBatch records what it read and, if `echo`, replies to each. */
function open(native: NativeUdp, host: string, port: number, echo: boolean): Sock {
  const inAB = new ArrayBuffer(native.BATCH * native.SLOT);
  const input = Buffer.from(inAB);
  const out = Buffer.alloc(64 * 1024);
  const meta = new Int32Array(native.META_INTS);
  const s: Sock = { handle: null, got: [], calls: [] };
  const onBatch = (count: number): number => {
    s.calls.push(count);
    let replies = 0;
    for (let i = 0; i < count; i++) {
      const len = meta[i * native.META_STRIDE]!;
      s.got.push(input.readUInt32BE(i * native.SLOT));
      if (!echo) continue;
      input.copy(out, replies * 16, i * native.SLOT, i * native.SLOT + len);
      const r = native.META_REPLIES + replies * 3;
      meta[r] = i;
      meta[r + 1] = replies * 16;
      meta[r + 2] = len;
      replies++;
    }
    return replies;
  };
  s.handle = native.open({}, host, port, 4, 4 << 20, onBatch, inAB, out.buffer, meta.buffer);
  return s;
}

/** Open both sockets on a fresh loopback address, retrying a port another test file holds. */
function pair(native: NativeUdp): { host: string; server: Sock; client: Sock; clientPort: number; serverPort: number } {
  for (let attempt = 0; ; attempt++) {
    const host = randomLoopback();
    const serverPort = randomPort();
    const clientPort = randomPort();
    try {
      const server = open(native, host, serverPort, true);
      try {
        return { host, server, client: open(native, host, clientPort, false), clientPort, serverPort };
      } catch (err) {
        native.close(server.handle);
        throw err;
      }
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

async function backlog(t: Test, n: number): Promise<void> {
  const native = mod!;
  const { host, server, client, serverPort } = pair(native);
  t.teardown(() => {
    native.close(server.handle);
    native.close(client.handle);
  });
  // Queue the backlog from a timer callback: the loop's next phase is the poll that reads it,
  // then the check phase, where an immediate set here sees what that one poll read.
  const refused: number[] = [];
  const firstTurn = await new Promise<number>((resolve) =>
    setTimeout(() => {
      const msg = Buffer.alloc(12);
      for (let i = 0; i < n; i++) {
        msg.writeUInt32BE(i, 0);
        const rc = native.sendTo(client.handle, msg, host, serverPort);
        if (rc !== 0) refused.push(rc);
      }
      setImmediate(() => resolve(server.got.length));
    }, 0),
  );
  t.same(refused, [], `all ${n} datagrams queued`);
  const bound = native.READ_ROUNDS * native.BATCH;
  const first = Math.min(n, bound);
  if (n <= bound) t.equal(firstTurn, n, `the whole backlog read in the first turn of the loop: ${firstTurn} of ${n}`);
  else t.equal(firstTurn, bound, `READ_ROUNDS batches read in the first turn of the loop: ${firstTurn} of ${n}, the rest left for the next`);
  const batches = Array.from({ length: Math.ceil(first / native.BATCH) }, (_, i) => Math.min(native.BATCH, first - i * native.BATCH));
  t.same(server.calls.slice(0, batches.length), batches, `one JS call a batch: ${batches.join(', ')}`);
  const deadline = Date.now() + 5000;
  while ((server.got.length < n || client.got.length < n) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.same(server.got, Array.from({ length: n }, (_, i) => i), 'every datagram read once, in the order sent');
  t.same(client.got, Array.from({ length: n }, (_, i) => i), 'every reply sent once, in order');
}

t.test('a backlog of three batches and a bit is read in one turn of the loop', { skip }, async (t) => {
  t.ok(mod!.READ_ROUNDS * mod!.BATCH >= 100, `the bound (${mod!.READ_ROUNDS} batches of ${mod!.BATCH}) holds 100`);
  await backlog(t, 100);
});
t.test('a backlog past READ_ROUNDS batches: the bound in the first turn, the rest after', { skip }, (t) => backlog(t, 300));
