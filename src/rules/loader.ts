// SPDX-License-Identifier: Apache-2.0
// Falco rules YAML loader: lists, macros and rules across files, append/override, exceptions, then compile into a RuleSet.

import {
  type Document,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type YAMLMap,
  type Node as YamlNode,
} from 'yaml';
import type { Priority } from '../events/types.js';
import { mitreFromTags } from './alert.js';
import { type Compiled, type CompileHost, Compiler, type SourceRef } from './compile.js';
import { RuleError, type RuleErrorCode } from './errors.js';
import type { FieldContext } from './fields.js';
import { maskToKinds } from './kinds.js';
import { compileOutput, OutputError } from './output.js';
import {
  type CmpOp,
  type Node,
  type NodeLoc,
  ParseError,
  parseCondition,
  unquoteItem,
  type ValueItem,
} from './parser.js';
import { type CompiledRule, type LoadWarning, parsePriority, RuleSet } from './ruleset.js';
import { systemUserDb, type UserDb } from './users.js';

/** One rules file: its path (for messages) and its text. */
export interface RuleFile {
  path: string;
  text: string;
}

export interface LoadOptions {
  /** uid/gid names; default: the host's /etc/passwd and /etc/group. */
  users?: UserDb;
  /** Enabled rules below this priority are loaded and validated but not evaluated (Falco's -o priority). Default DEBUG. */
  minPriority?: Priority;
}

// ---------------------------------------------------------------------------
// Source bookkeeping: YAML nodes to file:line, condition text offsets to file:line

interface FileCtx {
  path: string;
  text: string;
  lc: LineCounter;
  doc: Document;
}

function lineOf(fc: FileCtx, node: YamlNode | null | undefined): number {
  const r = node?.range;
  return r ? fc.lc.linePos(r[0]).line : 0;
}

/** One stretch of condition/output text from one YAML scalar (appends add more pieces). */
interface Piece {
  text: string;
  fc: FileCtx;
  node: YamlNode | undefined;
  line: number;
}

class CondSource implements SourceRef {
  constructor(
    readonly item: string,
    readonly pieces: Piece[],
  ) {}

  get text(): string {
    return this.pieces.map((p) => p.text).join(' ');
  }

  locate(pos: number, token: string): { file: string; line: number } {
    let off = 0;
    for (const p of this.pieces) {
      if (pos <= off + p.text.length) return locateIn(p, pos - off, token);
      off += p.text.length + 1;
    }
    const last = this.pieces[this.pieces.length - 1];
    return { file: last.fc.path, line: last.line };
  }
}

/**
 * Line of `token` at `offset` in a piece's parsed text. Folded YAML scalars
 * change whitespace, so find the same occurrence (k-th) of the token in the
 * raw source of the scalar.
 */
function locateIn(p: Piece, offset: number, token: string): { file: string; line: number } {
  const file = p.fc.path;
  const range = p.node?.range;
  if (!range || !token) return { file, line: p.line };
  let k = 0;
  for (let i = p.text.indexOf(token); i >= 0 && i < offset; i = p.text.indexOf(token, i + 1)) k++;
  const raw = p.fc.text.slice(range[0], range[1]);
  let j = raw.indexOf(token);
  for (let n = 0; n < k && j >= 0; n++) j = raw.indexOf(token, j + 1);
  if (j < 0) return { file, line: p.line };
  return { file, line: p.fc.lc.linePos(range[0] + j).line };
}

// ---------------------------------------------------------------------------
// Definitions accumulated across files

interface ListDef {
  name: string;
  items: string[];
  fc: FileCtx;
  line: number;
}

interface MacroDef {
  name: string;
  cond: CondSource;
  fc: FileCtx;
  line: number;
  source: string;
  ast?: Node;
}

interface ExceptionDef {
  name: string;
  fields: unknown;
  comps: unknown;
  values: unknown[];
  fc: FileCtx;
  line: number;
}

interface RuleDef {
  name: string;
  cond: CondSource;
  output: Piece[];
  desc: string;
  priority: Priority;
  tags: string[];
  enabled: boolean;
  exceptions: ExceptionDef[];
  source: string;
  fc: FileCtx;
  line: number;
  skipIfUnknown: boolean;
}

const RULE_KEYS = new Set([
  'rule',
  'condition',
  'output',
  'desc',
  'priority',
  'tags',
  'enabled',
  'exceptions',
  'source',
  'append',
  'override',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
]);
const APPENDABLE = new Set(['condition', 'output', 'desc', 'tags', 'exceptions']);
const REPLACEABLE = new Set([
  'condition',
  'output',
  'desc',
  'priority',
  'tags',
  'exceptions',
  'enabled',
  'warn_evttypes',
  'skip-if-unknown-filter',
  'capture',
  'capture_duration',
]);
const CMP_OPS = new Set<string>([
  '=',
  '==',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'contains',
  'icontains',
  'bcontains',
  'startswith',
  'bstartswith',
  'endswith',
  'glob',
  'iglob',
  'regex',
  'in',
  'intersects',
  'pmatch',
]);
const LIST_OPS = new Set<string>(['in', 'intersects', 'pmatch']);

class Loader {
  readonly lists = new Map<string, ListDef>();
  readonly macros = new Map<string, MacroDef>();
  readonly rules = new Map<string, RuleDef>();
  readonly warnings: LoadWarning[] = [];

  private err(
    fc: FileCtx,
    node: YamlNode | null | undefined,
    item: string,
    token: string,
    reason: string,
    code: RuleErrorCode = 'schema',
  ): never {
    throw new RuleError({ file: fc.path, line: lineOf(fc, node), rule: item, token, reason, code });
  }

  private warn(fc: FileCtx, line: number, rule: string, message: string, fields?: string[]): void {
    this.warnings.push({ file: fc.path, line, rule, message, ...(fields ? { fields } : {}) });
  }

  addFile(file: RuleFile): void {
    const lc = new LineCounter();
    let doc: Document;
    try {
      doc = parseDocument(file.text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
    } catch (err) {
      throw new RuleError({
        file: file.path,
        line: 0,
        rule: '',
        token: '',
        reason: `yaml: ${(err as Error).message}`,
        code: 'yaml',
      });
    }
    const fc: FileCtx = { path: file.path, text: file.text, lc, doc };
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
      const msg = e.message.split('\n')[0];
      throw new RuleError({
        file: file.path,
        line,
        rule: '',
        token: '',
        reason: `yaml: ${msg}`,
        code: 'yaml',
      });
    }
    const root = doc.contents;
    if (root === null || root === undefined) return;
    if (isScalar(root) && (root.value === null || root.value === '')) return;
    if (!isSeq(root))
      this.err(
        fc,
        root as YamlNode,
        '',
        '',
        'a rules file is a list of items (- rule: ..., - macro: ..., - list: ...)',
      );
    for (const item of root.items) {
      if (!isMap(item))
        this.err(fc, item as YamlNode, '', '', 'each item must be a mapping with rule, macro or list');
      this.addItem(fc, item);
    }
  }

  private toJS(fc: FileCtx, node: unknown): unknown {
    if (node === null || node === undefined) return undefined;
    try {
      return (node as { toJS(doc: Document, opts?: object): unknown }).toJS(fc.doc, { maxAliasCount: 100 });
    } catch (err) {
      this.err(fc, node as YamlNode, '', '', `yaml: ${(err as Error).message}`, 'yaml');
    }
  }

  private addItem(fc: FileCtx, map: YAMLMap): void {
    const keys: string[] = [];
    const nodes = new Map<string, YamlNode | null>();
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (k === undefined) this.err(fc, pair.key as YamlNode, '', '', 'item keys must be plain strings');
      keys.push(k);
      nodes.set(k, (pair.value as YamlNode | null) ?? null);
    }
    const val = (k: string) => this.toJS(fc, nodes.get(k));
    const at = (k: string): YamlNode | undefined => nodes.get(k) ?? (map as unknown as YamlNode);
    if (nodes.has('rule')) {
      this.addRule(fc, map, keys, nodes, val, at);
      return;
    }
    if (nodes.has('macro')) {
      this.addMacro(fc, map, keys, val, at, nodes);
      return;
    }
    if (nodes.has('list')) {
      this.addList(fc, keys, val, at);
      return;
    }
    if (nodes.has('required_engine_version')) return;
    if (nodes.has('required_plugin_versions')) {
      this.warn(
        fc,
        lineOf(fc, at('required_plugin_versions')),
        '',
        'required_plugin_versions accepted and ignored: Peregrine has no plugins',
      );
      return;
    }
    this.err(
      fc,
      map as unknown as YamlNode,
      '',
      keys[0] ?? '',
      `unknown item '${keys[0] ?? ''}': expected rule, macro, list or required_engine_version`,
    );
  }

  private name(fc: FileCtx, v: unknown, node: YamlNode | undefined, what: string): string {
    if (typeof v !== 'string' || v.trim() === '')
      this.err(fc, node, '', String(v ?? ''), `${what} name must be a non-empty string`);
    return v.trim();
  }

  private piece(fc: FileCtx, v: unknown, node: YamlNode | undefined, item: string, key: string): Piece {
    if (typeof v !== 'string') this.err(fc, node, item, key, `'${key}' must be a string`);
    return { text: v.trim(), fc, node, line: lineOf(fc, node) };
  }

  private override(
    fc: FileCtx,
    v: unknown,
    node: YamlNode | undefined,
    item: string,
    allowedAppend: Set<string>,
    allowedReplace: Set<string>,
  ) {
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      this.err(fc, node, item, 'override', "'override' must be a mapping of key: append|replace");
    const out = new Map<string, 'append' | 'replace'>();
    for (const [k, mode] of Object.entries(v as Record<string, unknown>)) {
      if (mode !== 'append' && mode !== 'replace')
        this.err(fc, node, item, String(mode), `override of '${k}' must be append or replace`);
      const ok = mode === 'append' ? allowedAppend : allowedReplace;
      if (!ok.has(k)) this.err(fc, node, item, k, `'${k}' cannot be overridden with ${mode}`);
      out.set(k, mode);
    }
    return out;
  }

  private addList(
    fc: FileCtx,
    keys: string[],
    val: (k: string) => unknown,
    at: (k: string) => YamlNode | undefined,
  ): void {
    const name = this.name(fc, val('list'), at('list'), 'list');
    const raw = val('items');
    if (raw !== undefined && raw !== null && !Array.isArray(raw))
      this.err(fc, at('items'), name, 'items', "'items' must be a list");
    const items = ((raw as unknown[] | null | undefined) ?? []).map((x) => {
      if (x === null || typeof x === 'object')
        this.err(fc, at('items'), name, String(x), 'list items must be strings or numbers');
      return String(x);
    });
    const ov = this.override(
      fc,
      val('override'),
      at('override'),
      name,
      new Set(['items']),
      new Set(['items']),
    );
    const append = val('append') === true || ov?.get('items') === 'append';
    for (const k of keys)
      if (!['list', 'items', 'append', 'override'].includes(k))
        this.warn(fc, lineOf(fc, at(k)), name, `unknown key '${k}' ignored`);
    const existing = this.lists.get(name);
    if (append || ov) {
      if (!existing)
        this.err(
          fc,
          at('list'),
          name,
          name,
          `list '${name}' is appended/overridden but no list by that name exists`,
          'reference',
        );
      if (append) existing.items.push(...items);
      else existing.items = items;
      return;
    }
    this.lists.set(name, { name, items, fc, line: lineOf(fc, at('list')) });
  }

  private addMacro(
    fc: FileCtx,
    _map: YAMLMap,
    keys: string[],
    val: (k: string) => unknown,
    at: (k: string) => YamlNode | undefined,
    nodes: Map<string, YamlNode | null>,
  ): void {
    const name = this.name(fc, val('macro'), at('macro'), 'macro');
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name))
      this.err(fc, at('macro'), name, name, 'macro names are identifiers: letters, digits and _');
    const source = typeof val('source') === 'string' ? (val('source') as string) : 'syscall';
    const ov = this.override(
      fc,
      val('override'),
      at('override'),
      name,
      new Set(['condition']),
      new Set(['condition']),
    );
    for (const k of keys)
      if (!['macro', 'condition', 'append', 'override', 'source'].includes(k))
        this.warn(fc, lineOf(fc, at(k)), name, `unknown key '${k}' ignored`);
    if (!nodes.has('condition'))
      this.err(fc, at('macro'), name, 'condition', `macro '${name}' has no condition`);
    const piece = this.piece(fc, val('condition'), at('condition'), name, 'condition');
    const existing = this.macros.get(name);
    const append = val('append') === true || ov?.get('condition') === 'append';
    if (append || ov) {
      if (!existing)
        this.err(
          fc,
          at('macro'),
          name,
          name,
          `macro '${name}' is appended/overridden but no macro by that name exists`,
          'reference',
        );
      if (append) existing.cond.pieces.push(piece);
      else existing.cond = new CondSource(name, [piece]);
      existing.ast = undefined;
      return;
    }
    this.macros.set(name, {
      name,
      cond: new CondSource(name, [piece]),
      fc,
      line: lineOf(fc, at('macro')),
      source,
    });
  }

  private exceptions(fc: FileCtx, v: unknown, node: YamlNode | undefined, item: string): ExceptionDef[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.err(fc, node, item, 'exceptions', "'exceptions' must be a list");
    const seq = isSeq(node) ? node.items : [];
    return v.map((ex, i) => {
      const exNode = (seq[i] as YamlNode | undefined) ?? node;
      if (typeof ex !== 'object' || ex === null || Array.isArray(ex))
        this.err(fc, exNode, item, 'exceptions', 'each exception must be a mapping');
      const e = ex as Record<string, unknown>;
      if (typeof e.name !== 'string' || !e.name)
        this.err(fc, exNode, item, 'name', 'each exception needs a name');
      const values = e.values ?? [];
      if (!Array.isArray(values))
        this.err(fc, exNode, item, e.name, `exception '${e.name}': values must be a list`);
      return { name: e.name, fields: e.fields, comps: e.comps, values, fc, line: lineOf(fc, exNode) };
    });
  }

  private mergeExceptions(into: ExceptionDef[], add: ExceptionDef[]): void {
    for (const ex of add) {
      const same = into.find((x) => x.name === ex.name);
      if (same) same.values = [...same.values, ...ex.values];
      else into.push(ex);
    }
  }

  private tags(fc: FileCtx, v: unknown, node: YamlNode | undefined, item: string): string[] {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) this.err(fc, node, item, 'tags', "'tags' must be a list");
    return v.map((t) => String(t));
  }

  private priority(fc: FileCtx, v: unknown, node: YamlNode | undefined, item: string): Priority {
    const p = typeof v === 'string' ? parsePriority(v) : undefined;
    if (!p)
      this.err(
        fc,
        node,
        item,
        String(v),
        'priority must be one of EMERGENCY, ALERT, CRITICAL, ERROR, WARNING, NOTICE, INFO(RMATIONAL), DEBUG',
      );
    return p;
  }

  private bool(fc: FileCtx, v: unknown, node: YamlNode | undefined, item: string, key: string): boolean {
    if (typeof v !== 'boolean') this.err(fc, node, item, String(v), `'${key}' must be true or false`);
    return v;
  }

  private addRule(
    fc: FileCtx,
    map: YAMLMap,
    keys: string[],
    nodes: Map<string, YamlNode | null>,
    val: (k: string) => unknown,
    at: (k: string) => YamlNode | undefined,
  ): void {
    const name = this.name(fc, val('rule'), at('rule'), 'rule');
    for (const k of keys)
      if (!RULE_KEYS.has(k)) this.warn(fc, lineOf(fc, at(k)), name, `unknown key '${k}' ignored`);
    const existing = this.rules.get(name);
    const ov = this.override(fc, val('override'), at('override'), name, APPENDABLE, REPLACEABLE);
    if (ov) {
      if (!existing)
        this.err(
          fc,
          at('rule'),
          name,
          name,
          `rule '${name}' has override but no rule by that name exists`,
          'reference',
        );
      for (const k of keys) {
        if (k !== 'rule' && k !== 'override' && !ov.has(k))
          this.err(fc, at(k), name, k, `key '${k}' must be listed in override to change an existing rule`);
      }
      for (const [k, mode] of ov) {
        if (!nodes.has(k))
          this.err(fc, at('override'), name, k, `override names '${k}' but the item has no '${k}'`);
        this.applyRuleKey(fc, existing, k, mode, val(k), at(k), name);
      }
      return;
    }
    if (val('append') === true) {
      if (!existing)
        this.err(
          fc,
          at('rule'),
          name,
          name,
          `rule '${name}' has append: true but no rule by that name exists`,
          'reference',
        );
      for (const k of keys) {
        if (k === 'rule' || k === 'append') continue;
        if (k === 'condition' || k === 'exceptions')
          this.applyRuleKey(fc, existing, k, 'append', val(k), at(k), name);
        else
          this.warn(
            fc,
            lineOf(fc, at(k)),
            name,
            `'${k}' ignored with append: true (only condition and exceptions append; use override)`,
          );
      }
      return;
    }
    const onlyEnabled = keys.every((k) => k === 'rule' || k === 'enabled');
    if (onlyEnabled && nodes.has('enabled')) {
      if (!existing)
        this.err(
          fc,
          at('rule'),
          name,
          name,
          `rule '${name}' sets enabled but no rule by that name exists`,
          'reference',
        );
      existing.enabled = this.bool(fc, val('enabled'), at('enabled'), name, 'enabled');
      return;
    }
    for (const k of ['condition', 'output', 'desc', 'priority']) {
      if (!nodes.has(k)) this.err(fc, map as unknown as YamlNode, name, k, `rule '${name}' has no '${k}'`);
    }
    const source = val('source') === undefined ? 'syscall' : String(val('source'));
    const def: RuleDef = {
      name,
      cond: new CondSource(name, [this.piece(fc, val('condition'), at('condition'), name, 'condition')]),
      output: [this.piece(fc, val('output'), at('output'), name, 'output')],
      desc: typeof val('desc') === 'string' ? (val('desc') as string).trim() : String(val('desc') ?? ''),
      priority: this.priority(fc, val('priority'), at('priority'), name),
      tags: this.tags(fc, val('tags'), at('tags'), name),
      enabled: nodes.has('enabled') ? this.bool(fc, val('enabled'), at('enabled'), name, 'enabled') : true,
      exceptions: this.exceptions(fc, val('exceptions'), at('exceptions'), name),
      source,
      fc,
      line: lineOf(fc, at('rule')),
      skipIfUnknown: val('skip-if-unknown-filter') === true,
    };
    if (existing) {
      // Redefinition replaces in place, keeping the rule's original position.
      Object.assign(existing, def);
    } else this.rules.set(name, def);
  }

  private applyRuleKey(
    fc: FileCtx,
    r: RuleDef,
    k: string,
    mode: 'append' | 'replace',
    v: unknown,
    node: YamlNode | undefined,
    name: string,
  ): void {
    switch (k) {
      case 'condition': {
        const p = this.piece(fc, v, node, name, k);
        if (mode === 'append') r.cond.pieces.push(p);
        else r.cond = new CondSource(name, [p]);
        return;
      }
      case 'output': {
        const p = this.piece(fc, v, node, name, k);
        if (mode === 'append') r.output.push(p);
        else r.output = [p];
        return;
      }
      case 'desc':
        r.desc = mode === 'append' ? `${r.desc} ${String(v ?? '').trim()}` : String(v ?? '').trim();
        return;
      case 'tags': {
        const t = this.tags(fc, v, node, name);
        r.tags = mode === 'append' ? [...r.tags, ...t] : t;
        return;
      }
      case 'exceptions': {
        const ex = this.exceptions(fc, v, node, name);
        if (mode === 'append') this.mergeExceptions(r.exceptions, ex);
        else r.exceptions = ex;
        return;
      }
      case 'priority':
        r.priority = this.priority(fc, v, node, name);
        return;
      case 'enabled':
        r.enabled = this.bool(fc, v, node, name, k);
        return;
      case 'skip-if-unknown-filter':
        r.skipIfUnknown = v === true;
        return;
      default:
        return;
    }
  }

  // -------------------------------------------------------------------------
  // Compile

  build(options: LoadOptions): RuleSet {
    const counter = { n: 0 };
    const ctx: FieldContext = { users: options.users ?? systemUserDb(), eventNumber: () => counter.n };
    const listCache = new Map<string, Array<{ v: string; quoted: boolean }>>();
    const resolveList = (
      name: string,
      stack: string[],
    ): Array<{ v: string; quoted: boolean }> | undefined => {
      const cached = listCache.get(name);
      if (cached) return cached;
      const def = this.lists.get(name);
      if (!def) return undefined;
      const out: Array<{ v: string; quoted: boolean }> = [];
      for (const raw of def.items) {
        const u = unquoteItem(raw);
        const nested =
          !u.quoted && !stack.includes(u.v) && this.lists.has(u.v)
            ? resolveList(u.v, [...stack, name])
            : undefined;
        if (nested) out.push(...nested);
        else out.push(u);
      }
      listCache.set(name, out);
      return out;
    };
    const host: CompileHost = {
      ctx,
      list: (name) => resolveList(name, []),
      macro: (name) => {
        const m = this.macros.get(name);
        if (m?.source !== 'syscall') return undefined;
        m.ast ??= parseSource(m.cond);
        return { ast: m.ast, src: m.cond };
      },
    };
    const compiler = new Compiler(host);

    // Every syscall macro parses and compiles, used or not: typos surface at load.
    for (const m of this.macros.values()) {
      if (m.source !== 'syscall') continue;
      compiler.compileMacro(m.name, {
        src: m.cond,
        pos: 0,
        loc: { file: m.fc.path, line: m.line, token: m.name },
      });
    }

    const compiled: CompiledRule[] = [];
    const skippedBySource: Record<string, number> = {};
    let skippedOther = 0;
    for (const r of this.rules.values()) {
      if (r.source !== 'syscall') {
        skippedBySource[r.source] = (skippedBySource[r.source] ?? 0) + 1;
        this.warn(r.fc, r.line, r.name, `source '${r.source}' is not observed by Peregrine: rule skipped`);
        continue;
      }
      let c: Compiled;
      try {
        const ast = parseSource(r.cond);
        const exc = r.exceptions
          .map((ex) => exceptionNode(ex, r.name))
          .filter((n): n is Node => n !== undefined);
        c = compiler.compile(exc.length ? { t: 'and', items: [ast, ...exc] } : ast, r.cond);
      } catch (err) {
        if (err instanceof RuleError && err.code === 'unknown_field' && r.skipIfUnknown) {
          skippedOther++;
          this.warn(r.fc, r.line, r.name, `skipped (skip-if-unknown-filter): ${err.reason}`);
          continue;
        }
        throw err;
      }
      const outText = r.output.map((p) => p.text).join(' ');
      let output: ReturnType<typeof compileOutput>;
      try {
        output = compileOutput(outText, ctx);
      } catch (err) {
        if (err instanceof OutputError) {
          const src = new CondSource(r.name, r.output);
          const loc = src.locate(err.offset, err.token);
          throw new RuleError({
            file: loc.file,
            line: loc.line,
            rule: r.name,
            token: err.token,
            reason: `output: ${err.message}`,
            code: 'unknown_field',
          });
        }
        throw err;
      }
      const unsupported = [...c.unsupported].sort();
      if (unsupported.length) {
        this.warn(
          r.fc,
          r.line,
          r.name,
          `not fully evaluable: ${unsupported.join(', ')} cannot be filled from Peregrine events (comparisons on them are false)`,
          unsupported,
        );
      }
      if (c.unknownSyscalls.size) {
        this.warn(
          r.fc,
          r.line,
          r.name,
          `evt.type ${[...c.unknownSyscalls].join(', ')}: no Peregrine event kind answers to it`,
        );
      }
      if (c.mask === 0)
        this.warn(
          r.fc,
          r.line,
          r.name,
          'never evaluated: its evt.type constraints match no Peregrine event kind',
        );
      const mitre = mitreFromTags(r.tags);
      compiled.push({
        name: r.name,
        desc: r.desc,
        priority: r.priority,
        tags: r.tags,
        ...(mitre ? { mitre } : {}),
        enabled: r.enabled,
        file: r.fc.path,
        line: r.line,
        kinds: [],
        evaluable: unsupported.length === 0 && c.mask !== 0,
        unsupportedFields: unsupported,
        unsupportedOutputFields: [...new Set(output.unsupported)].sort(),
        fields: [...c.fields].sort(),
        fn: c.fn,
        spec: c.spec,
        mask: c.mask,
        output,
        evaluations: 0,
        matches: 0,
        errors: 0,
      });
    }
    const set = new RuleSet({
      rules: compiled,
      warnings: this.warnings,
      skippedBySource,
      skippedOther,
      minPriority: options.minPriority ?? 'DEBUG',
      eventCounter: counter,
    });
    // kinds per rule, for reports
    for (const r of compiled) r.kinds = maskToKinds(r.mask);
    return set;
  }
}

function parseSource(src: CondSource): Node {
  try {
    return parseCondition(src.text);
  } catch (err) {
    if (err instanceof ParseError) {
      const { file, line } = src.locate(err.pos, err.token);
      throw new RuleError({
        file,
        line,
        rule: src.item,
        token: err.token,
        reason: err.message,
        code: 'syntax',
      });
    }
    throw err;
  }
}

function splitField(s: string): { field: string; arg: string | undefined } | undefined {
  const m = /^([a-zA-Z][a-zA-Z0-9_.]*)(?:\[([^\]]+)\])?$/.exec(s.trim());
  return m ? { field: m[1], arg: m[2] } : undefined;
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Falco exceptions: each becomes `and not (...)`; tuples OR together, fields in a tuple AND together. */
function exceptionNode(ex: ExceptionDef, rule: string): Node | undefined {
  const loc: NodeLoc = { file: ex.fc.path, line: ex.line, token: ex.name };
  const fail: (reason: string, token?: string) => never = (reason, token = ex.name) => {
    throw new RuleError({
      file: ex.fc.path,
      line: ex.line,
      rule,
      token,
      reason: `exception '${ex.name}': ${reason}`,
      code: 'schema',
    });
  };
  if (ex.values.length === 0) return undefined;
  const item = (v: unknown): ValueItem => {
    const s = scalarText(v);
    if (s === undefined) fail('values must be strings or numbers', JSON.stringify(v) ?? '');
    return { v: s, quoted: false, pos: -1 };
  };
  const check = (fieldText: unknown, comp: unknown, v: unknown): Node => {
    if (typeof fieldText !== 'string') fail('fields must be strings');
    const f = splitField(fieldText);
    if (!f) fail(`bad field '${fieldText}'`, fieldText);
    if (typeof comp !== 'string' || !CMP_OPS.has(comp))
      fail(`unknown comparison '${String(comp)}'`, String(comp));
    const op = comp as CmpOp;
    const base = {
      t: 'check' as const,
      field: f.field,
      arg: f.arg,
      pos: -1,
      op,
      opPos: -1,
      loc: { ...loc, token: fieldText },
    };
    if (LIST_OPS.has(op)) return { ...base, list: Array.isArray(v) ? v.map(item) : [item(v)] };
    if (Array.isArray(v)) fail(`comparison '${op}' takes one value, not a list`, fieldText);
    return { ...base, value: item(v) };
  };
  let node: Node;
  if (typeof ex.fields === 'string') {
    const comp = ex.comps === undefined ? 'in' : ex.comps;
    if (typeof comp === 'string' && LIST_OPS.has(comp)) node = check(ex.fields, comp, ex.values.flat());
    else node = { t: 'or', items: ex.values.map((v) => check(ex.fields, comp, v)) };
  } else if (Array.isArray(ex.fields)) {
    const fields = ex.fields as unknown[];
    if (fields.length === 0) fail('fields is empty');
    let comps: unknown[];
    if (ex.comps === undefined) comps = fields.map(() => '=');
    else if (Array.isArray(ex.comps)) comps = ex.comps;
    else comps = fail('comps must be a list when fields is a list');
    if (comps.length !== fields.length) fail(`${fields.length} fields but ${comps.length} comps`);
    const tuples = ex.values.map((t) => {
      if (!Array.isArray(t))
        fail('each value must be a list with one entry per field', JSON.stringify(t) ?? '');
      if (t.length !== fields.length)
        fail(`value has ${t.length} entries for ${fields.length} fields`, JSON.stringify(t) ?? '');
      const parts = fields.map((f, i) => check(f, comps[i], t[i]));
      return parts.length === 1 ? parts[0] : ({ t: 'and', items: parts } as Node);
    });
    node = tuples.length === 1 ? tuples[0] : { t: 'or', items: tuples };
  } else return fail('fields must be a field name or a list of field names');
  return { t: 'not', item: node };
}

/**
 * Load Falco-format rules files, in order (later files append to or override
 * earlier ones), and compile them. Throws RuleError for the first problem:
 * a bad file is rejected whole and no RuleSet is produced.
 */
export function loadRules(files: RuleFile[], options: LoadOptions = {}): RuleSet {
  const loader = new Loader();
  for (const f of files) loader.addFile(f);
  return loader.build(options);
}
