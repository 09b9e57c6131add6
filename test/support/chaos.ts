// One chaos scenario: a fault-injecting upstream (relaying to a real knot) listed first beside
// the healthy knot, an agent with the sequential policy (so every query meets the fault first)
// and no cache (so every query goes upstream), a bounded load, and the fault injected 1 s in.
import type { Test } from 'tap';
import type { ForwardConfig } from '../../src/config/types.js';
import { startTestAgent, type TestAgent } from './agent.js';
import { startFaultyUpstream, type FaultyUpstream } from './faulty-upstream.js';
import type { Knot } from './knot.js';
import { disruption, runLoad, type Disruption, type Sample } from './load.js';
import { randomLoopback, randomPort, sleep } from './net.js';

export interface ScenarioOptions {
  /** Called 1 s into the load; may keep changing the fault (flapping) until it resolves. */
  fault: (f: FaultyUpstream) => Promise<void>;
  loadMs?: number;
  /** false: the faulty upstream is the only one. */
  withHealthy?: boolean;
  forward?: Partial<ForwardConfig>;
  zone?: string; // default cluster.local. (forced TCP upstream); "." keeps the client's UDP
  slowMs?: number;
  workers?: number;
}

export interface ScenarioResult {
  faulty: FaultyUpstream;
  agent: TestAgent;
  before: Disruption; // the healthy second before the fault
  after: Disruption; // from the fault on
  samples: Sample[];
  faultAt: number;
}

export async function scenario(t: Test, knot: Knot, o: ScenarioOptions): Promise<ScenarioResult> {
  const faulty = await startFaultyUpstream(randomLoopback(), randomPort(), { host: knot.address, port: knot.port });
  t.teardown(() => faulty.close());
  const upstreams = [{ host: faulty.host, port: faulty.port }];
  if (o.withHealthy !== false) upstreams.push({ host: knot.address, port: knot.port });
  const agent = await startTestAgent({
    upstreams,
    zones: [o.zone ?? 'cluster.local.'],
    cache: null,
    forward: { policy: 'sequential', ...o.forward },
  });
  t.teardown(() => agent.stop());
  const load = runLoad(agent.host, agent.port, { durationMs: o.loadMs ?? 5_000, workers: o.workers ?? 4, gapMs: 20, timeoutMs: 5_000 });
  await sleep(1_000);
  const faultAt = Date.now();
  await o.fault(faulty);
  const samples = await load;
  const slowMs = o.slowMs ?? 300;
  return {
    faulty,
    agent,
    before: disruption(samples.filter((s) => s.startedAt < faultAt - 100), { slowMs }),
    after: disruption(samples, { since: faultAt - 100, slowMs }),
    samples,
    faultAt,
  };
}
