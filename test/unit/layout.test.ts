// The layout of src/ (src/README.md): folders are ranked in the order one query passes through
// them, and an import may only point down the ranking, never up and never sideways into another
// folder of the same rank. A file over MAX_LINES lines is split by concern before it gets here.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const MAX_LINES = 300;

/** Top-level entry under src/ → rank; a lower rank may import a higher one, not the reverse. */
const RANKS: Record<string, number> = {
  'cli.ts': 0,
  doctor: 1,
  agent: 1,
  node: 2,
  listen: 2,
  resolve: 3,
  cache: 4,
  upstream: 4,
  observe: 5,
  config: 6,
  dns: 7,
  'errors.ts': 8,
};

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return tsFiles(p);
    return d.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative specifiers of static imports, re-exports and dynamic imports. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.[^'"]+)['"]|import\s*\(\s*['"](\.[^'"]+)['"]\s*\)|^\s*import\s*['"](\.[^'"]+)['"]/gm;
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** The top-level entry under src/ a file or import target is in ("cache", "errors.ts"). */
function topOf(file: string): string {
  return relative(SRC, file).split('/')[0]!.replace(/\.js$/, '.ts');
}

const files = tsFiles(SRC);

t.test('every top-level entry of src/ has a rank', async (t) => {
  const tops = [...new Set(files.map(topOf))].sort();
  t.same(tops.filter((top) => RANKS[top] === undefined), [], 'entries missing from RANKS (add them, and to src/README.md)');
});

t.test('no import points upward or sideways in the layer order', async (t) => {
  const bad: string[] = [];
  let checked = 0;
  for (const file of files) {
    const from = topOf(file);
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      const to = topOf(target);
      checked++;
      if (to === from) continue;
      const rf = RANKS[from];
      const rt = RANKS[to];
      if (rf === undefined || rt === undefined || rt <= rf) bad.push(`${relative(SRC, file)} → ${spec} (${from} ${rf} → ${to} ${rt})`);
    }
  }
  t.ok(checked > 200, `read ${checked} imports`);
  t.same(bad, [], 'imports against the layer order');
});

t.test('the import reader sees the forms src/ uses', async (t) => {
  t.same(importsOf("import { a } from './x.js';\nimport type { B } from '../y/z.js';\n"), ['./x.js', '../y/z.js']);
  t.same(importsOf("const m = await import('./upstream/discovery-binding.js');"), ['./upstream/discovery-binding.js']);
  t.same(importsOf("import {\n  a,\n  b,\n} from '../dns/answer.js';"), ['../dns/answer.js']);
  t.same(importsOf("import { x } from 'node:fs';"), [], 'packages are not layers');
});

t.test(`no file in src/ is over ${MAX_LINES} lines`, async (t) => {
  const long = files.map((f) => [relative(SRC, f), readFileSync(f, 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
  t.same(long, [], 'files to split by concern');
});
