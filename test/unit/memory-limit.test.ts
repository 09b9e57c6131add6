// -memory-limit's quantity parser, the cgroup reader (v2 memory.max, v1 memory.limit_in_bytes,
// their "no limit" spellings) against files in a temporary directory given as the cgroup root,
// and how flag, cgroup and percent make the budget.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { memoryBudget, parseQuantity, readCgroupLimit } from '../../src/config/memory-limit.js';
import { parseFlags } from '../../src/config/flags.js';

const Mi = 2 ** 20;

t.test('Kubernetes quantities', async (t) => {
  const ok: [string, number][] = [
    ['128Mi', 128 * Mi],
    ['1Gi', 2 ** 30],
    ['1.5Gi', 1.5 * 2 ** 30],
    ['200M', 200e6],
    ['64k', 64_000],
    ['512Ki', 512 * 1024],
    ['134217728', 134_217_728],
    ['1e9', 1e9],
    ['0', 0],
    ['0.5Ki', 512],
    ['1.0001k', 1001], // rounded up to a whole byte
  ];
  for (const [s, n] of ok) t.equal(parseQuantity(s), n, s);
  for (const s of ['', 'Mi', '128MB', '128mi', '-1Gi', '1 Gi', '500m', '0x10', '1e', '12x', 'max']) t.equal(parseQuantity(s), null, `${JSON.stringify(s)} refused`);
});

t.test('the flags: sizes, 0, a bad value named, the percent range', async (t) => {
  t.equal(parseFlags([]).memoryLimit, null, 'not given: the cgroup decides');
  t.equal(parseFlags([]).memoryBudgetPercent, 75);
  t.equal(parseFlags(['-memory-limit', '128Mi']).memoryLimit, 128 * Mi);
  t.equal(parseFlags(['--memory-limit=1Gi']).memoryLimit, 2 ** 30);
  t.equal(parseFlags(['-memory-limit', '0']).memoryLimit, 0);
  t.throws(() => parseFlags(['-memory-limit', '128MB']), /flag -memory-limit: invalid value "128MB": want a size like 128Mi/);
  t.throws(() => parseFlags(['-memory-limit', '16Mi']), /flag -memory-limit: .*below 64Mi/);
  t.throws(() => parseFlags(['-memory-budget-percent', '100']), /flag -memory-budget-percent: .*want 10 to 95/);
  t.equal(parseFlags(['-memory-budget-percent', '60']).memoryBudgetPercent, 60);
});

function cgroupRoot(t: { teardown(fn: () => void): void }, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

t.test('cgroup v2 memory.max', async (t) => {
  const root = cgroupRoot(t, { 'memory.max': '268435456\n' });
  t.same(readCgroupLimit(root), { bytes: 268_435_456, file: join(root, 'memory.max') });
  t.equal(readCgroupLimit(cgroupRoot(t, { 'memory.max': 'max\n' })), null, '"max" is no limit');
});

t.test('cgroup v1 memory.limit_in_bytes', async (t) => {
  const root = cgroupRoot(t, { 'memory/memory.limit_in_bytes': '134217728\n' });
  t.same(readCgroupLimit(root), { bytes: 134_217_728, file: join(root, 'memory/memory.limit_in_bytes') });
  t.equal(readCgroupLimit(cgroupRoot(t, { 'memory/memory.limit_in_bytes': '9223372036854771712\n' })), null, 'the page-aligned LONG_MAX is no limit');
  t.equal(readCgroupLimit(cgroupRoot(t, {})), null, 'no files: no limit');
  t.equal(readCgroupLimit(cgroupRoot(t, { 'memory.max': 'garbage', 'memory/memory.limit_in_bytes': '100000000' }))?.bytes, 100_000_000, 'an unreadable v2 file falls through to v1');
});

t.test('the budget: flag over cgroup, 0 = none, percent of the limit', async (t) => {
  const cg = () => ({ bytes: 256 * Mi, file: '/sys/fs/cgroup/memory.max' });
  t.same(memoryBudget(128 * Mi, 75, cg), { limit: 128 * Mi, source: '-memory-limit', budget: 96 * Mi, percent: 75 });
  t.same(memoryBudget(null, 75, cg), { limit: 256 * Mi, source: '/sys/fs/cgroup/memory.max', budget: 192 * Mi, percent: 75 });
  t.same(memoryBudget(0, 75, cg), { limit: 0, source: 'none (-memory-limit 0)', budget: 0, percent: 75 });
  t.same(memoryBudget(null, 50, () => null), { limit: 0, source: 'none', budget: 0, percent: 50 });
});
