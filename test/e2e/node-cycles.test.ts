// Start/stop cycles in one process (a DaemonSet pod restarting, a rolling update, an HA pair
// taking turns): an Agent serving on loopback and a NodeSetup in a namespace, started and stopped
// together. Every install leaves node-cache's rules exactly once, every teardown leaves no rule,
// address or link, and after the cycles the process holds no more sockets, fds, timers or child
// processes than after the first one. The rule and link checks run every cycle (a leftover would
// be adopted, then removed, by the next cycle); the process-wide checks are batched at the end,
// where anything leaked per cycle has added up. The real binary's signal paths: agent-cycles.
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { NodeSetup, type SetupErrorType } from '../../src/node/setup.js';
import { silentLogger } from '../../src/observe/log.js';
import { startTestAgent } from '../support/agent.js';
import { makeNetns, netnsMissing, nodeCacheLines, nsh } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';
import { sleep } from '../support/net.js';

const missing = netnsMissing();
if (missing) t.plan(0, `skipping node cycles e2e: ${missing}`);

// Ten cycles: a leak of one socket, fd or timer per cycle shows as nine; each cycle is ~90
// ip/iptables runs (~2 s here), so a hundred cost minutes and proved nothing more.
const CYCLES = 10;
t.setTimeout(300_000);

/** What this process holds that a cycle could leak: fds, libuv handles by type, children. */
function holdings(): { fds: number; resources: string[]; children: string } {
  const resources = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').sort();
  const children = readdirSync('/proc/self/task').map((tid) => readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim()).join(' ').trim();
  return { fds: readdirSync('/proc/self/fd').length, resources, children };
}

t.test(`${CYCLES} start/stop cycles leave nothing behind`, async (t) => {
  const ns = makeNetns(t, 'cyc');
  const want = JSON.stringify([...expectedRuleLines('169.254.20.10'), ...expectedRuleLines('10.96.0.10')].sort());
  const errors: SetupErrorType[] = [];
  const problems: string[] = [];
  let afterFirst: ReturnType<typeof holdings> | null = null;
  const started = Date.now();
  for (let i = 0; i < CYCLES; i++) {
    // New instances each cycle, as a restarted agent would make.
    const agent = await startTestAgent({ upstreams: [{ host: '127.0.0.1', port: 9 }] });
    const s = new NodeSetup({
      localIps: ['169.254.20.10', '10.96.0.10'], interfaceName: 'nodelocaldns', setupInterface: true, setupIptables: true,
      dnsPort: 53, healthPort: 8080, syncIntervalMs: 60_000, iptablesBackend: 'auto', log: silentLogger,
      onSetupError: (e) => errors.push(e), netns: ns,
    });
    await s.ensureInterface();
    await s.installRules();
    s.startSync();
    if (JSON.stringify(nodeCacheLines(ns, 'iptables-nft-save').sort()) !== want) problems.push(`cycle ${i}: rules not exactly once`);
    await s.teardown();
    await agent.stop();
    const leftRules = nodeCacheLines(ns, 'iptables-nft-save').length;
    if (leftRules > 0) problems.push(`cycle ${i}: ${leftRules} rules left`);
    if (nsh(ns, ['ip', 'link', 'show', 'nodelocaldns'], false).code === 0) problems.push(`cycle ${i}: link left`);
    if (i === 0) {
      await sleep(200); // closes that complete on the next turns of the loop
      afterFirst = holdings();
    }
  }
  t.comment(`${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.same(problems, [], 'every install had each rule exactly once; every teardown left no rule and no link');
  t.same(errors, []);
  t.same(nodeCacheLines(ns, 'iptables-nft-save'), []);
  t.same(nodeCacheLines(ns, 'iptables-legacy-save'), []);
  t.notMatch(nsh(ns, ['ip', '-o', 'addr']).out, /169\.254\.20\.10|10\.96\.0\.10/, 'no address anywhere');
  await sleep(200);
  const end = holdings();
  t.equal(end.fds, afterFirst!.fds, `open fds after ${CYCLES} cycles = after the first`);
  t.same(end.resources, afterFirst!.resources, 'the same sockets, timers and handles as after the first cycle');
  t.equal(end.children, '', 'no ip/iptables child process left');
});
