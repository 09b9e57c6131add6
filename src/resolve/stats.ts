// Per (listener, zone) counters in typed arrays: the hot path only indexes and increments;
// metrics.ts turns them into CoreDNS's series at scrape time (no prom-client call per query).
import { CacheRequestStats } from '../cache/stats.js';
import { bucketIndex, DURATION_BUCKETS, DURATION_BUCKETS_MICROS, SIZE_BUCKETS } from '../observe/buckets.js';

/** qtypes CoreDNS labels by name (plugin/metrics/vars monitorType); everything else is "other". */
export const TYPE_LABELS: [number, string][] = [
  [1, 'A'], [2, 'NS'], [5, 'CNAME'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [28, 'AAAA'],
  [33, 'SRV'], [43, 'DS'], [46, 'RRSIG'], [47, 'NSEC'], [48, 'DNSKEY'], [50, 'NSEC3'], [65, 'HTTPS'],
  [251, 'IXFR'], [252, 'AXFR'], [255, 'ANY'],
];
const TYPE_OTHER = TYPE_LABELS.length;
export const N_TYPES = TYPE_LABELS.length + 1;
const TYPE_INDEX = new Uint8Array(65536).fill(TYPE_OTHER);
TYPE_LABELS.forEach(([t], i) => (TYPE_INDEX[t] = i));

export const PROTO_UDP = 0;
export const PROTO_TCP = 1;

export const PLUGIN_NONE = 0; // written by the server itself (FORMERR, NOTIMP, REFUSED…)
export const PLUGIN_CACHE = 1;
export const PLUGIN_FORWARD = 2;
export const PLUGIN_LABELS = ['', 'cache', 'forward'];
export const N_RCODES = 24; // 0..22 by value (extended ones included), slot 23 = anything else

/** Counters of one (listener, zone); the cache's request counters come with it (cache/stats.ts). */
export class ZoneStats extends CacheRequestStats {
  /** [proto][family][type] */
  readonly requests = new Float64Array(2 * 2 * N_TYPES);
  /** [rcode][plugin] */
  readonly responses = new Float64Array(N_RCODES * PLUGIN_LABELS.length);
  readonly duration = new Float64Array(DURATION_BUCKETS.length + 1); // last = +Inf only
  durationSum = 0;
  /** [proto][bucket] */
  readonly requestSize = new Float64Array(2 * (SIZE_BUCKETS.length + 1));
  readonly requestSizeSum = new Float64Array(2);
  readonly responseSize = new Float64Array(2 * (SIZE_BUCKETS.length + 1));
  readonly responseSizeSum = new Float64Array(2);
  doRequests = 0;
  /** Upstream resolutions started by this zone's misses (one per coalesced key, retries included). */
  readonly forwardDuration = new Float64Array(DURATION_BUCKETS.length + 1);
  forwardDurationSum = 0;
  forwardFailures = 0;

  request(proto: number, family: number, qtype: number, size: number, dnssecOk: boolean): void {
    this.requests[(proto * 2 + family) * N_TYPES + TYPE_INDEX[qtype]!]!++;
    const b = proto * (SIZE_BUCKETS.length + 1) + bucketIndex(SIZE_BUCKETS, size);
    this.requestSize[b]!++;
    this.requestSizeSum[proto]! += size;
    if (dnssecOk) this.doRequests++;
  }

  /**
   * `micros`: the request's duration in whole microseconds. An integer crosses the call as a
   * small integer; a fractional number of seconds would be boxed on the heap for every answer.
   */
  response(proto: number, rcode: number, plugin: number, size: number, micros: number): void {
    this.answered(proto, rcode, plugin, size);
    this.timed(micros);
  }

  /** A response's counts but its duration, which comes later (`timed`, ReplySink.sendWritten). */
  answered(proto: number, rcode: number, plugin: number, size: number): void {
    this.responses[(rcode < N_RCODES - 1 ? rcode : N_RCODES - 1) * PLUGIN_LABELS.length + plugin]!++;
    this.responseSize[proto * (SIZE_BUCKETS.length + 1) + bucketIndex(SIZE_BUCKETS, size)]!++;
    this.responseSizeSum[proto]! += size;
  }

  /** A request's duration in whole microseconds. */
  timed(micros: number): void {
    this.duration[bucketIndex(DURATION_BUCKETS_MICROS, micros)]!++;
    this.durationSum += micros / 1e6;
  }
}

export function forwarded(s: ZoneStats, seconds: number, ok: boolean): void {
  s.forwardDuration[bucketIndex(DURATION_BUCKETS, seconds)]!++;
  s.forwardDurationSum += seconds;
  if (!ok) s.forwardFailures++;
}

/** Listener-level counters: what never reached a zone. */
export class ListenerStats {
  dropped = 0; // unreadable header, responses sent to us, a TCP frame cut short by the client's FIN
  formerr = 0;
  notimp = 0;
  refused = 0; // no zone of this listener covers the name
  tcpConnections = 0; // open now (a gauge)
  tcpRejected = 0; // over the connection limit
  constructor(readonly server: string) {}
}
