// The link-local fail-open's pieces on given text: kube-dns's endpoints read from a real-shaped
// `iptables-save -t nat` (kube-proxy's layout, written by test support as kube-proxy writes it),
// the chain that spreads over them, and the hooks as `iptables -S` prints them.
import t from 'tap';
import { failOpenHooks, failOpenRestore, kubeDnsEndpoints, FAILOPEN_CHAIN } from '../../src/node/failopen.js';
import { natTable } from '../support/kube-proxy.js';

const kubeDns = {
  namespace: 'kube-system',
  name: 'kube-dns',
  clusterIp: '10.96.0.10',
  ports: [{ name: 'dns', protocol: 'udp' as const, port: 53 }, { name: 'dns-tcp', protocol: 'tcp' as const, port: 53 }, { name: 'metrics', protocol: 'tcp' as const, port: 9153 }],
  endpoints: ['10.244.0.2', '10.244.1.3'],
};
const other = { namespace: 'default', name: 'web', clusterIp: '10.96.5.5', ports: [{ name: 'dns', protocol: 'udp' as const, port: 53 }], endpoints: ['10.244.9.9'] };

t.test('kube-dns endpoints from kube-proxy chains, per protocol, only for the local ClusterIP', async (t) => {
  const save = natTable([other, kubeDns]);
  t.same(kubeDnsEndpoints(save, ['10.96.0.10'], 53), { udp: ['10.244.0.2:53', '10.244.1.3:53'], tcp: ['10.244.0.2:53', '10.244.1.3:53'] });
  t.same(kubeDnsEndpoints(save, ['10.96.7.7'], 53), { udp: [], tcp: [] }, 'a ClusterIP kube-proxy does not serve: nothing');
  t.same(kubeDnsEndpoints(natTable([{ ...kubeDns, endpoints: [] }]), ['10.96.0.10'], 53), { udp: [], tcp: [] }, 'no endpoints: nothing');
  t.same(kubeDnsEndpoints('', ['10.96.0.10'], 53), { udp: [], tcp: [] }, 'IPVS or nftables mode (no chains): nothing');
});

t.test('the chain spreads at random over the endpoints as kube-proxy does; the hooks as iptables -S prints them', async (t) => {
  const text = failOpenRestore({ udp: ['10.244.0.2:53', '10.244.1.3:53'], tcp: ['10.244.0.2:53'] });
  t.same(text.split('\n'), [
    '*nat',
    `:${FAILOPEN_CHAIN} - [0:0]`,
    `-A ${FAILOPEN_CHAIN} -p udp -m statistic --mode random --probability 0.50000000000 -j DNAT --to-destination 10.244.0.2:53`,
    `-A ${FAILOPEN_CHAIN} -p udp -j DNAT --to-destination 10.244.1.3:53`,
    `-A ${FAILOPEN_CHAIN} -p tcp -j DNAT --to-destination 10.244.0.2:53`,
    'COMMIT',
    '',
  ]);
  const hooks = failOpenHooks(['169.254.20.10'], 53);
  t.same(hooks.map((h) => [h.table, h.chain]), [['nat', 'PREROUTING'], ['nat', 'PREROUTING']]);
  t.equal(hooks[1]!.saved, `-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -m comment --comment "nodelocaldns fail-open: to kube-dns while no agent runs" -j ${FAILOPEN_CHAIN}`);
});
