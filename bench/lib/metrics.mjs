// The agent's own cache counters from /metrics, to show a "hit" phase really was served from
// the cache (the C servers have no comparable endpoint here, so this is for the agent only).

function sumOf(text, metric) {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(metric + '{') || line.startsWith(metric + ' ')) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** { hits, misses } from coredns_cache_*_total at http://address/metrics, or undefined. */
export async function cacheCounters(address) {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(3000) });
    const text = await res.text();
    return { hits: sumOf(text, 'coredns_cache_hits_total'), misses: sumOf(text, 'coredns_cache_misses_total') };
  } catch {
    return undefined;
  }
}
