// SPDX-License-Identifier: Apache-2.0
// Falco condition language parser: text to AST, following libsinsp's recursive-descent grammar and its bare-word rules.

/** Comparison operators of the condition language. */
export type CmpOp =
  | '='
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | 'contains'
  | 'icontains'
  | 'bcontains'
  | 'startswith'
  | 'bstartswith'
  | 'endswith'
  | 'glob'
  | 'iglob'
  | 'regex'
  | 'in'
  | 'intersects'
  | 'pmatch'
  | 'exists';

/** Where a node came from when it was not parsed from condition text (exceptions). */
export interface NodeLoc {
  file: string;
  line: number;
  token: string;
}

/** One value on the right of an operator. `quoted` values are never list or macro references. */
export interface ValueItem {
  v: string;
  quoted: boolean;
  pos: number;
}

export type Node =
  | { t: 'and'; items: Node[] }
  | { t: 'or'; items: Node[] }
  | { t: 'not'; item: Node }
  | {
      t: 'check';
      field: string;
      arg: string | undefined;
      pos: number;
      op: CmpOp;
      opPos: number;
      /** Scalar operand (all operators but exists and the list operators). */
      value?: ValueItem;
      /** List operand of in / intersects / pmatch. */
      list?: ValueItem[];
      loc?: NodeLoc;
    }
  | { t: 'macro'; name: string; pos: number; loc?: NodeLoc };

export type CheckNode = Extract<Node, { t: 'check' }>;

/** A syntax error at `pos` in the condition text; the loader turns it into a RuleError with file and line. */
export class ParseError extends Error {
  constructor(
    message: string,
    readonly pos: number,
    readonly token: string,
  ) {
    super(message);
    this.name = 'ParseError';
  }
}

const LIST_OPS: readonly CmpOp[] = ['intersects', 'in', 'pmatch'];
const WORD_OPS: readonly CmpOp[] = [
  'exists',
  'icontains',
  'bcontains',
  'contains',
  'bstartswith',
  'startswith',
  'endswith',
  'iglob',
  'glob',
  'regex',
  ...LIST_OPS,
];
const SYMBOL_OPS: readonly CmpOp[] = ['<=', '>=', '==', '!=', '<', '>', '='];

// libsinsp: a field is identifier(.identifier)+ with an optional [argument];
// later segments may start with a digit only in our leniency for evt.arg.N.
const RE_FIELD = /[a-zA-Z][a-zA-Z0-9_]*(?:\.[a-zA-Z0-9_]+)+/y;
const RE_IDENT = /[a-zA-Z_][a-zA-Z0-9_]*/y;
// libsinsp RGX_BARESTR: anything but blanks, parentheses, comma, quotes and comparison characters.
const RE_BARE = /[^ \t\n\r\f\v\b(),="'!><]+/y;
const MAX_DEPTH = 200;

function isBlank(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
}

/** Parse one condition. Throws ParseError. */
export function parseCondition(text: string): Node {
  const p = new Parser(text);
  return p.parse();
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(private readonly s: string) {}

  parse(): Node {
    this.blank();
    if (this.pos >= this.s.length) throw new ParseError('empty condition', 0, '');
    const n = this.parseOr();
    this.blank();
    if (this.pos < this.s.length) this.fail('unexpected token');
    return n;
  }

  private fail(message: string, at = this.pos): never {
    throw new ParseError(message, at, tokenAt(this.s, at));
  }

  private blank(): void {
    while (this.pos < this.s.length && isBlank(this.s[this.pos])) this.pos++;
  }

  /** A keyword must be followed by a blank or '(' (libsinsp accepts "not(" and "and("). */
  private keyword(word: string): boolean {
    this.blank();
    if (!this.s.startsWith(word, this.pos)) return false;
    const next = this.s[this.pos + word.length];
    if (next !== undefined && !isBlank(next) && next !== '(') return false;
    this.pos += word.length;
    return true;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail('expression nested too deeply');
  }

  private parseOr(): Node {
    this.enter();
    const first = this.parseAnd();
    const items: Node[] = [first];
    while (this.keyword('or')) items.push(this.parseAnd());
    this.depth--;
    return items.length > 1 ? { t: 'or', items } : first;
  }

  private parseAnd(): Node {
    const first = this.parseNot();
    const items: Node[] = [first];
    while (this.keyword('and')) items.push(this.parseNot());
    return items.length > 1 ? { t: 'and', items } : first;
  }

  private parseNot(): Node {
    if (this.keyword('not')) {
      this.enter();
      const item = this.parseNot();
      this.depth--;
      return { t: 'not', item };
    }
    return this.parsePrimary();
  }

  private parsePrimary(): Node {
    this.blank();
    if (this.pos >= this.s.length) this.fail('unexpected end of condition');
    if (this.s[this.pos] === '(') {
      this.pos++;
      const n = this.parseOr();
      this.blank();
      if (this.s[this.pos] !== ')') this.fail("expected ')'");
      this.pos++;
      return n;
    }
    return this.parseCheck();
  }

  private match(re: RegExp): string | undefined {
    re.lastIndex = this.pos;
    const m = re.exec(this.s);
    if (!m) return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  private parseCheck(): Node {
    const start = this.pos;
    const field = this.match(RE_FIELD);
    if (field === undefined) {
      const ident = this.match(RE_IDENT);
      if (ident === undefined || ident === 'and' || ident === 'or' || ident === 'not') {
        this.fail('expected a field, a macro or a parenthesised expression', start);
      }
      return { t: 'macro', name: ident, pos: start };
    }
    let arg: string | undefined;
    if (this.s[this.pos] === '[') {
      this.pos++;
      const c = this.s[this.pos];
      if (c === '"' || c === "'") arg = this.quoted();
      else {
        const end = this.s.indexOf(']', this.pos);
        if (end < 0) this.fail("unterminated field argument, expected ']'", start);
        arg = this.s.slice(this.pos, end);
        this.pos = end;
      }
      if (this.s[this.pos] !== ']') this.fail("expected ']' after field argument");
      this.pos++;
      if (arg === '') this.fail('empty field argument', start);
    }
    this.blank();
    const opPos = this.pos;
    const op = this.operator();
    if (op === undefined) this.fail(`expected an operator after field '${field}'`);
    if (op === 'exists') return { t: 'check', field, arg, pos: start, op, opPos };
    if (LIST_OPS.includes(op))
      return { t: 'check', field, arg, pos: start, op, opPos, list: this.listValue() };
    this.blank();
    if (this.s[this.pos] === '(') this.fail(`operator '${op}' takes a single value, not a list`);
    return { t: 'check', field, arg, pos: start, op, opPos, value: this.scalar() };
  }

  private operator(): CmpOp | undefined {
    for (const op of SYMBOL_OPS) {
      if (this.s.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    for (const op of WORD_OPS) {
      if (!this.s.startsWith(op, this.pos)) continue;
      const next = this.s[this.pos + op.length];
      if (next !== undefined && !isBlank(next) && next !== '(' && next !== '"' && next !== "'") continue;
      if (op === 'exists' && next === '(') continue;
      this.pos += op.length;
      return op;
    }
    return undefined;
  }

  private scalar(): ValueItem {
    this.blank();
    const pos = this.pos;
    const c = this.s[this.pos];
    if (c === '"' || c === "'") return { v: this.quoted(), quoted: true, pos };
    const bare = this.match(RE_BARE);
    if (bare === undefined) {
      // A lone '<' or '>' (evt.dir = <) is a value, as in Falco's examples.
      const next = this.s[this.pos + 1];
      if ((c === '<' || c === '>') && (next === undefined || isBlank(next) || next === ')')) {
        this.pos++;
        return { v: c, quoted: false, pos };
      }
      this.fail('expected a value');
    }
    return { v: bare, quoted: false, pos };
  }

  private listValue(): ValueItem[] {
    this.blank();
    if (this.s[this.pos] !== '(') this.fail("expected '(' to open a list");
    this.pos++;
    const items: ValueItem[] = [];
    this.blank();
    if (this.s[this.pos] === ')') {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.scalar());
      this.blank();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ')') {
        this.pos++;
        return items;
      }
      this.fail("expected ',' or ')' in list");
    }
  }

  /** A quoted string; backslash escapes the quotes and the backslash. */
  private quoted(): string {
    const q = this.s[this.pos];
    const start = this.pos;
    this.pos++;
    let out = '';
    while (this.pos < this.s.length) {
      const c = this.s[this.pos];
      if (c === q) {
        this.pos++;
        return out;
      }
      if (c === '\\' && this.pos + 1 < this.s.length) {
        const n = this.s[this.pos + 1];
        this.pos += 2;
        out += unescapeChar(n);
        continue;
      }
      out += c;
      this.pos++;
    }
    this.fail('unterminated quoted string', start);
  }
}

/**
 * Backslash escapes only the quote characters and itself; any other sequence
 * stays as written, so regular expressions like '\s+\b' keep their meaning.
 */
function unescapeChar(n: string): string {
  return n === '"' || n === "'" || n === '\\' ? n : '\\' + n;
}

/** The token starting at `pos`, for error messages: up to the next blank, at most 40 characters. */
export function tokenAt(s: string, pos: number): string {
  let i = pos;
  while (i < s.length && isBlank(s[i])) i++;
  let j = i;
  while (j < s.length && !isBlank(s[j]) && j - i < 40) j++;
  return s.slice(i, j);
}

/**
 * Unquote a list item the way Falco does when it splices list items into
 * condition text: an item written as `"(systemd)"` or `'a b'` is one quoted
 * string; anything else is taken literally.
 */
export function unquoteItem(item: string): { v: string; quoted: boolean } {
  const q = item[0];
  if (item.length >= 2 && (q === '"' || q === "'") && item[item.length - 1] === q) {
    let out = '';
    let i = 1;
    while (i < item.length) {
      const c = item[i];
      if (c === q) break;
      if (c === '\\' && i + 1 < item.length) {
        out += unescapeChar(item[i + 1]);
        i += 2;
        continue;
      }
      out += c;
      i++;
    }
    if (i === item.length - 1) return { v: out, quoted: true };
  }
  return { v: item, quoted: false };
}
