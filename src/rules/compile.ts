// SPDX-License-Identifier: Apache-2.0
// Condition compiler: AST to closures, list operands as Sets, regexes built once, and the kind mask each rule needs.

import type { PeregrineEvent } from '../events/types.js';
import { RuleError, type RuleErrorCode } from './errors.js';
import { type FieldContext, FieldError, type ResolvedField, resolveField, type Scalar } from './fields.js';
import { ALL_KINDS, KIND_BIT, KINDS, KINDS_BY_SYSCALL } from './kinds.js';
import { inCidr, normalizeIp, parseCidr, parseIp } from './net.js';
import type { CheckNode, CmpOp, Node, NodeLoc } from './parser.js';

export type Pred = (e: PeregrineEvent) => boolean;

/** A compiled (sub)condition. */
export interface Compiled {
  fn: Pred;
  /** Kinds for which the condition can be true. */
  mask: number;
  /** Depends on the event kind only: `fn` is exactly a mask test. */
  pure: boolean;
  /** Fields the condition reads, as written. */
  fields: Set<string>;
  /** Of those, the ones Peregrine cannot fill. */
  unsupported: Set<string>;
  /** evt.type names no Peregrine kind answers to. */
  unknownSyscalls: Set<string>;
  /**
   * The condition specialised for one kind (its KIND_BIT): kind-only checks
   * folded to constants and dropped, so the per-kind rule lists skip them.
   * Absent: `fn` as is.
   */
  spec?: (bit: number) => Pred;
}

/**
 * Evaluation generation: RuleSet.evaluate() bumps it once per event. A field
 * read by several checks (proc.name, pg.write_path, fd.name ...) is extracted
 * once per event and generation, then served from a one-entry memo.
 */
export const evalGeneration = { n: 0 };

function memoized(get: ResolvedField['get']): ResolvedField['get'] {
  let lastEvent: PeregrineEvent | undefined;
  let lastGen = -1;
  let value: ReturnType<ResolvedField['get']>;
  return (e) => {
    if (e === lastEvent && lastGen === evalGeneration.n) return value;
    value = get(e);
    lastEvent = e;
    lastGen = evalGeneration.n;
    return value;
  };
}

/** Constant predicates: specialisation recognises them by identity. */
export const TRUE: Pred = () => true;
export const FALSE: Pred = () => false;

/** `c` specialised for the kind whose bit is `bit` (see Compiled.spec). */
export function specialize(c: Compiled, bit: number): Pred {
  if (c.pure) return (c.mask & bit) !== 0 ? TRUE : FALSE;
  return c.spec !== undefined ? c.spec(bit) : c.fn;
}

function combine(t: 'and' | 'or', fns: Pred[]): Pred {
  if (fns.length === 1) return fns[0];
  if (t === 'and') {
    if (fns.length === 2) {
      const [a, b] = fns;
      return (e) => a(e) && b(e);
    }
    return (e) => {
      for (let i = 0; i < fns.length; i++) if (!fns[i](e)) return false;
      return true;
    };
  }
  if (fns.length === 2) {
    const [a, b] = fns;
    return (e) => a(e) || b(e);
  }
  return (e) => {
    for (let i = 0; i < fns.length; i++) if (fns[i](e)) return true;
    return false;
  };
}

/** Where a condition came from, to turn text offsets into file:line. */
export interface SourceRef {
  item: string;
  locate(pos: number, token: string): { file: string; line: number };
}

/** What the compiler asks of the loader. */
export interface CompileHost {
  ctx: FieldContext;
  /** Items of a list, nested lists expanded; undefined when no such list. */
  list(name: string): ReadonlyArray<{ v: string; quoted: boolean }> | undefined;
  /** Parsed macro; undefined when no such macro. */
  macro(name: string): { ast: Node; src: SourceRef } | undefined;
}

const NO_STRINGS: ReadonlySet<string> = new Set();

function maskTest(mask: number): Pred {
  if (mask === ALL_KINDS) return () => true;
  if (mask === 0) return () => false;
  return (e) => (KIND_BIT[e.kind] & mask) !== 0;
}

function union<T>(parts: Compiled[], pick: (c: Compiled) => Set<T>): Set<T> {
  const out = new Set<T>();
  for (const p of parts) for (const x of pick(p)) out.add(x);
  return out;
}

function str(v: Scalar): string {
  return typeof v === 'string' ? v : String(v);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** fnmatch-style glob without FNM_PATHNAME (as Falco): `*` crosses '/', `?` one character, `[...]` classes. */
export function globToRegExp(glob: string, ignoreCase: boolean): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      while (glob[i + 1] === '*') i++;
      re += '[\\s\\S]*';
    } else if (c === '?') re += '[\\s\\S]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      let neg = false;
      if (body[0] === '!' || body[0] === '^') {
        neg = true;
        body = body.slice(1);
      }
      re += (neg ? '[^' : '[') + body.replace(/[\\\]^]/g, '\\$&') + ']';
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      re += escapeRe(glob[++i]);
    } else re += escapeRe(c);
  }
  return new RegExp(re + '$', ignoreCase ? 'i' : '');
}

/** Compiles conditions for one rule set; macros are compiled once and shared by every rule that uses them. */
export class Compiler {
  private readonly macroCache = new Map<string, Compiled>();
  private readonly macroStack: string[] = [];
  /** One memoized extractor per field as written, shared by every check that reads it. */
  private readonly getters = new Map<string, ResolvedField['get']>();

  constructor(private readonly host: CompileHost) {}

  /** Compile a whole condition; throws RuleError located through `src`. */
  compile(node: Node, src: SourceRef): Compiled {
    return this.node(node, src);
  }

  /** Compile (and cache) a macro by name, e.g. to validate macros no rule uses. */
  compileMacro(name: string, at: { src: SourceRef; pos: number; loc?: NodeLoc }): Compiled {
    const cached = this.macroCache.get(name);
    if (cached) return cached;
    const m = this.host.macro(name);
    if (!m) this.fail(at.src, at.loc ?? at.pos, name, `undefined macro '${name}'`, 'reference');
    if (this.macroStack.includes(name)) {
      this.fail(
        at.src,
        at.loc ?? at.pos,
        name,
        `macro '${name}' refers to itself (${[...this.macroStack, name].join(' -> ')})`,
        'reference',
      );
    }
    this.macroStack.push(name);
    try {
      const c = this.node(m.ast, m.src);
      this.macroCache.set(name, c);
      return c;
    } finally {
      this.macroStack.pop();
    }
  }

  private fail(
    src: SourceRef,
    at: number | NodeLoc,
    token: string,
    reason: string,
    code: RuleErrorCode,
  ): never {
    if (typeof at === 'number') {
      const { file, line } = src.locate(at, token);
      throw new RuleError({ file, line, rule: src.item, token, reason, code });
    }
    throw new RuleError({
      file: at.file,
      line: at.line,
      rule: src.item,
      token: at.token || token,
      reason,
      code,
    });
  }

  private node(n: Node, src: SourceRef): Compiled {
    switch (n.t) {
      case 'and':
      case 'or':
        return this.bool(n.t, n.items, src);
      case 'not': {
        const c = this.node(n.item, src);
        const mask = c.pure ? ALL_KINDS & ~c.mask : ALL_KINDS;
        const inner = c.fn;
        return {
          ...c,
          mask,
          fn: c.pure ? maskTest(mask) : (e) => !inner(e),
          spec:
            c.pure || c.spec === undefined
              ? undefined
              : (bit) => {
                  const s = specialize(c, bit);
                  if (s === TRUE) return FALSE;
                  if (s === FALSE) return TRUE;
                  return (e) => !s(e);
                },
        };
      }
      case 'macro':
        return this.compileMacro(n.name, { src, pos: n.pos, loc: n.loc });
      case 'check':
        return this.check(n, src);
    }
  }

  private bool(t: 'and' | 'or', items: Node[], src: SourceRef): Compiled {
    const parts = items.map((i) => this.node(i, src));
    const pure = parts.every((p) => p.pure);
    let mask = t === 'and' ? ALL_KINDS : 0;
    for (const p of parts) mask = t === 'and' ? mask & p.mask : mask | p.mask;
    let fn: Pred;
    if (pure) fn = maskTest(mask);
    else {
      // Kind-only parts first: they are a single bit test and often decide the answer.
      fn = combine(
        t,
        [...parts].sort((a, b) => Number(b.pure) - Number(a.pure)).map((p) => p.fn),
      );
    }
    const spec = (bit: number): Pred => {
      // Constants decide (and: FALSE, or: TRUE) or drop out.
      const decide = t === 'and' ? FALSE : TRUE;
      const neutral = t === 'and' ? TRUE : FALSE;
      const fns: Pred[] = [];
      for (const p of parts) {
        const s = specialize(p, bit);
        if (s === decide) return decide;
        if (s !== neutral) fns.push(s);
      }
      return fns.length === 0 ? neutral : combine(t, fns);
    };
    return {
      fn,
      mask,
      pure,
      // Only conditions with a kind check somewhere below have anything to fold.
      spec: pure || !parts.some((p) => p.pure || p.spec !== undefined) ? undefined : spec,
      fields: union(parts, (p) => p.fields),
      unsupported: union(parts, (p) => p.unsupported),
      unknownSyscalls: union(parts, (p) => p.unknownSyscalls),
    };
  }

  private check(n: CheckNode, src: SourceRef): Compiled {
    const fieldText = n.arg !== undefined ? `${n.field}[${n.arg}]` : n.field;
    let f: ResolvedField;
    try {
      f = resolveField(n.field, n.arg, this.host.ctx);
    } catch (err) {
      if (err instanceof FieldError) {
        this.fail(src, n.loc ?? n.pos, fieldText, err.message, err.unknown ? 'unknown_field' : 'field');
      }
      throw err;
    }
    const values: string[] = [];
    if (n.list) {
      for (const item of n.list) {
        const expanded = item.quoted ? undefined : this.host.list(item.v);
        if (expanded) for (const x of expanded) values.push(x.v);
        else values.push(item.v);
      }
    } else if (n.value) values.push(n.value.v);
    const failValue = (reason: string, token: string) =>
      this.fail(src, n.loc ?? n.value?.pos ?? n.list?.[0]?.pos ?? n.opPos, token, reason, 'value');
    const failOp = () =>
      this.fail(
        src,
        n.loc ?? n.opPos,
        n.op,
        `operator '${n.op}' is not defined for ${f.type} field '${f.name}'`,
        'field',
      );

    if (!f.kindOnly && f.supported) {
      let get = this.getters.get(f.name);
      if (get === undefined) {
        get = memoized(f.get);
        this.getters.set(f.name, get);
      }
      f = { ...f, get };
    }
    const fn = buildCheck(f, n.op, values, failValue, failOp);
    const fields = new Set([f.name]);
    const unsupported = f.supported ? (NO_STRINGS as Set<string>) : new Set([f.name]);
    let unknownSyscalls = NO_STRINGS as Set<string>;
    if (f.kindOnly) {
      if (f.base === 'evt.type' || f.base === 'syscall.type') {
        const unknown = values.filter((v) => !KINDS_BY_SYSCALL.has(v));
        if (unknown.length && ['=', '==', '!=', 'in', 'intersects'].includes(n.op))
          unknownSyscalls = new Set(unknown);
      }
      // Fold into a kind mask: evaluate once per kind on a stub event.
      let mask = 0;
      for (const k of KINDS) if (fn({ kind: k } as PeregrineEvent)) mask |= KIND_BIT[k];
      return { fn: maskTest(mask), mask, pure: true, fields, unsupported, unknownSyscalls };
    }
    return { fn, mask: ALL_KINDS, pure: false, fields, unsupported, unknownSyscalls };
  }
}

type Test = (v: Scalar) => boolean;

function buildCheck(
  f: ResolvedField,
  op: CmpOp,
  values: string[],
  failValue: (reason: string, token: string) => never,
  failOp: () => never,
): Pred {
  const get = f.get;
  if (op === 'exists') {
    return (e) => {
      const v = get(e);
      return v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0);
    };
  }
  const negate = op === '!=';
  const test = buildTest(f, negate ? '=' : op, values, failValue, failOp);
  if (f.multi) {
    return (e) => {
      const v = get(e) as readonly Scalar[] | undefined;
      if (v === undefined || v === null || v.length === 0) return false;
      for (let i = 0; i < v.length; i++) if (test(v[i])) return !negate;
      return negate;
    };
  }
  if (negate) {
    return (e) => {
      const v = get(e) as Scalar | undefined;
      return v !== undefined && v !== null && !test(v);
    };
  }
  return (e) => {
    const v = get(e) as Scalar | undefined;
    return v !== undefined && v !== null && test(v);
  };
}

const RE_NUMBER = /^[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)$/;

function hexBytes(v: string, failValue: (r: string, t: string) => never): string {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(v)) failValue('expected an even-length hex string', v);
  return Buffer.from(v, 'hex').toString('latin1');
}

function buildTest(
  f: ResolvedField,
  op: Exclude<CmpOp, 'exists' | '!='>,
  values: string[],
  failValue: (reason: string, token: string) => never,
  failOp: () => never,
): Test {
  const x = values[0] ?? '';
  switch (f.type) {
    case 'number': {
      const nums = values.map((v) => {
        if (!RE_NUMBER.test(v)) failValue(`expected a number for '${f.name}'`, v);
        return Number(v);
      });
      const n = nums[0];
      const num = (v: Scalar) => (typeof v === 'number' ? v : Number(v));
      switch (op) {
        case '=':
        case '==':
          return (v) => num(v) === n;
        case '<':
          return (v) => num(v) < n;
        case '<=':
          return (v) => num(v) <= n;
        case '>':
          return (v) => num(v) > n;
        case '>=':
          return (v) => num(v) >= n;
        case 'in':
        case 'intersects': {
          const set = new Set(nums);
          return (v) => set.has(num(v));
        }
        default:
          return failOp();
      }
    }
    case 'bool': {
      const bools = values.map((v) => {
        const l = v.toLowerCase();
        if (l !== 'true' && l !== 'false') failValue(`expected true or false for '${f.name}'`, v);
        return l === 'true';
      });
      if (op === '=' || op === '==') {
        const b = bools[0];
        return (v) => v === b;
      }
      if (op === 'in' || op === 'intersects') {
        const set = new Set(bools);
        return (v) => set.has(v === true);
      }
      return failOp();
    }
    case 'net': {
      if (op !== '=' && op !== '==' && op !== 'in' && op !== 'intersects') return failOp();
      const nets = values.map(
        (v) => parseCidr(v) ?? failValue('expected an address or network (a.b.c.d/n)', v),
      );
      return (v) => {
        const ip = parseIp(str(v));
        if (!ip) return false;
        for (const n of nets) if (inCidr(ip, n)) return true;
        return false;
      };
    }
    case 'ip': {
      if (op === '=' || op === '==' || op === 'in' || op === 'intersects') {
        const set = new Set(
          values.map((v) => {
            if (!parseIp(v)) failValue('expected an IP address', v);
            return normalizeIp(v);
          }),
        );
        return (v) => set.has(str(v));
      }
      return stringTest(f, op, values, x, failValue, failOp);
    }
    default:
      return stringTest(f, op, values, x, failValue, failOp);
  }
}

function stringTest(
  _f: ResolvedField,
  op: Exclude<CmpOp, 'exists' | '!='>,
  values: string[],
  x: string,
  failValue: (reason: string, token: string) => never,
  failOp: () => never,
): Test {
  switch (op) {
    case '=':
    case '==':
      return (v) => str(v) === x;
    case 'contains':
      return (v) => str(v).includes(x);
    case 'icontains': {
      const lx = x.toLowerCase();
      return (v) => str(v).toLowerCase().includes(lx);
    }
    case 'bcontains': {
      const b = hexBytes(x, failValue);
      return (v) => str(v).includes(b);
    }
    case 'startswith':
      return (v) => str(v).startsWith(x);
    case 'bstartswith': {
      const b = hexBytes(x, failValue);
      return (v) => str(v).startsWith(b);
    }
    case 'endswith':
      return (v) => str(v).endsWith(x);
    case 'glob':
    case 'iglob': {
      const re = globToRegExp(x, op === 'iglob');
      return (v) => re.test(str(v));
    }
    case 'regex': {
      let re: RegExp;
      try {
        // RE2 and Falco match the whole value (ANCHOR_BOTH).
        re = new RegExp(`^(?:${x})$`);
      } catch (err) {
        return failValue(`invalid regular expression: ${(err as Error).message}`, x);
      }
      return (v) => re.test(str(v));
    }
    case 'in':
    case 'intersects': {
      if (values.length === 1) return (v) => str(v) === x;
      const set = new Set(values);
      return (v) => set.has(str(v));
    }
    case 'pmatch': {
      // Path prefix match: equal to, or below, any listed directory.
      const prefixes = values.map((p) => (p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p));
      return (v) => {
        const s = str(v);
        for (const p of prefixes) {
          if (s === p) return true;
          if (s.startsWith(p) && (p === '/' || s.charCodeAt(p.length) === 47)) return true;
        }
        return false;
      };
    }
    default:
      return failOp();
  }
}
