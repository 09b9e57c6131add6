// Every supported directive, its options, CoreDNS's defaults and ranges, and its bad inputs.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { corefileFromText, type CorefileOptions } from '../../src/config/corefile/build.js';
import type { ServerBlockConfig } from '../../src/config/types.js';

/** One block `.:53 { <body> }` in a file called C; the body starts on line 2. */
function one(body: string, opts: CorefileOptions = {}): ServerBlockConfig {
  return corefileFromText(`.:53 {\n${body}\n}\n`, 'C', opts).servers[0]!;
}
function bad(t: Test, body: string, re: RegExp, opts: CorefileOptions = {}): void {
  t.throws(() => one(body, opts), { message: re }, body);
}

t.test('an empty block: everything off', async (t) => {
  const s = one('');
  t.same([s.cache, s.forward, s.reload, s.prometheus, s.health, s.ready], [null, null, null, null, null, null]);
  t.same([s.errors.enabled, s.log.enabled, s.loop, s.bind], [false, false, false, []]);
  t.equal(s.source, 'C:1');
});

t.test('errors', async (t) => {
  t.same(one('errors').errors, { enabled: true, consolidate: [] });
  t.same(one('errors stdout {\n consolidate 5m ".* i/o timeout$" warning\n consolidate 30s ^x\n}').errors.consolidate, [
    { periodMs: 300_000, pattern: '.* i/o timeout$' },
    { periodMs: 30_000, pattern: '^x' },
  ]);
  bad(t, 'errors /var/log/x', /^C:2: errors: only "stdout"/);
  bad(t, 'errors {\n stacktrace\n}', /^C:3: errors: unknown option "stacktrace"/);
  bad(t, 'errors {\n consolidate 5m\n}', /^C:3: consolidate: wrong argument count/);
  bad(t, 'errors {\n consolidate 0s x\n}', /^C:3: errors consolidate: the period must be positive/);
  bad(t, 'errors {\n consolidate 1m (\n}', /^C:3: errors consolidate: bad regular expression/);
  bad(t, 'errors {\n consolidate 1m x loud\n}', /^C:3: errors consolidate: level must be one of/);
});

t.test('cache: TTL and zones on the line', async (t) => {
  const d = one('cache').cache!;
  t.same([d.successCapacity, d.successMaxTtl, d.successMinTtl, d.denialCapacity, d.denialMaxTtl, d.denialMinTtl, d.servfailTtl], [9984, 3600, 5, 9984, 1800, 5, 5]);
  t.same([d.zones, d.prefetch, d.serveStale, d.keepTtl, d.disableSuccess, d.disableDenial], [[], null, null, false, false, false]);
  const c = one('cache 30 Example.COM example.org.').cache!;
  t.same([c.successMaxTtl, c.denialMaxTtl, c.zones], [30, 30, ['example.com.', 'example.org.']]);
  t.same(one('cache example.net').cache!.zones, ['example.net.'], 'a first argument that is not a number is a zone');
  bad(t, 'cache 0', /^C:2: cache TTL: 0 is out of range \[1,/);
  bad(t, 'cache -5', /^C:2: cache TTL: -5 is out of range/);
});

t.test('cache: success / denial CAP [TTL [MINTTL]]', async (t) => {
  const c = one('cache {\n success 9984 30\n denial 100 5 1\n}').cache!;
  t.same([c.successCapacity, c.successMaxTtl, c.successMinTtl], [9984, 30, 5]);
  t.same([c.denialCapacity, c.denialMaxTtl, c.denialMinTtl], [100, 5, 1]);
  t.equal(one('cache 60 {\n success 10\n}').cache!.successMaxTtl, 60, 'CAP alone keeps the line TTL');
  bad(t, 'cache {\n success\n}', /^C:3: success: wrong argument count: want 1 to 3, got 0/);
  bad(t, 'cache {\n success 0\n}', /^C:3: cache success capacity: 0 is out of range/);
  bad(t, 'cache {\n denial 10 0\n}', /^C:3: cache denial TTL: 0 is out of range/);
  bad(t, 'cache {\n denial 10 5 -1\n}', /^C:3: cache denial MINTTL: -1 is out of range/);
  bad(t, 'cache {\n success ten\n}', /^C:3: cache success capacity: not a whole number/);
  bad(t, 'cache {\n success 1 2 3 4\n}', /^C:3: success: wrong argument count/);
});

t.test('cache: prefetch, serve_stale, servfail, disable, keepttl', async (t) => {
  t.same(one('cache {\n prefetch 2\n}').cache!.prefetch, { amount: 2, durationMs: 60_000, percentage: 10 });
  t.same(one('cache {\n prefetch 5 10m 20%\n}').cache!.prefetch, { amount: 5, durationMs: 600_000, percentage: 20 });
  t.equal(one('cache {\n prefetch 0\n}').cache!.prefetch, null);
  bad(t, 'cache {\n prefetch 5 1m 20\n}', /^C:3: cache prefetch: last character of percentage should be `%`/);
  bad(t, 'cache {\n prefetch 5 1m 95%\n}', /^C:3: cache prefetch percentage: 95 is out of range \[10, 90\]/);
  bad(t, 'cache {\n prefetch 5 soon\n}', /^C:3: cache prefetch: not a duration/);
  bad(t, 'cache {\n prefetch -1\n}', /^C:3: cache prefetch amount: -1 is out of range/);
  t.same(one('cache {\n serve_stale\n}').cache!.serveStale, { durationMs: 3_600_000, mode: 'immediate' });
  t.same(one('cache {\n serve_stale 30m VERIFY\n}').cache!.serveStale, { durationMs: 1_800_000, mode: 'verify' });
  bad(t, 'cache {\n serve_stale 1h later\n}', /^C:3: cache serve_stale: invalid refresh mode "later"/);
  bad(t, 'cache {\n serve_stale -1h\n}', /^C:3: cache serve_stale: duration can not be negative/);
  t.equal(one('cache {\n servfail 0\n}').cache!.servfailTtl, 0);
  t.equal(one('cache {\n servfail 5m\n}').cache!.servfailTtl, 300);
  t.equal(one('cache {\n servfail 1500ms\n}').cache!.servfailTtl, 1.5);
  bad(t, 'cache {\n servfail 5m1s\n}', /^C:3: cache servfail: caching SERVFAIL responses over 5 minutes is not permitted/);
  bad(t, 'cache {\n servfail\n}', /^C:3: servfail: wrong argument count/);
  const dis = one('cache {\n disable success\n disable denial a.example\n}').cache!;
  t.same([dis.disableSuccess, dis.disableSuccessZones, dis.disableDenial, dis.disableDenialZones], [true, [], true, ['a.example.']]);
  bad(t, 'cache {\n disable both\n}', /^C:3: cache disable: cache type must be "success" or "denial"/);
  t.equal(one('cache {\n keepttl\n}').cache!.keepTtl, true);
  bad(t, 'cache {\n keepttl 5\n}', /^C:3: keepttl: wrong argument count: want 0/);
  bad(t, 'cache {\n shards 4\n}', /^C:3: cache: unknown option "shards"/);
  t.equal(one('cache\n').cache!.maxBytes, 64 * 1024 * 1024, 'byte budget: 64 MiB by default');
  t.equal(one('cache {\n max_bytes 536870912\n}').cache!.maxBytes, 536_870_912, 'max_bytes (ours)');
  bad(t, 'cache {\n max_bytes 100\n}', /^C:3: cache max_bytes: 100 is out of range \[1024, ∞\]/);
  bad(t, 'cache {\n max_bytes 1G\n}', /^C:3: cache max_bytes: not a whole number/);
});

t.test('reload', async (t) => {
  t.same(one('reload').reload, { intervalMs: 30_000, jitterMs: 15_000 });
  t.same(one('reload 10s').reload, { intervalMs: 10_000, jitterMs: 5_000 }, 'jitter cut to half the interval');
  t.same(one('reload 1m 5s').reload, { intervalMs: 60_000, jitterMs: 5_000 });
  bad(t, 'reload 1s', /^C:2: reload: interval value must be greater or equal to 2s/);
  bad(t, 'reload 10s 500ms', /^C:2: reload: jitter value must be greater or equal to 1s/);
  bad(t, 'reload 1m 2s 3s', /^C:2: reload: wrong argument count/);
});

t.test('loop and log', async (t) => {
  t.equal(one('loop').loop, true);
  bad(t, 'loop 3', /^C:2: loop: wrong argument count: want 0, got 1/);
  t.equal(one('log').log.enabled, true);
  t.equal(one('log .').log.enabled, true);
  bad(t, 'log example.org "{common}"', /^C:2: log: only "log"/);
  bad(t, 'log {\n class denial\n}', /^C:2: log: takes no \{ \} block/);
});

t.test('bind: IPs only, repeated binds merge', async (t) => {
  t.same(one('bind 169.254.20.10 10.96.0.10\nbind ::1 [fd00::a] 10.96.0.10').bind, ['169.254.20.10', '10.96.0.10', '::1', 'fd00::a']);
  bad(t, 'bind eth0', /^C:2: bind: "eth0" is not an IP address \(interface names are not supported\)/);
  bad(t, 'bind', /^C:2: bind: wrong argument count/);
  bad(t, 'bind 127.0.0.1 {\n except 127.0.0.2\n}', /^C:2: bind: the \{ except \.\.\. \} block is not supported/);
});

t.test('forward: upstreams', async (t) => {
  const f = one('forward . 192.0.2.1 dns://192.0.2.2:5353 [2001:db8::1]:53 2001:db8::2').forward!;
  t.equal(f.from, '.');
  t.same(f.to, [
    { host: '192.0.2.1', port: 53 },
    { host: '192.0.2.2', port: 5353 },
    { host: '2001:db8::1', port: 53 },
    { host: '2001:db8::2', port: 53 },
  ]);
  t.same([f.forceTcp, f.preferUdp, f.expireMs, f.maxFails, f.healthCheckMs, f.policy, f.maxConcurrent], [false, false, 10_000, 2, 500, 'random', 0]);
  t.equal(one('forward Cluster.Local 192.0.2.1').forward!.from, 'cluster.local.');
  const fifteen = Array.from({ length: 15 }, (_, i) => `192.0.2.${i + 1}`).join(' ');
  t.equal(one(`forward . ${fifteen}`).forward!.to.length, 15);
  bad(t, `forward . ${fifteen} 192.0.2.99`, /^C:2: forward: more than 15 upstreams configured \(16\)/);
  bad(t, 'forward .', /^C:2: forward: wrong argument count: want at least 2, got 1/);
  bad(t, 'forward . tls://192.0.2.1', /^C:2: forward: tls:\/\/ upstreams are not supported/);
  bad(t, 'forward . dns.example', /^C:2: forward: not an IP address or file: "dns.example"/);
  bad(t, 'forward . 192.0.2.1:0', /^C:2: forward: port 0/);
  bad(t, 'forward . __PILLAR__CLUSTER__DNS__', /^C:2: forward: __PILLAR__CLUSTER__DNS__ is an unsubstituted __PILLAR__ variable/);
});

t.test('forward: a resolv.conf-style file gives its nameservers', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'fwd-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  writeFileSync(join(d, 'resolv.conf'), '# node\nsearch example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\noptions ndots:5\n');
  writeFileSync(join(d, 'empty.conf'), 'search example\n');
  t.same(one(`forward . ${join(d, 'resolv.conf')} 192.0.2.9`).forward!.to, [
    { host: '192.0.2.53', port: 53 },
    { host: '2001:db8::53', port: 53 },
    { host: '192.0.2.9', port: 53 },
  ]);
  bad(t, `forward . ${join(d, 'empty.conf')}`, /^C:2: forward: no nameservers found in /);
  const seen: string[] = [];
  const viaCtx = one('forward . /etc/resolv.conf', { readFile: (p) => (seen.push(p), 'nameserver 198.51.100.1\n') }).forward!;
  t.same([seen, viaCtx.to], [['/etc/resolv.conf'], [{ host: '198.51.100.1', port: 53 }]], 'the file reader is injectable');
});

t.test('forward: options', async (t) => {
  const f = one([
    'forward . 192.0.2.1 {',
    ' except Internal.Example skip.example',
    ' force_tcp',
    ' expire 30s',
    ' max_fails 0',
    ' health_check 2s no_rec domain Health.Example',
    ' policy round_robin',
    ' max_concurrent 1000',
    '}',
  ].join('\n')).forward!;
  t.same(f.except, ['internal.example.', 'skip.example.']);
  t.same([f.forceTcp, f.expireMs, f.maxFails, f.healthCheckMs, f.healthCheckNoRec, f.healthCheckDomain, f.policy, f.maxConcurrent], [true, 30_000, 0, 2_000, true, 'health.example.', 'round_robin', 1000]);
  t.equal(one('forward . 192.0.2.1 {\n prefer_udp\n}').forward!.preferUdp, true);
  t.equal(one('forward . 192.0.2.1 {\n policy sequential\n}').forward!.policy, 'sequential');
  bad(t, 'forward . 192.0.2.1 {\n force_tcp\n prefer_udp\n}', /^C:2: forward: force_tcp and prefer_udp can not both be set/);
  bad(t, 'forward . 192.0.2.1 {\n tls\n}', /^C:3: forward: tls is not supported/);
  bad(t, 'forward . 192.0.2.1 {\n tls_servername dns.example\n}', /^C:3: forward: tls_servername is not supported/);
  bad(t, 'forward . 192.0.2.1 {\n policy fastest\n}', /^C:3: forward policy: unknown policy "fastest"/);
  bad(t, 'forward . 192.0.2.1 {\n max_fails -1\n}', /^C:3: forward max_fails: -1 is out of range/);
  bad(t, 'forward . 192.0.2.1 {\n max_concurrent lots\n}', /^C:3: forward max_concurrent: not a whole number/);
  bad(t, 'forward . 192.0.2.1 {\n expire -1s\n}', /^C:3: forward expire: duration can not be negative/);
  bad(t, 'forward . 192.0.2.1 {\n health_check 1s recursive\n}', /^C:3: forward health_check: unknown option "recursive"/);
  bad(t, 'forward . 192.0.2.1 {\n health_check 1s domain\n}', /^C:3: forward health_check: domain needs a name/);
  bad(t, 'forward . 192.0.2.1 {\n except\n}', /^C:3: except: wrong argument count/);
  bad(t, 'forward . 192.0.2.1 {\n next NXDOMAIN\n}', /^C:3: forward: unknown or unsupported option "next"/);
  bad(t, 'forward . 192.0.2.1 {\n force_tcp yes\n}', /^C:3: force_tcp: wrong argument count/);
});

t.test('prometheus, health (lameduck), ready', async (t) => {
  t.same(one('prometheus').prometheus, { host: '127.0.0.1', port: 9153 });
  t.same(one('prometheus :9253').prometheus, { host: '', port: 9253 });
  t.same(one('prometheus 169.254.20.10:9253').prometheus, { host: '169.254.20.10', port: 9253 });
  t.same(one('prometheus localhost:9999').prometheus, { host: '127.0.0.1', port: 9999 });
  bad(t, 'prometheus metrics.example:9253', /^C:2: prometheus: want \[HOST\]:PORT/);
  bad(t, 'prometheus :9253 :9254', /^C:2: prometheus: wrong argument count/);
  t.same(one('health').health, { host: '', port: 8080, lameduckMs: 0 });
  t.same(one('health 169.254.20.10:8080 {\n lameduck 5s\n}').health, { host: '169.254.20.10', port: 8080, lameduckMs: 5_000 });
  bad(t, 'health :8080 {\n lameduck\n}', /^C:3: lameduck: wrong argument count/);
  bad(t, 'health :8080 {\n lameduck soon\n}', /^C:3: health lameduck: not a duration/);
  bad(t, 'health :8080 {\n ttl 5s\n}', /^C:3: health: unknown option "ttl"/);
  bad(t, 'health 169.254.20.10 10.0.0.10:8080', /^C:2: health: wrong argument count/);
  bad(t, 'health :99999', /^C:2: health: want \[HOST\]:PORT/);
  t.same(one('ready').ready, { host: '', port: 8181 });
  t.same(one('ready 169.254.20.10:8181').ready, { host: '169.254.20.10', port: 8181 });
  bad(t, 'ready a b', /^C:2: ready: wrong argument count/);
  bad(t, 'ready :8181 {\n x\n}', /^C:2: ready: takes no \{ \} block/);
});
