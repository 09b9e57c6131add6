// Corefile structure, following CoreDNS's Caddy parser: server blocks `KEY... { directives }`,
// snippets `(name) { ... }` replayed by `import name`, and `import PATTERN` of files (one
// wildcard, relative to the importing file). `import` only counts at the start of a line.
// Unlike Caddy, directives keep their nested `{}` lines as a tree, so directive parsers never
// count braces. Every token keeps file:line for errors.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../../errors.js';
import { expandEnv, lex, where, type Token } from './lexer.js';

export interface Directive {
  name: Token;
  args: Token[];
  /** The lines of a nested `{ ... }`, or null when the directive has none. */
  block: Directive[] | null;
}

export interface RawServerBlock {
  keys: Token[];
  directives: Directive[];
}

export interface ParseOptions {
  env?: NodeJS.ProcessEnv;
}

export interface ParsedCorefile {
  blocks: RawServerBlock[];
  /** Every file read, the Corefile first: what a watcher must hash. */
  files: string[];
}

const MAX_EXPANSIONS = 1000; // Caddy's cap; also what stops an import cycle

export function parseCorefileText(text: string, file: string, opts: ParseOptions = {}): ParsedCorefile {
  const p = new Parser(text, file, opts.env ?? process.env);
  return { blocks: p.parseAll(), files: p.files };
}

export function parseCorefileFile(file: string, opts: ParseOptions = {}): ParsedCorefile {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(`${abs}:0`, `cannot read Corefile: ${(err as Error).message}`);
  }
  return parseCorefileText(text, abs, opts);
}

class Parser {
  private tokens: Token[];
  private pos = 0;
  private expansions = 0;
  private readonly snippets = new Map<string, Token[]>();
  readonly files: string[];

  constructor(text: string, file: string, private readonly env: NodeJS.ProcessEnv) {
    this.tokens = this.lexFile(text, file);
    this.files = [file];
  }

  parseAll(): RawServerBlock[] {
    const blocks: RawServerBlock[] = [];
    let t: Token | undefined;
    while ((t = this.next())) {
      const keys = this.keys(t);
      const open = this.peek();
      const snippet = keys.length === 1 && /^\(.+\)$/.test(keys[0]!.text) ? keys[0]!.text.slice(1, -1) : null;
      if (snippet !== null) {
        if (this.snippets.has(snippet)) throw err(keys[0]!, `redeclaration of snippet ${snippet}`);
        if (!open || !isBrace(open, '{')) throw err(keys[0]!, `snippet ${snippet} needs a { ... } body`);
        this.pos++;
        this.snippets.set(snippet, this.rawUntilClose(open));
        continue;
      }
      if (open && isBrace(open, '{')) {
        this.pos++;
        blocks.push({ keys, directives: this.directives(open) });
      } else {
        // Caddy: a single server block may omit its braces; directives then run to the end.
        blocks.push({ keys, directives: this.directives(null) });
      }
    }
    return blocks;
  }

  /** Keys on the first line, continued onto later lines only after a trailing comma. */
  private keys(first: Token): Token[] {
    const keys: Token[] = [];
    let t: Token | undefined = first;
    let expectMore = false;
    for (;;) {
      if (isBrace(t, '{') || isBrace(t, '}')) throw err(t, `expected a server address, found '${t.text}'`);
      for (const part of t.text.split(',')) if (part !== '') keys.push({ ...t, text: part });
      expectMore = t.text.endsWith(',');
      const n = this.peek();
      if (!n) {
        if (expectMore) throw err(t, 'unexpected end of file after a trailing comma');
        return keys;
      }
      if (isBrace(n, '{') || (n.nl && !expectMore)) return keys;
      t = this.next()!;
    }
  }

  /** Directives until the `}` matching `open` (or end of file when open is null). */
  private directives(open: Token | null): Directive[] {
    const out: Directive[] = [];
    let t: Token | undefined;
    while ((t = this.next())) {
      if (isBrace(t, '}')) {
        if (open) return out;
        throw err(t, "unexpected '}' with no matching '{'");
      }
      if (isBrace(t, '{')) throw err(t, "unexpected '{': a block must follow a directive on its line");
      const d: Directive = { name: t, args: [], block: null };
      let n: Token | undefined;
      while ((n = this.peek()) && !n.nl) {
        this.pos++;
        if (isBrace(n, '}')) {
          if (!open) throw err(n, "unexpected '}' with no matching '{'");
          out.push(d);
          return out;
        }
        if (isBrace(n, '{')) {
          d.block = this.directives(n);
          const after = this.peek();
          if (after && !after.nl && !isBrace(after, '}')) throw err(after, `unexpected '${after.text}' after '}'`);
          break;
        }
        d.args.push(n);
      }
      out.push(d);
    }
    if (open) throw err(open, "unexpected end of file: this '{' is never closed");
    return out;
  }

  /** A snippet body, unexpanded: imports inside it expand where the snippet is used. */
  private rawUntilClose(open: Token): Token[] {
    const body: Token[] = [];
    let depth = 1;
    while (this.pos < this.tokens.length) {
      const t = this.tokens[this.pos++]!;
      if (isBrace(t, '{')) depth++;
      if (isBrace(t, '}') && --depth === 0) return body;
      body.push(t);
    }
    throw err(open, "unexpected end of file: this '{' is never closed");
  }

  private next(): Token | undefined {
    const t = this.peek();
    if (t) this.pos++;
    return t;
  }

  /** The next token, after replacing any `import` that starts the line. */
  private peek(): Token | undefined {
    for (;;) {
      const t = this.tokens[this.pos];
      if (!t || t.text !== 'import' || !t.nl || t.quoted) return t;
      this.expandImport(t);
    }
  }

  private expandImport(imp: Token): void {
    const arg = this.tokens[this.pos + 1];
    if (!arg || arg.nl) throw err(imp, 'import needs a snippet name or a file pattern');
    const extra = this.tokens[this.pos + 2];
    if (extra && !extra.nl) throw err(extra, 'import takes only one argument');
    if (arg.text === '') throw err(arg, 'import needs a non-empty pattern');
    if (++this.expansions > MAX_EXPANSIONS) throw err(imp, `more than ${MAX_EXPANSIONS} imports (an import cycle?)`);
    const snippet = this.snippets.get(arg.text);
    const body = snippet ? snippet.map((t) => ({ ...t })) : this.importFiles(arg);
    if (body.length > 0) body[0]!.nl = true;
    this.tokens.splice(this.pos, 2, ...body);
  }

  private importFiles(arg: Token): Token[] {
    const pattern = isAbsolute(arg.text) ? arg.text : join(dirname(arg.file), arg.text);
    const dir = dirname(pattern);
    const base = basename(pattern);
    const wild = (base.match(/[*?]/g) ?? []).length;
    if (/[*?[\]]/.test(dir) || wild > 1 || /[[\]]/.test(base)) {
      throw err(arg, `import pattern may hold one wildcard (* or ?), in the file name only: ${arg.text}`);
    }
    let files: string[];
    if (wild === 0) {
      files = [pattern];
    } else {
      const re = new RegExp('^' + base.replace(/[.+^${}()|\\]/g, '\\$&').replace('*', '.*').replace('?', '.') + '$');
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        names = [];
      }
      files = names.filter((n) => re.test(n) && !n.startsWith('.')).sort().map((n) => join(dir, n));
    }
    const out: Token[] = [];
    for (const f of files) {
      let text: string;
      try {
        if (statSync(f).isDirectory()) throw new Error('is a directory');
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw err(arg, `cannot import ${f}: ${(e as Error).message}`);
      }
      if (!this.files.includes(f)) this.files.push(f);
      out.push(...this.lexFile(text, f));
    }
    return out;
  }

  private lexFile(text: string, file: string): Token[] {
    return lex(text, file).map((t) => ({ ...t, text: expandEnv(t.text, this.env) }));
  }
}

function isBrace(t: Token, b: '{' | '}'): boolean {
  return t.text === b && !t.quoted;
}

function err(t: Token, message: string): ConfigError {
  return new ConfigError(where(t), message);
}
