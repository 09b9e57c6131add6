// `nodelocaldns doctor`: the node's DNS checked the way operators check it by hand, read only.
// Every step has its own budget, so one hung command or silent server costs its check, not the run.
import { FlagError } from '../errors.js';
import { checkAgent, agentListening } from './check-agent.js';
import { checkConntrack } from './check-conntrack.js';
import { checkBigAnswer, checkLocalIps, checkUpstreams, probeLocalIps, probeUpstreams } from './check-dns.js';
import { checkLoop } from './check-loop.js';
import { checkKubeProxy, checkRules, setupInPlace } from './check-node.js';
import { checkPodResolv } from './check-pod-resolv.js';
import { udpListeners } from './listeners.js';
import { readNodeFacts, type NodeFacts } from './node-facts.js';
import { DOCTOR_USAGE, makePlan, type Plan } from './plan.js';
import { exitCode, formatJson, formatText, makeReport } from './report.js';
import { result, type CheckResult } from './types.js';

/** A step's result, or `onTimeout` once ms pass (the step keeps nothing open that outlives its own timeout). */
function within<T>(p: Promise<T>, ms: number, onTimeout: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((r) => (timer = setTimeout(() => r(onTimeout), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function runChecks(plan: Plan): Promise<CheckResult[]> {
  const budget = plan.timeoutMs * 2 + 500;
  const unreadable = new Error(`no answer from iptables-save / ip within ${budget} ms`);
  const timedOutFacts: NodeFacts = { backend: 'nft', saved: { 4: unreadable, 6: unreadable }, addrs: unreadable };
  const [facts, local, upstream, conntrack] = await Promise.all([
    within(readNodeFacts(plan.flags, budget), budget, timedOutFacts),
    probeLocalIps(plan),
    probeUpstreams(plan),
    checkConntrack('/proc', undefined, budget),
  ]);
  const listening = agentListening(plan, udpListeners(plan.port));
  const agentUp = listening.length > 0;
  const inPlace = setupInPlace(plan.flags, facts);
  const upstreams = checkUpstreams(plan, upstream);
  const big = await within(checkBigAnswer(plan, agentUp, upstreams.status === 'ok'), budget,
    result('big-answer', 'fail', `no result within ${budget} ms`, `dig @${plan.localIps[0]} ${plan.bigName}`));
  return [
    checkAgent(plan, listening, local, inPlace),
    checkLocalIps(plan, local, agentUp),
    checkRules(plan.flags, facts, inPlace, agentUp),
    conntrack,
    checkKubeProxy(plan.flags, facts),
    upstreams,
    big,
    checkLoop(plan),
    checkPodResolv(plan.podResolv, plan.localIps, plan.flags.dnsDomain),
  ];
}

export async function runDoctor(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.includes('-h') || argv.includes('-help') || argv.includes('--help')) {
    process.stdout.write(DOCTOR_USAGE);
    return 0;
  }
  let plan: Plan;
  try {
    plan = makePlan(argv, env);
  } catch (err) {
    // Bad arguments exit 2 as the agent's; a configuration the agent would refuse is a finding: 1.
    const usage = err instanceof FlagError;
    process.stderr.write(`nodelocaldns doctor: ${(err as Error).message}\n${usage ? DOCTOR_USAGE : ''}`);
    return usage ? 2 : 1;
  }
  const t0 = Date.now();
  const report = makeReport(await runChecks(plan), Date.now() - t0);
  process.stdout.write(plan.json ? formatJson(report) : formatText(report));
  return exitCode(report);
}
