// Round-trip estimate of one upstream, and the hedge delay it gives: how long a query may go
// unanswered before the forwarder sends it again on another connection (behind a ClusterIP,
// another connection may reach another CoreDNS endpoint: kube-proxy DNATs per connection).
// The estimator is TCP's retransmission timer (RFC 6298 §2): srtt + 4 × rttvar covers the
// answers of a healthy upstream, so a copy sent past it is a cheap bet, not a doubled load.

/**
 * Floor of the hedge delay. A cluster.local answer from CoreDNS takes well under 1 ms, but a
 * name CoreDNS forwards to the cloud resolver takes 10-200 ms; a floor of 100 ms keeps those
 * from being sent twice while a silent endpoint still costs a tenth of a second, not the 2 s
 * client timeout that failed half the lookups after a replica went quiet.
 */
export const HEDGE_MIN_MS = 100;
/** Ceiling, and the delay before any answer was seen (RFC 6298's initial RTO is 1 s too). */
export const HEDGE_MAX_MS = 1_000;

export class RttEstimator {
  /** Smoothed round trip and its mean deviation, in ms; srtt < 0 until the first sample. */
  srtt = -1;
  rttvar = 0;

  observe(ms: number): void {
    if (this.srtt < 0) {
      this.srtt = ms;
      this.rttvar = ms / 2;
      return;
    }
    // RFC 6298 §2.3: alpha 1/8, beta 1/4.
    this.rttvar += (Math.abs(this.srtt - ms) - this.rttvar) / 4;
    this.srtt += (ms - this.srtt) / 8;
  }

  /** Wait this long for an answer before hedging (doubled per hedge already sent, as RTO backs off). */
  hedgeDelayMs(hedges: number): number {
    const base = this.srtt < 0 ? HEDGE_MAX_MS : Math.min(HEDGE_MAX_MS, Math.max(HEDGE_MIN_MS, this.srtt + 4 * this.rttvar));
    return Math.min(HEDGE_MAX_MS, base * 2 ** hedges);
  }
}
