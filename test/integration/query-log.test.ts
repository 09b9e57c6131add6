// The `log` directive: an agent in a child process writes CoreDNS-format lines to its real
// stdout; the line for a known query (known client address, port, ID) matches exactly. A sink
// on a pipe nobody reads drops and counts instead of blocking. The `errors` directive logs
// upstream failures, or only counts them under `consolidate`.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';
import { Agent } from '../../src/agent/agent.js';
import { createLogger } from '../../src/observe/log.js';
import { QueryLogSink } from '../../src/observe/query-log.js';
import { clusterZone, knotMissing, startKnot } from '../support/knot.js';
import { encodeQuery, rawTcp, rawUdp } from '../support/dnsclient.js';
import { spawnAgentChild, testConfig } from '../support/agent.js';
import { randomLoopback, randomPort, sleep, until } from '../support/net.js';
import { scrape, sum } from '../support/prom.js';


/** Send `msg` over UDP from a socket bound to host:port; resolves with the reply. */
function udpFrom(host: string, port: number, to: string, toPort: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => (s.close(), reject(new Error('no reply'))), 3000);
    s.on('message', (m) => (clearTimeout(timer), s.close(), resolve(m)));
    s.bind(port, host, () => s.send(msg, toPort, to));
  });
}

function flagsOf(reply: Buffer): string {
  const d = packet.decode(reply) as unknown as Record<string, boolean>;
  return (['qr', 'aa', 'tc', 'rd', 'ra', 'z', 'ad', 'cd'] as const).filter((f) => d[`flag_${f}`]).join(',');
}

t.test('query log lines in CoreDNS format on stdout', { skip: knotMissing() }, async (t) => {
  const knot = await startKnot({ address: randomLoopback(), port: randomPort(), zones: { 'cluster.local': clusterZone({ ttl: 60 }) } });
  t.teardown(() => knot.stop());
  const host = randomLoopback();
  const port = randomPort();
  const metricsPort = randomPort();
  const config = testConfig({ upstreams: [{ host: knot.address, port: knot.port }], zones: ['cluster.local.', '.'], host, port, metricsPort });
  config.servers[0]!.log = { enabled: true }; // cluster.local. logs, "." does not
  const agent = await spawnAgentChild(t, config, true);
  t.ok(agent.ready, `child agent serving (${agent.stderr})`);

  const client = randomLoopback();
  const cases = [
    { name: 'Web.Prod.svc.CLUSTER.local', type: 'A', edns: 1232, do: false, bufsize: 1232, tcp: false },
    { name: 'web.prod.svc.cluster.local', type: 'A', edns: undefined, do: false, bufsize: 512, tcp: false }, // cache hit, no EDNS
    { name: 'nope.prod.svc.cluster.local', type: 'AAAA', edns: 4096, do: true, bufsize: 4096, tcp: false },
    { name: 'web.prod.svc.cluster.local', type: 'SPF', edns: 1232, do: false, bufsize: 65535, tcp: true },
  ];
  const expected: string[] = [];
  for (const c of cases) {
    const id = Math.floor(Math.random() * 65536);
    const msg = encodeQuery(c.name, c.type, { id, edns: c.edns, do: c.do });
    let reply: Buffer;
    let from = ''; // TCP: the kernel picks the source port; checked by pattern below
    if (c.tcp) reply = (await rawTcp(host, port, [msg]))[0]!;
    else {
      const clientPort = randomPort();
      reply = await udpFrom(client, clientPort, host, port, msg);
      from = `${client}:${clientPort}`;
    }
    const rcode = (packet.decode(reply) as { rcode?: string }).rcode ?? 'NOERROR';
    expected.push(`${from} - ${id} "${c.type} IN ${c.name.toLowerCase()}. ${c.tcp ? 'tcp' : 'udp'} ${msg.length} ${c.do} ${c.bufsize}" ${rcode} ${flagsOf(reply)} ${reply.length}`);
  }
  // A query to "." (no log directive there) must not produce a line.
  await rawUdp(host, port, encodeQuery('example.org', 'A'));
  await until(() => agent.stdout.split('\n').filter(Boolean).length >= cases.length, 5000);
  await sleep(200);
  const lines = agent.stdout.split('\n').filter(Boolean);
  t.equal(lines.length, cases.length, `one line per logged query, none for "." (${JSON.stringify(lines)})`);
  for (let i = 0; i < cases.length; i++) {
    const line = lines[i] ?? '';
    const want = expected[i]!;
    const m = /^(.*) (\d+(?:\.\d+)?)s$/.exec(line);
    t.ok(m, `line ends with a duration in seconds: ${line}`);
    const head = m?.[1] ?? '';
    if (cases[i]!.tcp) {
      const tcpFrom = /^\[INFO\] (127\.0\.0\.1:\d+) /.exec(head)?.[1];
      t.ok(tcpFrom, `tcp remote is 127.0.0.1:<port>: ${head}`);
      t.equal(head, `[INFO] ${tcpFrom}${want}`, `line ${i} (tcp)`);
    } else t.equal(head, `[INFO] ${want}`, `line ${i}`);
    t.ok(Number(m?.[2]) < 5, 'duration plausible');
  }
  const { exp } = await scrape(`http://${host}:${metricsPort}/metrics`);
  t.equal(sum(exp, 'nodelocaldns_query_log_dropped_total'), 0, 'nothing dropped on a pipe the test reads');
  t.equal(sum(exp, 'coredns_plugin_enabled', { zone: 'cluster.local.', name: 'log' }), 1, 'log plugin reported enabled');
  agent.child.kill('SIGTERM');
});

t.test('a sink nobody reads drops and counts instead of blocking', async (t) => {
  // A real pipe to a process that never reads its stdin: the kernel buffer fills, the rest waits.
  const sleeper = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => sleeper.kill('SIGKILL'));
  const sink = new QueryLogSink(sleeper.stdin, 256 << 10, 16 << 10);
  const line = `[INFO] 127.0.0.1:5353 - 1 "A IN ${'x'.repeat(150)}. udp 60 false 1232" NOERROR qr,rd,ra 80 0.0001s\n`;
  const total = 20_000; // ≈ 4 MB, far beyond the pipe buffer plus the 256 KiB allowance
  for (let i = 0; i < total; i++) {
    sink.write(line);
    if (i % 1000 === 0) await new Promise((r) => setImmediate(r)); // let flushes happen
  }
  t.ok(sink.dropped > 0, `lines dropped (${sink.dropped})`);
  t.equal(sink.written + sink.dropped, total, 'every line either queued or counted as dropped');
  t.ok(sink.written * line.length < 4 << 20, 'queued bytes stayed bounded');
});

t.test('errors directive: one line per failure, or consolidated', async (t) => {
  const run = async (consolidate: { periodMs: number; pattern: string }[]): Promise<{ lines: () => Record<string, unknown>[]; failures: number }> => {
    const lines: Record<string, unknown>[] = [];
    const host = randomLoopback();
    // Nothing listens upstream: every forward fails (connection refused) within the deadline.
    const config = testConfig({
      upstreams: [{ host: randomLoopback(), port: randomPort() }],
      zones: ['cluster.local.'],
      host,
      port: randomPort(),
      metricsPort: randomPort(),
      forward: { deadlineMs: 800, attemptTimeoutMs: 300, forceTcp: true },
    });
    config.servers[0]!.errors = { enabled: true, consolidate };
    const agent = new Agent({ log: createLogger('warn', (l) => lines.push(JSON.parse(l) as Record<string, unknown>)) });
    await agent.start(config);
    t.teardown(() => agent.stop());
    const port = config.servers[0]!.port;
    const names = ['a', 'b', 'c'].map((n) => `${n}${randomPort()}.svc.cluster.local`);
    const replies = await Promise.all(names.map((n) => rawUdp(host, port, encodeQuery(n, 'A'), 3000)));
    const failures = replies.filter((r) => r && packet.decode(r).rcode === 'SERVFAIL').length;
    return { lines: () => lines.filter((l) => l.plugin === 'errors'), failures };
  };

  const plain = await run([]);
  t.equal(plain.failures, 3, 'three SERVFAILs');
  t.equal(plain.lines().length, 3, 'one error line per failed query');
  for (const l of plain.lines()) t.match(String(l.msg), /^2 [a-c]\d+\.svc\.cluster\.local\. A: .+/, `CoreDNS errors format (numeric rcode): ${l.msg}`);

  const consolidated = await run([{ periodMs: 700, pattern: '.*' }]);
  t.equal(consolidated.failures, 3);
  t.equal(consolidated.lines().length, 0, 'nothing logged per query under consolidate');
  await sleep(900);
  t.same(consolidated.lines().map((l) => l.msg), ["3 errors like '.*' occurred in last 700ms"], 'one summary line after the period');
});
