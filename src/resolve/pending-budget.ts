// The agent-wide bound on queries waiting for an upstream. A blackholed upstream (accepts TCP,
// never answers) holds every miss until the client's deadline: at 2,000 distinct names a second
// and a 5 s deadline that is 10,000 pending queries, each with its question, race, tries and
// waiters, and node-cache (CoreDNS) grows from 20 MiB to over 1 GiB this way in the field. Past
// the bound a new miss is answered SERVFAIL at once (a stale answer where serve_stale has one),
// so memory stays bounded whatever the upstream does, and cached names keep being answered.

/** Default bound: a busy node misses a few thousand names a second at ~1 ms round trip, i.e. a
 * handful pending; 4,096 leaves room for slow upstreams and costs ~6 MiB when full. */
export const DEFAULT_MAX_PENDING = 4_096;

export class PendingBudget {
  /** Upstream queries pending now, over every block. */
  used = 0;
  /** Misses answered at once because the bound was reached. */
  shed = 0;
  /**
   * A lower bound in force while the agent is over its memory budget (agent/memory-guard.ts);
   * equal to `limit` otherwise.
   */
  squeezed: number;
  /** Of `shed`, those refused only because of `squeezed`, plus pending queries ended early by it. */
  shedByMemory = 0;
  /**
   * Called each time 128 more queries are pending (agent/memory-guard.ts samples RSS then): a
   * flood fills the bound in well under the guard's 250 ms period.
   */
  onGrowth: (() => void) | null = null;

  constructor(readonly limit: number = DEFAULT_MAX_PENDING) {
    this.squeezed = limit;
  }

  /** Take one slot for a new upstream query; false (and counted) when none is left. */
  take(): boolean {
    if (this.used >= this.squeezed) {
      this.shed++;
      if (this.used < this.limit) this.shedByMemory++;
      return false;
    }
    this.used++;
    if ((this.used & 127) === 0 && this.onGrowth !== null) this.onGrowth();
    return true;
  }

  release(): void {
    this.used--;
  }
}
