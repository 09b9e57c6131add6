// node-cache's rules as iptables-save prints them (PREROUTING's NOTRACK only while a socket of
// ours is bound), written out independently of src/node/rules.ts so a wrong generator cannot agree with itself. Lines are "table: rule" (see nodeCacheLines).
export function expectedRuleLines(ip: string, dnsPort = 53, healthPort = 8080): string[] {
  const host = ip.includes(':') ? `${ip}/128` : `${ip}/32`;
  const skip = '-m comment --comment "NodeLocal DNS Cache: skip conntrack" -j NOTRACK';
  const allow = '-m comment --comment "NodeLocal DNS Cache: allow DNS traffic" -j ACCEPT';
  const out: string[] = [];
  for (const p of ['tcp', 'udp']) {
    out.push(`raw: -A PREROUTING -d ${host} -p ${p} -m ${p} --dport ${dnsPort} -m socket ${skip}`);
    out.push(`filter: -A INPUT -d ${host} -p ${p} -m ${p} --dport ${dnsPort} ${allow}`);
    out.push(`raw: -A OUTPUT -s ${host} -p ${p} -m ${p} --sport ${dnsPort} ${skip}`);
    out.push(`filter: -A OUTPUT -s ${host} -p ${p} -m ${p} --sport ${dnsPort} ${allow}`);
    out.push(`raw: -A OUTPUT -d ${host} -p ${p} -m ${p} --dport ${dnsPort} ${skip}`);
  }
  out.push(`raw: -A OUTPUT -d ${host} -p tcp -m tcp --dport ${healthPort} ${skip}`);
  out.push(`raw: -A OUTPUT -s ${host} -p tcp -m tcp --sport ${healthPort} ${skip}`);
  return out;
}
