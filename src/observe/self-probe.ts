// CoreDNS's health self-probe (plugin/health overloaded.go): once a second GET our own /health
// and record how long it took. A slow local answer means the event loop is overloaded, which is
// exactly what an operator wants on a dashboard. Published as coredns_health_request_*.
// node:http, not fetch(): the first fetch() compiles Node's bundled undici, about 90 ms of CPU on
// the event loop one second after the start (a CPU profile of the agent); lookups arriving then
// waited up to half a second (bench/incidents, the rollout scenario's first second).
import { get } from 'node:http';
import { bucketIndex, HEALTH_BUCKETS } from './buckets.js';

const PERIOD_MS = 1000;
const TIMEOUT_MS = 3000; // CoreDNS: 3 s client timeout

export class HealthStats {
  readonly duration = new Float64Array(HEALTH_BUCKETS.length + 1); // last = +Inf only
  durationSum = 0;
  failures = 0;

  observe(seconds: number): void {
    this.duration[bucketIndex(HEALTH_BUCKETS, seconds)]!++;
    this.durationSum += seconds;
  }
}

/** Probes `url` every second until stopped; failures (error, timeout, non-200) are counted. */
export class HealthProbe {
  private timer: NodeJS.Timeout | null = null;
  private inflight: AbortController | null = null;

  constructor(
    private readonly url: string,
    private readonly stats: HealthStats,
    private readonly onSlow: (what: string, fields: Record<string, unknown>) => void = () => {},
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), PERIOD_MS);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    if (this.inflight) return; // the previous probe is still waiting: it will count itself
    const ac = new AbortController();
    this.inflight = ac;
    const t = setTimeout(() => ac.abort(), TIMEOUT_MS);
    const start = performance.now();
    let ok = false;
    let error: unknown;
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = get(this.url, { signal: ac.signal }, (res) => {
          res.once('error', reject);
          res.once('end', () => resolve(res.statusCode ?? 0));
          res.resume();
        });
        req.once('error', reject);
      });
      ok = status === 200;
      if (!ok) error = `status ${status}`;
    } catch (err) {
      error = err;
    } finally {
      clearTimeout(t);
      this.inflight = null;
    }
    if (!this.timer) return; // stopped meanwhile: a probe cut short by shutdown is not a failure
    const seconds = (performance.now() - start) / 1000;
    this.stats.observe(seconds);
    if (!ok) {
      this.stats.failures++;
      this.onSlow('local health request failed', { url: this.url, err: error });
    } else if (seconds > 1) this.onSlow('local health request took more than 1s', { url: this.url, seconds });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.inflight?.abort();
  }
}
