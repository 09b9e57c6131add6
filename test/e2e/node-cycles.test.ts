// 100 install/teardown cycles (a DaemonSet pod restarting, a rolling update, an HA pair taking
// turns): every install leaves node-cache's rules exactly once, every teardown leaves nothing —
// no leftover rule, address or link, no duplicate accumulating across cycles.
import t from 'tap';
import { NodeSetup, type SetupErrorType } from '../../src/node/setup.js';
import { silentLogger } from '../../src/observe/log.js';
import { makeNetns, netnsMissing, nodeCacheLines, nsh } from '../support/netns.js';
import { expectedRuleLines } from '../support/node-rules-expected.js';

const missing = netnsMissing();
if (missing) t.plan(0, `skipping node cycles e2e: ${missing}`);

const CYCLES = 100;
// ≈ 90 ip/iptables runs per cycle: well over the default 120 s per file on a busy 2-core box.
t.setTimeout(900_000);

t.test(`${CYCLES} install/teardown cycles leave nothing behind`, { timeout: 900_000 }, async (t) => {
  const ns = makeNetns(t, 'cyc');
  const want = JSON.stringify([...expectedRuleLines('169.254.20.10'), ...expectedRuleLines('10.96.0.10')].sort());
  const errors: SetupErrorType[] = [];
  let badInstall = 0;
  let badTeardown = 0;
  const started = Date.now();
  for (let i = 0; i < CYCLES; i++) {
    // A new instance each cycle, as a restarted agent would be.
    const s = new NodeSetup({
      localIps: ['169.254.20.10', '10.96.0.10'], interfaceName: 'nodelocaldns', setupInterface: true, setupIptables: true,
      dnsPort: 53, healthPort: 8080, syncIntervalMs: 60_000, iptablesBackend: 'auto', log: silentLogger,
      onSetupError: (e) => errors.push(e), netns: ns,
    });
    await s.ensureInterface();
    await s.installRules();
    s.startSync();
    if (JSON.stringify(nodeCacheLines(ns, 'iptables-nft-save').sort()) !== want) badInstall++;
    await s.teardown();
    const leftRules = nodeCacheLines(ns, 'iptables-nft-save').length;
    const leftLink = nsh(ns, ['ip', 'link', 'show', 'nodelocaldns'], false).code === 0;
    if (leftRules > 0 || leftLink) badTeardown++;
  }
  t.comment(`${CYCLES} cycles in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  t.equal(badInstall, 0, 'every install had each rule exactly once');
  t.equal(badTeardown, 0, 'every teardown left no rule and no link');
  t.same(errors, []);
  t.same(nodeCacheLines(ns, 'iptables-nft-save'), []);
  t.same(nodeCacheLines(ns, 'iptables-legacy-save'), []);
  t.notMatch(nsh(ns, ['ip', '-o', 'addr']).out, /169\.254\.20\.10|10\.96\.0\.10/, 'no address anywhere');
});
