// Garbage collection as the agent's V8 reports it with `--trace-gc-nvp`: one line per GC with
// `pause=<ms>`, `gc=<s|ms|mc...>` and `allocated=<bytes since the previous GC>`. Summed over a
// phase this gives the bytes the JS heap allocated per answered query and every pause the
// clients waited through, without instrumenting the agent itself.
//
// The lines reach us through a pipe that V8's stdio buffers, so a window's edges are fuzzy by
// about one GC: with a 4 MiB semi-space and 400k queries a phase, that is ~10 bytes per query,
// which is why the figure is reported rounded to whole bytes and a phase lasts 10 s.

export const GC_TRACE_FLAGS = ['--trace-gc-nvp'];

/** Parse `--trace-gc-nvp` lines from `child`'s stdout into running totals; returns a window maker. */
export function watchGc(child) {
  const totals = { count: 0, allocated: 0, pauses: [] };
  let partial = '';
  child.stdout.on('data', (d) => {
    const text = partial + d.toString();
    const lines = text.split('\n');
    partial = lines.pop();
    for (const line of lines) {
      const pause = /\bpause=([\d.]+)/.exec(line);
      if (!pause) continue;
      totals.count++;
      const allocated = /\ballocated=(\d+)/.exec(line);
      if (allocated) totals.allocated += Number(allocated[1]);
      const kind = /\bgc=(\S+)/.exec(line)?.[1] ?? '?';
      // Only pauses are kept, and only in a window (below), so a long run stays bounded.
      if (totals.open) totals.pauses.push({ ms: Number(pause[1]), kind });
    }
  });
  return {
    /** Start a window; `end()` gives the GCs seen since: count, bytes allocated, pauses. */
    window() {
      const count0 = totals.count;
      const allocated0 = totals.allocated;
      totals.pauses = [];
      totals.open = true;
      return {
        end() {
          totals.open = false;
          const pauses = totals.pauses;
          return {
            count: totals.count - count0,
            allocatedBytes: totals.allocated - allocated0,
            pausesOver1ms: pauses.filter((p) => p.ms > 1).length,
            maxPauseMs: pauses.reduce((m, p) => Math.max(m, p.ms), 0),
            scavenges: pauses.filter((p) => p.kind === 's').length,
          };
        },
      };
    },
  };
}
