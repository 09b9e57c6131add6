// node-cache's rule set, built without touching the kernel: count, order, comments, the
// `iptables -S` spelling used to count rules in a listing, IPv6 canonical forms.
import t from 'tap';
import { COMMENT_ALLOW, COMMENT_SKIP, countSaved, nodeCacheRules, unconditionalNotrack } from '../../src/node/rules.js';
import { canonicalIp, familyOf, hostPrefix, isLoopback } from '../../src/node/ipaddr.js';

t.test('twelve rules per local IP, node-cache order and comments', async (t) => {
  const rules = nodeCacheRules(['169.254.20.10', '10.96.0.10'], 53, 8080);
  t.equal(rules.length, 24);
  const first = rules.slice(0, 12);
  t.same(
    first.map((r) => `${r.table} ${r.chain} ${r.args.slice(0, 8).join(' ')}`),
    [
      'raw PREROUTING -p tcp -d 169.254.20.10 --dport 53 -m socket',
      'raw PREROUTING -p udp -d 169.254.20.10 --dport 53 -m socket',
      'filter INPUT -p tcp -d 169.254.20.10 --dport 53 -j ACCEPT',
      'filter INPUT -p udp -d 169.254.20.10 --dport 53 -j ACCEPT',
      'raw OUTPUT -p tcp -s 169.254.20.10 --sport 53 -j NOTRACK',
      'raw OUTPUT -p udp -s 169.254.20.10 --sport 53 -j NOTRACK',
      'filter OUTPUT -p tcp -s 169.254.20.10 --sport 53 -j ACCEPT',
      'filter OUTPUT -p udp -s 169.254.20.10 --sport 53 -j ACCEPT',
      'raw OUTPUT -p tcp -d 169.254.20.10 --dport 53 -j NOTRACK',
      'raw OUTPUT -p udp -d 169.254.20.10 --dport 53 -j NOTRACK',
      'raw OUTPUT -p tcp -d 169.254.20.10 --dport 8080 -j NOTRACK',
      'raw OUTPUT -p tcp -s 169.254.20.10 --sport 8080 -j NOTRACK',
    ],
  );
  for (const r of rules) {
    const comment = r.args[r.args.indexOf('--comment') + 1];
    t.equal(comment, r.args.includes('NOTRACK') ? COMMENT_SKIP : COMMENT_ALLOW, r.saved);
    t.equal(r.args.includes('socket'), r.chain === 'PREROUTING', `${r.saved}: only PREROUTING (pods) depends on our socket`);
  }
  t.ok(rules.slice(12).every((r) => r.args.includes('10.96.0.10')));
});

t.test('saved form is what iptables -S prints', async (t) => {
  const [r] = nodeCacheRules(['169.254.20.10'], 5300, 8080);
  t.equal(r!.saved, '-A PREROUTING -d 169.254.20.10/32 -p tcp -m tcp --dport 5300 -m socket -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j NOTRACK');
  const v6 = nodeCacheRules(['FD00:0:0::A'], 53, 8080);
  t.equal(v6[0]!.family, 6);
  t.match(v6[0]!.saved, /-d fd00::a\/128 /);
});

t.test('node-cache\'s unconditional NOTRACK pair, to delete, is not one of ours', async (t) => {
  const stale = unconditionalNotrack(['169.254.20.10'], 53);
  t.same(stale.map((r) => r.saved), ['tcp', 'udp'].map((p) => `-A PREROUTING -d 169.254.20.10/32 -p ${p} -m ${p} --dport 53 -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j NOTRACK`));
  const ours = new Set(nodeCacheRules(['169.254.20.10'], 53, 8080).map((r) => r.saved));
  t.notOk(stale.some((r) => ours.has(r.saved)));
});

t.test('countSaved counts duplicates and ignores other lines', async (t) => {
  const rules = nodeCacheRules(['169.254.20.10'], 53, 8080);
  const listing = ['-P PREROUTING ACCEPT', rules[0]!.saved, rules[0]!.saved, rules[1]!.saved + '  ', '-A PREROUTING -j KUBE-X', ''].join('\n');
  const c = countSaved(listing, rules);
  t.equal(c.get(rules[0]!.saved), 2);
  t.equal(c.get(rules[1]!.saved), 1);
  t.equal(c.get(rules[2]!.saved), 0);
});

t.test('address helpers', async (t) => {
  t.equal(familyOf('10.0.0.1'), 4);
  t.equal(familyOf('fd00::1'), 6);
  t.throws(() => familyOf('kube-dns'), RangeError);
  t.equal(canonicalIp('fd00:0000::0010'), 'fd00::10');
  t.equal(hostPrefix('fd00::1'), '/128');
  t.equal(hostPrefix('1.2.3.4'), '/32');
  t.ok(isLoopback('127.0.0.9'));
  t.ok(isLoopback('0:0::1'));
  t.notOk(isLoopback('169.254.20.10'));
});
