// docs/configuration.md documents every flag and every supported directive (kept honest here).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { FLAG_SPECS } from '../../src/config/flags.js';
import { SUPPORTED_DIRECTIVES } from '../../src/config/corefile/build.js';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

t.test('every flag has a row in the flag table', async (t) => {
  for (const s of FLAG_SPECS) t.match(doc, new RegExp('\\n\\| `-' + s.name.replace('.', '\\.') + '` \\|'), s.name);
});

t.test('every supported directive has a row in the directive table', async (t) => {
  for (const d of SUPPORTED_DIRECTIVES) t.match(doc, new RegExp('\\n\\| `' + d + '` \\|'), d);
});
