// package.json matches what the agent imports: every runtime dependency is imported by a file
// under src/ (the image installs them with --omit=dev), and src/ imports no package that is
// only a devDependency (it would be missing from the image).
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? sources(p) : /\.(ts|mjs)$/.test(e.name) ? [p] : [];
  });
}

/** Bare package names a file imports (static, dynamic, type-only), without node: builtins. */
function importedPackages(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
    const spec = m[1]!;
    if (spec.startsWith('.') || spec.startsWith('node:') || !/^(@[\w.-]+\/)?[\w.-]+(\/\S*)?$/.test(spec)) continue;
    out.push(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return out;
}

t.test('runtime dependencies are exactly what src/ imports', async (t) => {
  const imported = new Set(sources(join(root, 'src')).flatMap((f) => importedPackages(readFileSync(f, 'utf8'))));
  for (const dep of Object.keys(pkg.dependencies)) t.ok(imported.has(dep), `${dep} is a dependency and src/ imports it`);
  for (const name of imported) t.ok(name in pkg.dependencies, `src/ imports ${name}: it is a runtime dependency`);
});
