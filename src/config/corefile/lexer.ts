// Corefile tokens, split the way CoreDNS's Caddy lexer splits them: whitespace separates tokens,
// `#` outside quotes starts a comment to the end of the line, a `"` at the start of a token opens
// a quoted string (newlines allowed, `\"` escapes a quote, other backslashes are kept).
// `{` and `}` are ordinary tokens and only special when whitespace-separated, as in Caddy.
import { ConfigError } from '../../errors.js';

export interface Token {
  text: string;
  file: string;
  line: number;
  quoted: boolean;
  /** First token of its line (imports and directives start lines). */
  nl: boolean;
}

export function where(t: { file: string; line: number }): string {
  return `${t.file}:${t.line}`;
}

export function lex(input: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let val = '';
  let startLine = 1;
  let inToken = false;
  let quoted = false;
  let comment = false;
  let lastEnd = 0; // line where the previous token ended (a quoted token may span lines)
  const emit = (): void => {
    out.push({ text: val, file, line: startLine, quoted, nl: startLine > lastEnd });
    lastEnd = line;
    val = '';
    inToken = false;
    quoted = false;
  };
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (quoted) {
      if (ch === '\\' && input[i + 1] === '"') {
        val += '"';
        i++;
        continue;
      }
      if (ch === '"') {
        emit();
        continue;
      }
      if (ch === '\n') line++;
      val += ch;
      continue;
    }
    if (ch === '\n' || ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f' || ch === '\v') {
      if (inToken) emit();
      if (ch === '\n') {
        line++;
        comment = false;
      }
      continue;
    }
    if (ch === '#') comment = true;
    if (comment) continue;
    if (!inToken) {
      inToken = true;
      startLine = line;
      if (ch === '"') {
        quoted = true;
        continue;
      }
    }
    val += ch;
  }
  if (quoted) throw new ConfigError(`${file}:${startLine}`, 'unterminated quoted string');
  if (inToken) emit();
  return out;
}

/**
 * `{$NAME}`, `{$NAME:default}` and Caddy's `{%NAME%}`: replaced inside any token. An unset or
 * empty variable becomes "" (or the default), as CoreDNS does.
 */
export function expandEnv(text: string, env: NodeJS.ProcessEnv): string {
  if (!text.includes('{')) return text;
  return text
    .replace(/\{\$([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}/g, (_m, name: string, def?: string) => {
      const v = env[name];
      return v !== undefined && v !== '' ? v : (def ?? '');
    })
    .replace(/\{%([A-Za-z_][A-Za-z0-9_]*)%\}/g, (_m, name: string) => env[name] ?? '');
}
