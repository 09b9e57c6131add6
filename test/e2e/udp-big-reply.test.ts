// A UDP reply longer than the link's MTU, from the agent in a node namespace to a pod namespace
// over a veth (MTU 1500): the client asked with a 4096-byte EDNS buffer, so the whole ~2 KB
// answer must arrive, fragmented, on a miss (sent alone) and on a hit (sent in a batch). The
// batch I/O sends IPv4 replies with DF set and sends one that does not fit again without it
// (src/native/udp_batch.c); a reply lost there, or cut to TC, fails here. The node namespace's
// fragment counter shows the replies were fragmented by the kernel, as node:dgram's are.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { makeMiniCluster } from '../support/cluster-netns.js';
import { knotMissing } from '../support/knot.js';
import { until } from '../support/net.js';
import { netnsMissing, nsh } from '../support/netns.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const skip = netnsMissing() || knotMissing() || (existsSync(cli) ? false : 'dist/cli.js not built (npx tsc -p tsconfig.json)');
if (skip) t.plan(0, `skipping big UDP reply e2e: ${skip}`);
t.setTimeout(240_000);

/** Fragments the node namespace's IP layer has made so far. */
function fragCreates(ns: string, v6: boolean): number {
  if (v6) {
    const m = /^Ip6FragCreates\s+(\d+)/m.exec(nsh(ns, ['cat', '/proc/net/snmp6']).out);
    return Number(m?.[1] ?? NaN);
  }
  const lines = nsh(ns, ['cat', '/proc/net/snmp']).out.split('\n').filter((l) => l.startsWith('Ip:'));
  const names = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[names.indexOf('FragCreates')]);
}

for (const io of ['batch', 'dgram'] as const) {
  for (const v6 of [false, true]) {
    t.test(`${io} I/O, ${v6 ? 'IPv6' : 'IPv4'}: a 2 KB answer over a 1500-byte link arrives whole, on a miss and on a hit`, async (t) => {
      const c = await makeMiniCluster(t, v6);
      const agent = spawn('ip', ['netns', 'exec', c.node, process.execPath, cli,
        '-localip', c.localIp, '-upstream', `${v6 ? `[${c.knot.address}]` : c.knot.address}:53`,
        '-health-port', '8080', '-prometheus-listen-address', '127.0.0.1:9253', '-metrics-listen-address', '127.0.0.1:9353'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODELOCALDNS_UDP_IO: io } });
      let stderr = '';
      agent.stderr!.on('data', (d) => (stderr += d));
      t.teardown(() => { if (agent.exitCode === null) agent.kill('SIGKILL'); });
      t.ok(await until(() => /iptables rules installed/.test(stderr), 30_000), `agent serving (log: ${stderr.slice(-400)})`);
      t.match(stderr, io === 'batch' ? /"udpIo":"batch/ : /"udpIo":"dgram/, `serving on the ${io} I/O`);

      const frags0 = fragCreates(c.node, v6);
      for (const what of ['miss', 'hit']) {
        // +ignore: a TC reply is shown as it came, not retried over TCP.
        const r = nsh(c.pod, ['dig', '+bufsize=4096', '+ignore', '+notcp', '+tries=1', '+time=3', `@${c.localIp}`, 'big.prod.svc.cluster.local', 'A'], false);
        const answers = r.out.split('\n').filter((l) => /^big\.prod\.svc\.cluster\.local\.\s+\d+\s+IN\s+A\s/.test(l)).length;
        const flags = /;; flags: ([^;]*);/.exec(r.out)?.[1] ?? '(no reply)';
        t.equal(answers, 120, `${what}: all 120 records (dig: ${r.out.split('\n').find((l) => l.includes('timed out') || l.includes('status:')) ?? r.out.slice(0, 200)})`);
        t.notMatch(flags, /\btc\b/, `${what}: not truncated (flags: ${flags})`);
      }
      const frags = fragCreates(c.node, v6) - frags0;
      t.ok(frags >= 4, `both replies left as fragments (${frags} fragments made in the node namespace)`);
    });
  }
}
