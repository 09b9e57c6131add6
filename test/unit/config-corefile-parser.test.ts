// Corefile syntax: tokens, quotes, comments, nested blocks, env substitution, snippets, file
// imports, and errors that name file:line.
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/errors.js';
import { expandEnv, lex } from '../../src/config/corefile/lexer.js';
import { parseCorefileFile, parseCorefileText } from '../../src/config/corefile/parser.js';
import { corefileFromText } from '../../src/config/corefile/build.js';

const texts = (s: string) => lex(s, 'F').map((x) => x.text);

function tmp(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'corefile-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('lexer: whitespace, comments, quotes, lines', async (t) => {
  t.same(texts('a b\tc\r\n d'), ['a', 'b', 'c', 'd']);
  t.same(texts('a # comment { }\nb'), ['a', 'b']);
  t.same(texts('ab#cd ef\ng'), ['ab', 'g'], '# inside a token starts a comment too (Caddy)');
  t.same(texts('"a b" "x \\"y\\" z" "#not a comment" "c:\\d"'), ['a b', 'x "y" z', '#not a comment', 'c:\\d']);
  t.same(texts('""'), [''], 'an empty quoted token is still a token');
  const toks = lex('a\n"multi\nline" b\nc', 'F');
  t.same(toks.map((x) => [x.text, x.line, x.nl]), [['a', 1, true], ['multi\nline', 2, true], ['b', 3, false], ['c', 4, true]]);
  t.throws(() => lex('a "open\n', 'X'), { message: /^X:1: unterminated quoted string/ });
});

t.test('env substitution: {$VAR}, {$VAR:default}, {%VAR%}', async (t) => {
  const env = { A: '1.2.3.4', EMPTY: '' };
  t.equal(expandEnv('{$A}:53', env), '1.2.3.4:53');
  t.equal(expandEnv('{$MISSING:9.9.9.9}', env), '9.9.9.9');
  t.equal(expandEnv('{$EMPTY:dflt}', env), 'dflt');
  t.equal(expandEnv('{$MISSING}', env), '');
  t.equal(expandEnv('{%A%}', env), '1.2.3.4');
  const r = corefileFromText('.:{$PORT} {\n forward . {$UP}\n}\n', 'C', { env: { PORT: '5300', UP: '192.0.2.7:5353' } });
  t.equal(r.servers[0]!.port, 5300);
  t.same(r.servers[0]!.forward!.to, [{ host: '192.0.2.7', port: 5353 }]);
});

t.test('server blocks: several keys, commas, ports, dns://, nested blocks', async (t) => {
  const p = parseCorefileText('a.example b.example:5300, dns://c.example:53 {\n  forward . 192.0.2.1 {\n    force_tcp\n    max_fails 3\n  }\n  errors\n}\n.:53 {\n}\n', 'C');
  t.equal(p.blocks.length, 2);
  t.same(p.blocks[0]!.keys.map((k) => k.text), ['a.example', 'b.example:5300', 'dns://c.example:53']);
  const fwd = p.blocks[0]!.directives[0]!;
  t.equal(fwd.name.text, 'forward');
  t.same(fwd.args.map((a) => a.text), ['.', '192.0.2.1']);
  t.same(fwd.block!.map((d) => [d.name.text, d.args.map((a) => a.text)]), [['force_tcp', []], ['max_fails', ['3']]]);
  t.equal(p.blocks[0]!.directives[1]!.name.line, 6);
  const s = corefileFromText('A.Example b.example:5300, dns://c.example:53 {\n forward . 192.0.2.1\n}\n', 'C').servers;
  t.same(s.map((x) => [x.zones, x.port]), [[['a.example.', 'c.example.'], 53], [['b.example.'], 5300]], 'keys grouped by port, lowercased, trailing dot');
  const multi = parseCorefileText('a,\n b {\n}\n', 'C');
  t.same(multi.blocks[0]!.keys.map((k) => k.text), ['a', 'b'], 'a trailing comma continues the keys on the next line');
});

t.test('a single block may omit braces (Caddy)', async (t) => {
  const s = corefileFromText('.:5353\nforward . 192.0.2.1\ncache 10\n', 'C').servers;
  t.equal(s[0]!.port, 5353);
  t.equal(s[0]!.cache!.successMaxTtl, 10);
});

t.test('snippets: (name) { } and import name, nested inside a directive block too', async (t) => {
  const text = [
    '(common) {',
    '  errors',
    '  cache 30',
    '}',
    '(tcp) {',
    '  force_tcp',
    '}',
    'a.example {',
    '  import common',
    '  forward . 192.0.2.1 {',
    '    import tcp',
    '  }',
    '}',
    'b.example {',
    '  import common',
    '  forward . 192.0.2.2',
    '}',
  ].join('\n');
  const s = corefileFromText(text, 'C').servers;
  t.equal(s.length, 2, 'snippets are not servers');
  t.equal(s[0]!.errors.enabled, true);
  t.equal(s[0]!.cache!.successMaxTtl, 30);
  t.equal(s[0]!.forward!.forceTcp, true);
  t.equal(s[1]!.cache!.denialMaxTtl, 30);
  t.equal(s[1]!.forward!.forceTcp, false);
  t.throws(() => parseCorefileText('(a) {\n}\n(a) {\n}\n', 'C'), { message: /^C:3: redeclaration of snippet a/ });
  t.throws(() => parseCorefileText('(a) {\n import a\n}\nx {\n import a\n}\n', 'C'), { message: /C:\d+: more than 1000 imports/ });
});

t.test('import of files: relative to the importing file, one wildcard, errors name the imported file', async (t) => {
  const d = tmp(t);
  writeFileSync(join(d, 'Corefile'), 'import conf.d/*.conf\n.:53 {\n  import opts/common\n  forward . 192.0.2.1\n}\n');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(d, 'conf.d'));
  mkdirSync(join(d, 'opts'));
  writeFileSync(join(d, 'conf.d', 'b.conf'), 'b.example {\n  forward . 192.0.2.3\n}\n');
  writeFileSync(join(d, 'conf.d', 'a.conf'), 'a.example {\n  forward . 192.0.2.2\n}\n');
  writeFileSync(join(d, 'conf.d', 'skip.txt'), 'not { valid\n');
  writeFileSync(join(d, 'opts', 'common'), 'errors\ncache 15\n');
  const p = parseCorefileFile(join(d, 'Corefile'));
  t.same(p.blocks.map((b) => b.keys[0]!.text), ['a.example', 'b.example', '.:53'], 'glob matches sorted');
  t.same(p.files, [join(d, 'Corefile'), join(d, 'conf.d', 'a.conf'), join(d, 'conf.d', 'b.conf'), join(d, 'opts', 'common')]);
  const root = p.blocks[2]!.directives.map((x) => `${x.name.text}@${x.name.file.slice(d.length)}:${x.name.line}`);
  t.same(root, ['errors@/opts/common:1', 'cache@/opts/common:2', 'forward@/Corefile:4']);
  writeFileSync(join(d, 'opts', 'common'), 'errors\nbogus 1\n');
  t.throws(() => corefileFromText('.:53 {\n import opts/common\n}\n', join(d, 'Corefile')), { message: new RegExp(`^${join(d, 'opts', 'common')}:2: unknown or unsupported directive "bogus"`) });
  t.throws(() => parseCorefileText('import missing.conf\n', join(d, 'Corefile')), { message: /Corefile:1: cannot import .*missing.conf/ });
  t.throws(() => parseCorefileText('import a*b*\n', join(d, 'Corefile')), { message: /one wildcard/ });
  t.throws(() => parseCorefileText('x {\n import a b\n}\n', 'C'), { message: /^C:2: import takes only one argument/ });
});

t.test('syntax errors carry file:line', async (t) => {
  const cases: [string, RegExp][] = [
    ['.:53 {\n errors\n', /^C:1: unexpected end of file: this '\{' is never closed/],
    ['.:53 {\n forward . 192.0.2.1 {\n force_tcp\n}\n', /^C:1: unexpected end of file/],
    ['}\n', /^C:1: expected a server address, found '\}'/],
    ['.:53 {\n}\n}\n', /^C:3: expected a server address/],
    ['.:53 {\n {\n}\n', /^C:2: unexpected '\{'/],
    ['.:53 {\n forward . 192.0.2.1 {\n force_tcp\n } extra\n}\n', /^C:4: unexpected 'extra' after '\}'/],
    ['a,\n', /^C:1: unexpected end of file after a trailing comma/],
  ];
  for (const [text, re] of cases) {
    t.throws(() => parseCorefileText(text, 'C'), re, JSON.stringify(text));
    t.throws(() => parseCorefileText(text, 'C'), ConfigError);
  }
  t.throws(() => corefileFromText('a.example {\n forward . 192.0.2.1\n}\nA.EXAMPLE:53 {\n forward . 192.0.2.1\n}\n', 'C'), { message: /^C:4: zone a.example. on port 53 is already declared at C:1/ });
  t.throws(() => corefileFromText('tls://.:853 {\n}\n', 'C'), { message: /^C:1: .*tls:\/\/ servers are not supported/ });
  t.throws(() => corefileFromText('.:99999 {\n}\n', 'C'), { message: /^C:1: .*invalid port/ });
  t.throws(() => corefileFromText('10.0.0.0/8 {\n}\n', 'C'), { message: /CIDR/ });
  t.throws(() => corefileFromText('__PILLAR__DNS__DOMAIN__:53 {\n}\n', 'C'), { message: /^C:1: .*unsubstituted __PILLAR__/ });
  t.throws(() => corefileFromText('.:53 {\n whoami\n}\n', 'C'), { message: /^C:2: unknown or unsupported directive "whoami"/ });
  t.throws(() => corefileFromText('.:53 {\n errors\n errors\n}\n', 'C'), { message: /^C:3: errors can only be used once/ });
});

t.test('-dns.port is the port of keys without one', async (t) => {
  const s = corefileFromText('a.example {\n}\n', 'C', { defaultPort: 5353 }).servers;
  t.equal(s[0]!.port, 5353);
});
