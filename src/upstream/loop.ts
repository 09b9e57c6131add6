// Forwarding-loop detection at start (CoreDNS `loop`): each block with `loop` sends
// `HINFO <random>.<random>.<zone>` through its forwarder. A query we forwarded that reaches one of
// our forwarders again came back to us: an upstream forwards to this agent. More than two such
// returns stops the agent with a message saying what to fix.
//
// Why probes go through the forwarder and are counted there (not at the listener): the agent
// coalesces identical misses, so a looping name reaches a forwarder once per probe however often
// it circles; each of LOOP_PROBES distinct names therefore returns once, quickly, in a loop.
import { randomInt } from 'node:crypto';
import { TYPE_HINFO } from '../dns/constants.js';
import { buildQuery } from '../dns/query.js';
import { nameToWire } from '../dns/wire.js';
import { LoopError } from '../errors.js';
import type { Logger } from '../observe/log.js';
import type { Forwarder } from './forwarder.js';

export const LOOP_PROBES = 3;
/** Start is held back at most this long; a loop on a local path shows within milliseconds. */
export const LOOP_BUDGET_MS = 1_000;

export interface LoopTarget {
  zone: string; // the block's first zone, lowercase, trailing dot
  forwarder: Forwarder;
}

export function probeName(zone: string): string {
  const label = (): string => String(randomInt(1, 2 ** 47));
  return `${label()}.${label()}.${zone === '.' ? '' : zone}`;
}

export async function detectLoop(targets: LoopTarget[], log: Logger, budgetMs = LOOP_BUDGET_MS): Promise<void> {
  if (targets.length === 0) return;
  const probes = new Map<string, { target: LoopTarget; seen: number }>(); // wire name (latin1) →
  for (const target of targets)
    for (let i = 0; i < LOOP_PROBES; i++) probes.set(nameToWire(probeName(target.zone)).toString('latin1'), { target, seen: 0 });
  let onLoop: (t: LoopTarget) => void = () => {};
  const looped = new Promise<LoopTarget>((resolve) => (onLoop = resolve));
  const returns = new Map<LoopTarget, number>();
  const hook = (qname: Buffer): void => {
    const p = probes.get(qname.toString('latin1'));
    if (!p) return;
    // The first time is our own send; every later one came back from an upstream.
    if (++p.seen < 2) return;
    const n = (returns.get(p.target) ?? 0) + 1;
    returns.set(p.target, n);
    if (n > 2) onLoop(p.target);
  };
  for (const t of targets) t.forwarder.onForward = hook;
  let budget: NodeJS.Timeout | undefined;
  let looping = false;
  try {
    const sent = [...probes].map(([key, p]) => {
      const qname = Buffer.from(key, 'latin1');
      return p.target.forwarder.forward({ qname, qtype: TYPE_HINFO, qclass: 1, query: buildQuery(qname, TYPE_HINFO, 1) }, false).then(
        () => null,
        () => null,
      );
    });
    const settled = Promise.all(sent).then(() => null);
    const timedOut = new Promise<null>((r) => (budget = setTimeout(() => r(null), budgetMs)));
    const loop = await Promise.race([looped, settled, timedOut]);
    if (loop) {
      const to = loop.forwarder.upstreams.map((u) => u.name).join(' ');
      const err = new LoopError(
        `forwarding loop detected: HINFO probes for zone "${loop.zone}" sent to ${to} came back to this agent ${returns.get(loop)} times. ` +
          `An upstream forwards to us: typically 127.0.0.53 (systemd-resolved) or this node's own address in the resolv.conf ` +
          `the "." block forwards to. Point "forward" at real upstream servers (e.g. a resolv.conf without local stub resolvers, -upstreamsvc).`,
      );
      // Unwind the circling probes now, while listeners can still answer, instead of at their
      // deadline; probes still in transit are refused on arrival until the agent stops.
      looping = true;
      for (const t of targets) {
        t.forwarder.onForward = (qname) => {
          if (probes.has(qname.toString('latin1'))) throw err;
        };
        t.forwarder.abortAll(err);
      }
      throw err;
    }
    log.debug('no forwarding loop', { zones: targets.map((t) => t.zone) });
  } finally {
    clearTimeout(budget);
    if (!looping) for (const t of targets) t.forwarder.onForward = null;
  }
}
