// Hot reload: the watcher hashes the template directory, the kube-dns ConfigMap directory and
// resolv.conf; a good change → onConfig, a bad one → onError and the old config stays.
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from '../../src/config/flags.js';
import { loadAgentConfig } from '../../src/config/load.js';
import type { AgentConfig } from '../../src/config/types.js';
import { ConfigWatcher, hashPaths, type ConfigErrorType } from '../../src/config/watch.js';

const ENV = { KUBE_DNS_SERVICE_HOST: '10.96.0.10' };
const TEMPLATE = '.:53 {\n    forward . __PILLAR__CLUSTER__DNS__\n    cache 30\n}\n';

function setup(t: Test, extraFlags: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'watch-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'coredns'));
  mkdirSync(join(dir, 'kube-dns'));
  const base = join(dir, 'coredns', 'Corefile.base');
  writeFileSync(base, TEMPLATE);
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 192.0.2.1\n');
  const flags = parseFlags(['-localip', '169.254.20.10', '-basecorefile', base, '-conf', join(dir, 'Corefile'), '-kubednscm', join(dir, 'kube-dns'), ...extraFlags]);
  const initial = loadAgentConfig(flags, ENV, { resolvConfPath: resolv });
  const configs: AgentConfig[] = [];
  const errors: [Error, ConfigErrorType][] = [];
  const w = new ConfigWatcher(flags, ENV, initial, {
    resolvConfPath: resolv,
    intervalMs: 3_600_000,
    onConfig: (c) => configs.push(c),
    onError: (e, type) => errors.push([e, type]),
  });
  t.teardown(() => w.stop());
  return { dir, base, resolv, w, configs, errors, initial };
}

t.test('no change: nothing happens', async (t) => {
  const s = setup(t);
  t.equal(s.w.check(), false);
  t.same([s.configs.length, s.errors.length], [0, 0]);
});

t.test('template change → onConfig with the new config', async (t) => {
  const s = setup(t);
  writeFileSync(s.base, TEMPLATE.replace('cache 30', 'cache 60'));
  t.equal(s.w.check(), true);
  t.equal(s.configs.length, 1);
  t.equal(s.configs[0]!.servers[0]!.cache!.successMaxTtl, 60);
  t.equal(s.w.config.servers[0]!.cache!.successMaxTtl, 60);
  t.equal(s.w.check(), false, 'reported once');
});

t.test('bad template → onError(corefile), no onConfig, old config kept; fixing it reloads', async (t) => {
  const s = setup(t);
  writeFileSync(s.base, TEMPLATE.replace('cache 30', 'cache 30\n    rewrite name a b'));
  t.equal(s.w.check(), false);
  t.equal(s.configs.length, 0);
  t.equal(s.errors.length, 1);
  t.equal(s.errors[0]![1], 'corefile');
  t.match(s.errors[0]![0].message, /Corefile:4: unknown or unsupported directive "rewrite"/);
  t.equal(s.w.config, s.initial.config, 'the old config is still the one in effect');
  t.equal(s.w.check(), false);
  t.equal(s.errors.length, 1, 'a bad config is reported once per change, not every tick');
  writeFileSync(s.base, TEMPLATE.replace('cache 30', 'cache 45'));
  t.equal(s.w.check(), true);
  t.equal(s.configs[0]!.servers[0]!.cache!.successMaxTtl, 45);
});

t.test('kube-dns ConfigMap: new stub domain → onConfig; invalid → onError(configmap), stubs kept', async (t) => {
  const s = setup(t);
  writeFileSync(join(s.dir, 'kube-dns', 'stubDomains'), '{"acme.local": ["192.0.2.20"]}');
  t.equal(s.w.check(), true);
  t.same(s.configs[0]!.servers.map((b) => b.zones[0]), ['.', 'acme.local.']);
  writeFileSync(join(s.dir, 'kube-dns', 'stubDomains'), '{"acme.local": "192.0.2.20"}');
  t.equal(s.w.check(), false);
  t.same(s.errors.map(([, type]) => type), ['configmap']);
  t.same(s.w.config.servers.map((b) => b.zones[0]), ['.', 'acme.local.']);
});

t.test('resolv.conf change is picked up', async (t) => {
  const s = setup(t);
  writeFileSync(s.base, '.:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n');
  t.equal(s.w.check(), true);
  writeFileSync(s.resolv, 'nameserver 192.0.2.99\n');
  t.equal(s.w.check(), true);
  t.same(s.configs[1]!.servers[0]!.forward!.to, [{ host: '192.0.2.99', port: 53 }]);
});

t.test('the timer polls (short interval)', async (t) => {
  const s = setup(t);
  const w = new ConfigWatcher(parseFlags(['-localip', '169.254.20.10', '-basecorefile', s.base, '-kubednscm', join(s.dir, 'kube-dns')]), ENV, s.initial, {
    resolvConfPath: s.resolv,
    intervalMs: 20,
    onConfig: (c) => s.configs.push(c),
    onError: (e, type) => s.errors.push([e, type]),
  });
  t.teardown(() => w.stop());
  w.start();
  writeFileSync(s.base, TEMPLATE.replace('cache 30', 'cache 77'));
  for (let i = 0; i < 250 && s.configs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(s.configs[0]?.servers[0]?.cache?.successMaxTtl, 77);
});

t.test('SIGUSR1 with -reloadwithsignal re-reads at once', async (t) => {
  const s = setup(t, ['-reloadwithsignal']);
  s.w.start();
  writeFileSync(s.base, TEMPLATE.replace('cache 30', 'cache 88'));
  process.kill(process.pid, 'SIGUSR1');
  for (let i = 0; i < 250 && s.configs.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(s.configs[0]?.servers[0]?.cache?.successMaxTtl, 88);
});

t.test('hashPaths: files, directory listings, missing paths', async (t) => {
  const s = setup(t);
  const d = join(s.dir, 'coredns');
  const h1 = hashPaths([d, join(s.dir, 'nope')]);
  t.equal(hashPaths([d, join(s.dir, 'nope')]), h1);
  writeFileSync(join(d, '.hidden'), 'x');
  t.equal(hashPaths([d, join(s.dir, 'nope')]), h1, 'dot entries (ConfigMap ..data) are not hashed twice');
  writeFileSync(join(d, 'other'), 'x');
  t.not(hashPaths([d, join(s.dir, 'nope')]), h1);
});

t.test('a ConfigMap volume update (kubelet swaps the ..data symlink) is detected', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'watch-cm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { symlinkSync, renameSync } = await import('node:fs');
  const mount = join(dir, 'coredns');
  mkdirSync(join(mount, '..v1'), { recursive: true });
  writeFileSync(join(mount, '..v1', 'Corefile.base'), TEMPLATE);
  symlinkSync('..v1', join(mount, '..data'));
  symlinkSync('..data/Corefile.base', join(mount, 'Corefile.base'));
  const resolv = join(dir, 'resolv.conf');
  writeFileSync(resolv, 'nameserver 192.0.2.1\n');
  const flags = parseFlags(['-localip', '169.254.20.10', '-basecorefile', join(mount, 'Corefile.base'), '-kubednscm', join(dir, 'none')]);
  const initial = loadAgentConfig(flags, ENV, { resolvConfPath: resolv });
  const configs: AgentConfig[] = [];
  const w = new ConfigWatcher(flags, ENV, initial, { resolvConfPath: resolv, onConfig: (c) => configs.push(c), onError: (e) => t.fail(e.message) });
  mkdirSync(join(mount, '..v2'));
  writeFileSync(join(mount, '..v2', 'Corefile.base'), TEMPLATE.replace('cache 30', 'cache 90'));
  symlinkSync('..v2', join(mount, '..data_tmp'));
  renameSync(join(mount, '..data_tmp'), join(mount, '..data'));
  t.equal(w.check(), true);
  t.equal(configs[0]!.servers[0]!.cache!.successMaxTtl, 90);
});
