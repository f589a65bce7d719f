// SPDX-License-Identifier: Apache-2.0
// The policy loader: YAML text, files and directories to validated Policy objects, every problem a
// PolicyError located by file, line and field path. A file that does not validate is rejected whole.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseAllDocuments } from 'yaml';
import { formatPath, locate, type Seg } from '../config/yaml-path.js';
import type { EventKind } from '../events/types.js';
import { CAPABILITY_NAMES } from '../process/capabilities.js';
import { packageRoot } from '../sensors/paths.js';
import { PolicyError, type PolicyErrorCode } from './errors.js';
import {
  API_VERSION,
  EVENT_KINDS,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  MAX_VALUES_PER_FILE,
  policySchema,
  SELECTOR_KINDS,
  UNENFORCEABLE_KINDS,
} from './schema.js';
import type { InNotIn, PathSelector, Policy, PolicyRule, RuleMatch } from './types.js';

export interface LoadOptions {
  /** Cap on values in all match lists of one file together; default MAX_VALUES_PER_FILE (1,000,000). */
  maxValuesPerFile?: number;
  /** Mode of a policy whose spec does not set one (`run --default-mode`); default enforce. */
  defaultMode?: 'enforce' | 'monitor';
}

/** What `peregrine policy validate` prints: every error, and the policies of the files that validated. */
export interface ValidationResult {
  ok: boolean;
  /** Ordered by file (load order), then line. */
  errors: PolicyError[];
  /** Policies of the files without any error, in load order. */
  policies: Policy[];
}

/** Errors reported per file at most (the first ones by line); a note says how many more there were. */
const MAX_ERRORS_PER_FILE = 1000;

// ---------------------------------------------------------------------------
// Public API

/** Policies in `text` (one or more YAML documents); throws the first PolicyError by line. */
export function loadPolicyText(text: string, file: string, options: LoadOptions = {}): Policy[] {
  return unwrap(validatePolicyText(text, file, options));
}

/** Policies in a file, or in every *.yaml / *.yml of a directory (sorted by name); throws the first PolicyError. */
export function loadPolicyPath(pathOrDir: string, options: LoadOptions = {}): Policy[] {
  return unwrap(validatePolicyPath(pathOrDir, options));
}

/** Every error in `text`, and its policies when there is none. */
export function validatePolicyText(text: string, file: string, options: LoadOptions = {}): ValidationResult {
  return finish([checkFile(text, file, options)]);
}

/** Every error in a file or directory; policies of the files that validated. */
export function validatePolicyPath(pathOrDir: string, options: LoadOptions = {}): ValidationResult {
  let files: string[];
  try {
    files = policyFiles(pathOrDir);
  } catch (e) {
    return { ok: false, errors: [e as PolicyError], policies: [] };
  }
  const results: FileResult[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      results.push({ file, policies: [], nameLines: [], errors: [ioError(file, e)] });
      continue;
    }
    results.push(checkFile(text, file, options));
  }
  return finish(results);
}

/**
 * The files `loadPolicyPath` reads: the file itself, or a directory's
 * *.yaml and *.yml files sorted by name. Dot-files are skipped (editor
 * leftovers, and a Kubernetes ConfigMap mount's `..data` entries); symlinks
 * are followed, so a mounted ConfigMap loads each key once.
 */
export function policyFiles(pathOrDir: string): string[] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(pathOrDir);
  } catch (e) {
    throw ioError(pathOrDir, e);
  }
  if (!st.isDirectory()) return [pathOrDir];
  const out: string[] = [];
  for (const name of readdirSync(pathOrDir).sort()) {
    if (name.startsWith('.') || !/\.ya?ml$/.test(name)) continue;
    const p = join(pathOrDir, name);
    try {
      if (!statSync(p).isFile()) continue;
    } catch {
      continue; // dangling symlink
    }
    out.push(p);
  }
  if (out.length === 0) {
    throw new PolicyError({
      file: pathOrDir,
      line: 0,
      field: '',
      reason: 'directory holds no *.yaml or *.yml files',
      code: 'io',
    });
  }
  return out;
}

/** The embedded default policy: <package>/policies/default.yaml. */
export function defaultPolicyPath(): string {
  return join(packageRoot(), 'policies', 'default.yaml');
}

/** The policies `peregrine run` loads when given none. */
export function loadDefaultPolicy(options: LoadOptions = {}): Policy[] {
  return loadPolicyPath(defaultPolicyPath(), options);
}

function unwrap(r: ValidationResult): Policy[] {
  if (!r.ok) throw r.errors[0];
  return r.policies;
}

function ioError(file: string, e: unknown): PolicyError {
  const err = e as NodeJS.ErrnoException;
  const reason = err.code ? `read: ${err.code.toLowerCase()} (${err.message})` : `read: ${String(e)}`;
  return new PolicyError({ file, line: 0, field: '', reason, code: 'io' });
}

// ---------------------------------------------------------------------------
// One file

interface FileResult {
  file: string;
  policies: Policy[];
  /** Line of each policy's metadata.name, for duplicate-name errors across the load set. */
  nameLines: number[];
  errors: PolicyError[];
}

interface Issue {
  path: Seg[];
  reason: string;
  code: PolicyErrorCode;
  /** Locate the key of the last segment rather than its value (unknown fields). */
  atKey?: boolean;
}

function checkFile(text: string, file: string, options: LoadOptions): FileResult {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const result: FileResult = { file, policies: [], nameLines: [], errors: [] };
  const cap = options.maxValuesPerFile ?? MAX_VALUES_PER_FILE;
  const budget: Budget = { cap, left: cap };
  let seen = 0;
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const reason = e.message.charAt(0).toLowerCase() + e.message.slice(1);
        result.errors.push(
          new PolicyError({ file, line: lc.linePos(e.pos[0]).line, field: '', reason, code: 'yaml' }),
        );
      }
      continue;
    }
    const data: unknown = doc.toJS({ maxAliasCount: 100 });
    if (data === null || data === undefined) continue; // empty: a leading or trailing '---', comments only
    seen++;
    const issues = checkDocument(data, budget);
    for (const issue of dedupe(issues)) {
      result.errors.push(
        new PolicyError({
          file,
          line: locate(doc, lc, issue.path, issue.atKey === true),
          field: formatPath(issue.path),
          reason: issue.reason,
          code: issue.code,
        }),
      );
    }
    if (issues.length === 0) {
      result.policies.push(buildPolicy(data as RawPolicy, file, options.defaultMode));
      result.nameLines.push(locate(doc, lc, ['metadata', 'name'], false));
    }
  }
  if (seen === 0 && result.errors.length === 0) {
    result.errors.push(
      new PolicyError({ file, line: 0, field: '', reason: 'file holds no Policy documents', code: 'schema' }),
    );
  }
  if (result.errors.length > 0) {
    result.policies = [];
    result.nameLines = [];
    result.errors.sort((a, b) => a.line - b.line); // stable: same-line errors keep their order
    if (result.errors.length > MAX_ERRORS_PER_FILE) {
      const more = result.errors.length - MAX_ERRORS_PER_FILE;
      result.errors.length = MAX_ERRORS_PER_FILE;
      result.errors.push(
        new PolicyError({ file, line: 0, field: '', reason: `${more} more errors not shown`, code: 'limit' }),
      );
    }
  }
  return result;
}

/** Across a load set: duplicate policy names reject the later file; then collect. */
function finish(results: FileResult[]): ValidationResult {
  const names = new Map<string, { file: string; line: number }>();
  for (const r of results) {
    const dups: PolicyError[] = [];
    const mine = new Map<string, { file: string; line: number }>();
    r.policies.forEach((p, i) => {
      const name = p.metadata.name;
      const first = names.get(name) ?? mine.get(name);
      if (first === undefined) {
        mine.set(name, { file: r.file, line: r.nameLines[i] });
        return;
      }
      const also = first.file === r.file ? `line ${first.line}` : `${first.file}:${first.line}`;
      dups.push(
        new PolicyError({
          file: r.file,
          line: r.nameLines[i],
          field: 'metadata.name',
          reason: `duplicate policy name "${name}" (also at ${also})`,
          code: 'duplicate',
        }),
      );
    });
    // A file with a duplicate is rejected whole and adds no names: a later file may reuse them.
    if (dups.length > 0) {
      r.errors.push(...dups);
      r.policies = [];
      continue;
    }
    for (const [name, at] of mine) names.set(name, at);
  }
  const errors = results.flatMap((r) => r.errors);
  return { ok: errors.length === 0, errors, policies: results.flatMap((r) => r.policies) };
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${formatPath(i.path)}\0${i.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ---------------------------------------------------------------------------
// One document: value cap, schema (ajv), then the checks a schema cannot say

let validateShape: ValidateFunction | undefined;

function shapeValidator(): ValidateFunction {
  if (validateShape === undefined) {
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
    ajv.addVocabulary(['errorReason']);
    validateShape = ajv.compile(policySchema);
  }
  return validateShape;
}

/** What is left of a file's value cap as its documents are checked. */
interface Budget {
  cap: number;
  left: number;
}

function checkDocument(data: unknown, budget: Budget): Issue[] {
  const issues: Issue[] = [];
  if (!countValues(data, budget, issues)) return issues;
  const validate = shapeValidator();
  if (!validate(data)) {
    for (const e of validate.errors ?? []) {
      const issue = fromAjv(e, data);
      if (issue !== undefined) issues.push(issue);
    }
  }
  checkSemantics(data, issues);
  return issues;
}

/** Spends the file's value budget on this document's match lists; false (and an issue) when it runs out. */
function countValues(data: unknown, budget: Budget, issues: Issue[]): boolean {
  if (budget.left < 0) return false; // reported once, on the document that crossed the cap
  const rules = isObject(data) && isObject(data.spec) ? data.spec.rules : undefined;
  if (!Array.isArray(rules)) return true;
  for (let i = 0; i < rules.length; i++) {
    const match = isObject(rules[i]) ? (rules[i] as Raw).match : undefined;
    if (!isObject(match)) continue;
    for (const [field, sel] of Object.entries(match)) {
      const lists: Array<[Seg[], unknown]> = Array.isArray(sel)
        ? [[[field], sel]]
        : isObject(sel)
          ? Object.entries(sel).map(([k, v]) => [[field, k], v])
          : [];
      for (const [sub, list] of lists) {
        if (!Array.isArray(list)) continue;
        if (list.length > budget.left) {
          const at = budget.left;
          issues.push({
            path: ['spec', 'rules', i, 'match', ...sub, at],
            reason: `more than ${budget.cap.toLocaleString('en-US')} values in this file's match lists`,
            code: 'limit',
          });
          budget.left = -1;
          return false;
        }
        budget.left -= list.length;
      }
    }
  }
  return true;
}

function fromAjv(e: ErrorObject, data: unknown): Issue | undefined {
  const path = pointerToPath(e.instancePath, data);
  const parent = (e.parentSchema ?? {}) as Record<string, unknown>;
  const props = Object.keys((parent.properties as object | undefined) ?? {});
  const got = describe(e.data);
  if (e.propertyName !== undefined) {
    // propertyNames: the inner error names the key; the outer 'propertyNames' error repeats it.
    return {
      path: [...path, e.propertyName],
      reason: `bad key: ${(parent.errorReason as string | undefined) ?? ajvText(e)}`,
      code: 'schema',
      atKey: true,
    };
  }
  switch (e.keyword) {
    case 'propertyNames':
      return undefined;
    case 'additionalProperties': {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      return {
        path: [...path, name],
        reason: `unknown field${suggest(name, props)}; allowed: ${props.join(', ')}`,
        code: 'unknown_field',
        atKey: true,
      };
    }
    case 'required': {
      const name = String((e.params as { missingProperty: string }).missingProperty);
      return { path: [...path, name], reason: 'required field missing', code: 'schema' };
    }
    case 'type': {
      const want = String((e.params as { type: string }).type);
      return { path, reason: `must be ${TYPE_WORDS[want] ?? want}, got ${got}`, code: 'schema' };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      if (allowed.length > 8) {
        const noun = allowed.includes('file.open') ? 'event kind' : 'value';
        return {
          path,
          reason: `unknown ${noun} ${got}${suggest(String(e.data), allowed)}`,
          code: 'schema',
        };
      }
      return { path, reason: `must be one of ${allowed.join(', ')}; got ${got}`, code: 'schema' };
    }
    case 'const':
      return {
        path,
        reason: `must be "${String((e.params as { allowedValue: unknown }).allowedValue)}", got ${got}`,
        code: 'schema',
      };
    case 'minItems':
      return { path, reason: 'must not be empty (leave the field out instead)', code: 'schema' };
    case 'minProperties':
      return { path, reason: `must set at least one of ${props.join(', ')}`, code: 'schema' };
    case 'minLength':
      return { path, reason: 'must not be empty', code: 'schema' };
    case 'maxLength':
      return {
        path,
        reason:
          (parent.errorReason as string | undefined) ??
          `longer than ${(e.params as { limit: number }).limit} characters`,
        code: 'schema',
      };
    case 'minimum':
    case 'maximum':
      return {
        path,
        reason: `must be between ${parent.minimum} and ${parent.maximum}, got ${got}`,
        code: 'schema',
      };
    case 'pattern':
      return { path, reason: (parent.errorReason as string | undefined) ?? ajvText(e), code: 'schema' };
    default:
      return { path, reason: ajvText(e), code: 'schema' };
  }
}

function ajvText(e: ErrorObject): string {
  return e.message ?? e.keyword;
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
};

/** A value as an error message shows it. */
function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

/** A JSON pointer from ajv as path segments; array indices become numbers. */
function pointerToPath(pointer: string, data: unknown): Seg[] {
  if (pointer === '') return [];
  const out: Seg[] = [];
  let cur: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      const i = Number(seg);
      out.push(i);
      cur = cur[i];
    } else {
      out.push(seg);
      cur = isObject(cur) ? cur[seg] : undefined;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Checks a schema cannot say. Written against the raw document so they also
// run when the schema found problems elsewhere (validate reports both).

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const KIND_SET = new Set<string>(EVENT_KINDS);
const ENFORCING = new Set(['deny', 'kill', 'signal']);

function checkSemantics(data: unknown, issues: Issue[]): void {
  if (!isObject(data) || !isObject(data.spec)) return;
  const spec = data.spec;
  if (isObject(spec.selector)) checkSelector(spec.selector, issues);
  if (!Array.isArray(spec.rules)) return;
  const names = new Map<string, number>();
  spec.rules.forEach((rule, i) => {
    if (!isObject(rule)) return;
    const at: Seg[] = ['spec', 'rules', i];
    const name = typeof rule.name === 'string' ? rule.name : `rule-${i}`;
    const prev = names.get(name);
    if (prev !== undefined) {
      issues.push({
        path: typeof rule.name === 'string' ? [...at, 'name'] : at,
        reason: `duplicate rule name "${name}" (also spec.rules[${prev}]${typeof rule.name === 'string' ? '' : ', the default name of this rule'})`,
        code: 'duplicate',
      });
    } else {
      names.set(name, i);
    }

    const kinds: EventKind[] = [];
    if (Array.isArray(rule.kinds)) {
      const seen = new Set<string>();
      rule.kinds.forEach((k, j) => {
        if (typeof k !== 'string' || !KIND_SET.has(k)) return;
        if (seen.has(k)) {
          issues.push({ path: [...at, 'kinds', j], reason: `duplicate kind "${k}"`, code: 'duplicate' });
        }
        seen.add(k);
        kinds.push(k as EventKind);
      });
    }
    if (isObject(rule.match)) checkMatch(rule.match, [...at, 'match'], kinds, issues);
    checkAction(rule, at, kinds, issues);
  });
}

function checkMatch(match: Raw, at: Seg[], kinds: readonly EventKind[], issues: Issue[]): void {
  for (const [field, applies] of Object.entries(SELECTOR_KINDS)) {
    if (match[field] === undefined || applies === undefined) continue;
    const off = kinds.filter((k) => !applies.kinds.includes(k));
    if (off.length > 0) {
      issues.push({
        path: [...at, field],
        reason: `applies only to ${applies.says}, not ${off.join(', ')}`,
        code: 'coherence',
      });
    }
  }

  if (isObject(match.paths)) {
    const paths = match.paths;
    for (const form of ['exact', 'prefix', 'glob'] as const) {
      eachString(paths[form], [...at, 'paths', form], issues, (s) => {
        if (!s.startsWith('/')) return 'must be an absolute path (start with "/")';
        if (s.includes('\0')) return 'must not contain a NUL byte';
        const bytes = Buffer.byteLength(s);
        if (bytes > MAX_PATH_BYTES) return `${bytes} bytes long; paths are at most ${MAX_PATH_BYTES} bytes`;
        if (form === 'glob') return globProblem(s);
        return undefined;
      });
    }
    eachString(paths.suffix, [...at, 'paths', 'suffix'], issues, (s) => {
      if (s.includes('/')) return 'a suffix is matched within the file name and must not contain "/"';
      const bytes = Buffer.byteLength(s);
      if (bytes > MAX_NAME_BYTES)
        return `${bytes} bytes long; file names are at most ${MAX_NAME_BYTES} bytes`;
      return undefined;
    });
  }

  for (const field of ['binaries', 'parentBinaries'] as const) {
    const sel = match[field];
    if (!isObject(sel)) continue;
    for (const side of ['in', 'notIn'] as const) {
      eachString(sel[side], [...at, field, side], issues, (s) => {
        const bytes = Buffer.byteLength(s);
        if (s.includes('/')) {
          if (!s.startsWith('/')) return 'must be a full path ("/usr/bin/curl") or a base name ("curl")';
          if (bytes > MAX_PATH_BYTES) return `${bytes} bytes long; paths are at most ${MAX_PATH_BYTES} bytes`;
        } else if (bytes > MAX_NAME_BYTES) {
          return `${bytes} bytes long; base names are at most ${MAX_NAME_BYTES} bytes`;
        }
        return undefined;
      });
    }
  }

  eachString(match.capabilities, [...at, 'capabilities'], issues, (s) => {
    if (normaliseCapability(s) !== undefined) return undefined;
    return `unknown capability "${s}"${suggest(capabilityKey(s), CAPABILITY_NAMES)}`;
  });

  if (isObject(match.addresses)) {
    for (const side of ['in', 'notIn'] as const) {
      eachString(match.addresses[side], [...at, 'addresses', side], issues, (s) => {
        const r = parseCidr(s);
        return 'reason' in r ? r.reason : undefined;
      });
    }
  }
}

function checkAction(rule: Raw, at: Seg[], kinds: readonly EventKind[], issues: Issue[]): void {
  const action = typeof rule.action === 'string' ? rule.action : 'audit';
  if (action === 'signal' && rule.signal === undefined) {
    issues.push({ path: [...at, 'signal'], reason: 'required with action signal', code: 'schema' });
  }
  if (action !== 'signal' && rule.signal !== undefined) {
    issues.push({ path: [...at, 'signal'], reason: 'only valid with action signal', code: 'coherence' });
  }
  if (typeof rule.signal === 'string' && normaliseSignal(rule.signal) === undefined) {
    issues.push({
      path: [...at, 'signal'],
      reason: `unknown signal "${rule.signal}"${suggest(signalKey(rule.signal), Object.keys(constants.signals))}`,
      code: 'value',
    });
  }
  if (rule.fallback !== undefined && !ENFORCING.has(action)) {
    issues.push({
      path: [...at, 'fallback'],
      reason: 'only valid with action deny, kill or signal (audit cannot fail)',
      code: 'coherence',
    });
  }
  if (rule.fallback === 'kill' && action === 'kill') {
    issues.push({
      path: [...at, 'fallback'],
      reason: 'action kill cannot fall back to kill',
      code: 'coherence',
    });
  }
  if (ENFORCING.has(action)) {
    const off = kinds.filter((k) => UNENFORCEABLE_KINDS.includes(k));
    if (off.length > 0) {
      issues.push({
        path: [...at, 'action'],
        reason: `${action} cannot act on ${off.join(', ')} (the process is already gone); use audit`,
        code: 'coherence',
      });
    }
  }
}

function checkSelector(sel: Raw, issues: Issue[]): void {
  if (!Array.isArray(sel.matchExpressions)) return;
  sel.matchExpressions.forEach((ex, i) => {
    if (!isObject(ex)) return;
    const at: Seg[] = ['spec', 'selector', 'matchExpressions', i];
    const has = Array.isArray(ex.values) && ex.values.length > 0;
    if ((ex.operator === 'In' || ex.operator === 'NotIn') && !has) {
      issues.push({
        path: [...at, 'values'],
        reason: `required with operator ${ex.operator}`,
        code: 'schema',
      });
    }
    if ((ex.operator === 'Exists' || ex.operator === 'DoesNotExist') && ex.values !== undefined) {
      issues.push({
        path: [...at, 'values'],
        reason: `not allowed with operator ${ex.operator}`,
        code: 'coherence',
      });
    }
  });
}

/** Runs `problem` on each string of a list (the schema reports non-strings); an answer is an issue at that item. */
function eachString(
  list: unknown,
  at: Seg[],
  issues: Issue[],
  problem: (s: string) => string | undefined,
): void {
  if (!Array.isArray(list)) return;
  for (let i = 0; i < list.length; i++) {
    const s = list[i];
    if (typeof s !== 'string' || s === '') continue;
    const reason = problem(s);
    if (reason !== undefined) {
      const code: PolicyErrorCode = reason.includes('bytes long') ? 'limit' : 'value';
      issues.push({ path: [...at, i], reason, code });
    }
  }
}

/** Why a glob is malformed (an unclosed "[" class), or undefined. */
function globProblem(g: string): string | undefined {
  for (let i = 0; i < g.length; i++) {
    const c = g[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      let j = i + 1;
      if (g[j] === '!' || g[j] === '^') j++;
      if (g[j] === ']') j++; // a leading ']' is a member
      while (j < g.length && g[j] !== ']') j++;
      if (j >= g.length) return `unclosed "[" at character ${i + 1}`;
      i = j;
    }
  }
  return undefined;
}

function capabilityKey(s: string): string {
  const up = s.toUpperCase();
  return up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** "sys_admin", "CAP_SYS_ADMIN", "Sys_Admin" → "CAP_SYS_ADMIN"; undefined when unknown. */
export function normaliseCapability(s: string): string | undefined {
  const key = capabilityKey(s);
  return (CAPABILITY_NAMES as readonly string[]).includes(key) ? key : undefined;
}

function signalKey(s: string): string {
  const up = s.toUpperCase();
  return up.startsWith('SIG') ? up : `SIG${up}`;
}

/** "stop", "SIGSTOP" → "SIGSTOP" when this platform has it; undefined otherwise. */
export function normaliseSignal(s: string): string | undefined {
  const key = signalKey(s);
  return Object.hasOwn(constants.signals, key) ? key : undefined;
}

// ---------------------------------------------------------------------------
// CIDRs

/** "10.0.0.0/8" → canonical "10.0.0.0/8"; a bare address gets /32 or /128. */
export function parseCidr(s: string): { cidr: string } | { reason: string } {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  if (addr.includes('%')) return { reason: `"${s}": zone ids are not allowed in addresses` };
  const family = isIP(addr);
  if (family === 0) return { reason: `"${addr}" is not an IPv4 or IPv6 address` };
  const max = family === 4 ? 32 : 128;
  let len = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p)) return { reason: `"${s}": prefix length "${p}" is not a number` };
    len = Number(p);
    if (len > max)
      return { reason: `"${s}": prefix length ${len} is out of range 0-${max} for IPv${family}` };
  }
  const bytes = family === 4 ? v4Bytes(addr) : v6Bytes(addr);
  const net = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, len - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  if (net.some((b, i) => b !== bytes[i])) {
    const want = family === 4 ? net.join('.') : v6Text(net);
    return { reason: `"${s}": address has bits set after the /${len} prefix; did you mean ${want}/${len}?` };
  }
  return { cidr: `${addr.toLowerCase()}/${len}` };
}

function v4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

function v6Bytes(a: string): number[] {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const b = v4Bytes(g);
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
      } else {
        out.push(Number.parseInt(g, 16));
      }
    }
    return out;
  };
  const dbl = a.indexOf('::');
  let all: number[];
  if (dbl < 0) {
    all = groups(a);
  } else {
    const head = groups(a.slice(0, dbl));
    const tail = groups(a.slice(dbl + 2));
    all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

/** IPv6 bytes as text, the longest run of zero groups compressed. */
function v6Text(bytes: number[]): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((bytes[i] << 8) | bytes[i + 1]);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

// ---------------------------------------------------------------------------
// Did-you-mean

function suggest(word: string, candidates: readonly string[]): string {
  let best = '';
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 4)) ? ` (did you mean "${best}"?)` : '';
}

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 8) return Number.POSITIVE_INFINITY;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

// ---------------------------------------------------------------------------
// A validated document to a Policy: defaults applied, names normalised

type RawPolicy = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    mode?: 'enforce' | 'monitor';
    rules: RawRule[];
    selector?: Record<string, unknown>;
    safety?: { maxDenials: number; window: string };
  };
};

type RawRule = Omit<PolicyRule, 'name' | 'action' | 'match'> & {
  name?: string;
  action?: PolicyRule['action'];
  match?: RuleMatch;
};

function buildPolicy(raw: RawPolicy, file: string, defaultMode: Policy['spec']['mode'] = 'enforce'): Policy {
  const metadata: Policy['metadata'] = { name: raw.metadata.name };
  if (raw.metadata.labels !== undefined) metadata.labels = { ...raw.metadata.labels };
  const spec: Policy['spec'] = {
    mode: raw.spec.mode ?? defaultMode,
    rules: raw.spec.rules.map(buildRule),
  };
  if (raw.spec.selector !== undefined) spec.selector = raw.spec.selector;
  if (raw.spec.safety !== undefined)
    spec.safety = {
      maxDenials: raw.spec.safety.maxDenials,
      window:
        typeof raw.spec.safety.window === 'number' ? `${raw.spec.safety.window}s` : raw.spec.safety.window,
    };
  return { apiVersion: API_VERSION, kind: 'Policy', metadata, spec, source: { file } };
}

function buildRule(raw: RawRule, i: number): PolicyRule {
  const action = raw.action ?? 'audit';
  const rule: PolicyRule = {
    name: raw.name ?? `rule-${i}`,
    kinds: [...raw.kinds],
    match: buildMatch(raw.match ?? {}),
    action,
  };
  if (raw.signal !== undefined) rule.signal = normaliseSignal(raw.signal);
  // Enforcing rules never degrade silently: unless the author chose otherwise, a kernel that
  // cannot enforce refuses the policy.
  if (action !== 'audit') rule.fallback = raw.fallback ?? 'reject';
  return rule;
}

function buildMatch(m: RuleMatch): RuleMatch {
  const out: RuleMatch = {};
  if (m.paths !== undefined) {
    const p: PathSelector = {};
    if (m.paths.exact) p.exact = [...m.paths.exact];
    if (m.paths.prefix) p.prefix = [...m.paths.prefix];
    if (m.paths.suffix) p.suffix = [...m.paths.suffix];
    if (m.paths.glob) p.glob = [...m.paths.glob];
    out.paths = p;
  }
  if (m.access !== undefined) out.access = [...new Set(m.access)];
  if (m.binaries !== undefined) out.binaries = copyInNotIn(m.binaries);
  if (m.parentBinaries !== undefined) out.parentBinaries = copyInNotIn(m.parentBinaries);
  if (m.args?.contains !== undefined) out.args = { contains: [...m.args.contains] };
  if (m.uids !== undefined) out.uids = copyInNotIn(m.uids);
  if (m.gids !== undefined) out.gids = copyInNotIn(m.gids);
  if (m.capabilities !== undefined) {
    out.capabilities = [...new Set(m.capabilities.map((c) => normaliseCapability(c) as string))];
  }
  if (m.namespaces !== undefined) out.namespaces = m.namespaces;
  if (m.ports !== undefined) out.ports = copyInNotIn(m.ports);
  if (m.addresses !== undefined)
    out.addresses = copyInNotIn(m.addresses, (a) => (parseCidr(a) as { cidr: string }).cidr);
  if (m.cgroupIds !== undefined) out.cgroupIds = copyInNotIn(m.cgroupIds);
  return out;
}

function copyInNotIn<T>(v: InNotIn<T>, map: (x: T) => T = (x) => x): InNotIn<T> {
  const out: InNotIn<T> = {};
  if (v.in !== undefined) out.in = v.in.map(map);
  if (v.notIn !== undefined) out.notIn = v.notIn.map(map);
  return out;
}
