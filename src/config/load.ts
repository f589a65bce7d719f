// SPDX-License-Identifier: Apache-2.0
// The agent config file: YAML checked against src/config/schema.ts and a few
// rules a schema cannot say (unique names), every problem located by file,
// line and field. A file with any error is rejected whole: nothing starts.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parseDocument } from 'yaml';
import type { ApiOptions } from '../api/http.js';
import type { OutputConfig } from '../sinks/output.js';
import { configSchema } from './schema.js';
import { formatPath, locate, type Seg } from './yaml-path.js';

/** What the config file configures (each section optional). */
export interface AgentConfig {
  outputs: OutputConfig[];
  /** The HTTP API and metrics (docs/api.md); flags given on the command line override it field by field. */
  api?: ApiOptions;
}

export interface ConfigProblem {
  line: number;
  /** Field path, e.g. "outputs[1].options.url"; '' for the whole file. */
  field: string;
  reason: string;
}

/** A rejected config file: message "FILE:LINE: FIELD: REASON", one line per problem. */
export class ConfigError extends Error {
  readonly file: string;
  readonly problems: ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[]) {
    super(
      problems
        .map((p) => `${p.line > 0 ? `${file}:${p.line}` : file}: ${p.field ? `${p.field}: ` : ''}${p.reason}`)
        .join('\n'),
    );
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

let validator: ValidateFunction | undefined;

function validate(): ValidateFunction {
  // if/then per output type needs strictTypes off; unknown keywords stay errors.
  validator ??= new Ajv({
    allErrors: true,
    verbose: true,
    strict: true,
    strictTypes: false,
    strictRequired: false,
  }).compile(configSchema());
  return validator;
}

/** Reads and checks a config file; relative spool and file paths stay as written (relative to the cwd). */
export function loadConfigFile(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ line: 0, field: '', reason: (err as Error).message }]);
  }
  return loadConfigText(text, file);
}

export function loadConfigText(text: string, file: string): AgentConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ line: lc.linePos(e.pos[0]).line, field: '', reason: lowerFirst(e.message) })),
    );
  }
  const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
  const problems = checkConfig(data).map((p) => ({
    line: locate(doc, lc, p.path, p.atKey),
    field: formatPath(p.path),
    reason: p.reason,
  }));
  if (problems.length > 0)
    throw new ConfigError(
      file,
      problems.sort((a, b) => a.line - b.line),
    );
  const cfg = data as Partial<AgentConfig>;
  return { outputs: cfg.outputs ?? [], api: cfg.api };
}

interface Issue {
  path: Seg[];
  reason: string;
  atKey: boolean;
}

/** Schema problems, then the cross-entry ones. */
export function checkConfig(data: unknown): Issue[] {
  const v = validate();
  const issues: Issue[] = [];
  if (!v(data))
    for (const e of v.errors ?? []) {
      const issue = fromAjv(e);
      if (
        issue !== undefined &&
        !issues.some((i) => i.reason === issue.reason && samePath(i.path, issue.path))
      )
        issues.push(issue);
    }
  if (issues.length > 0) return issues;
  const outputs = (data as Partial<AgentConfig>).outputs ?? [];
  const names = new Map<string, number>();
  const spools = new Map<string, number>();
  outputs.forEach((o, i) => {
    const first = names.get(o.name);
    if (first !== undefined)
      issues.push({
        path: ['outputs', i, 'name'],
        reason: `duplicate: outputs[${first}] has this name`,
        atKey: false,
      });
    else names.set(o.name, i);
    if (o.spool !== undefined) {
      const dir = resolve(o.spool.dir);
      const other = spools.get(dir);
      if (other !== undefined)
        issues.push({
          path: ['outputs', i, 'spool', 'dir'],
          reason: `outputs[${other}] spools there too: one directory per output`,
          atKey: false,
        });
      else spools.set(dir, i);
    }
  });
  return issues;
}

function samePath(a: Seg[], b: Seg[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function fromAjv(e: ErrorObject): Issue | undefined {
  const path: Seg[] =
    e.instancePath === ''
      ? []
      : e.instancePath
          .slice(1)
          .split('/')
          .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
  switch (e.keyword) {
    case 'if':
      return undefined; // the "then" error says what is wrong
    case 'additionalProperties': {
      const name = String((e.params as { additionalProperty: string }).additionalProperty);
      const allowed = Object.keys(((e.parentSchema ?? {}) as { properties?: object }).properties ?? {});
      return {
        path: [...path, name],
        reason: `unknown field; allowed: ${allowed.join(', ')}`,
        atKey: true,
      };
    }
    case 'required': {
      const name = String((e.params as { missingProperty: string }).missingProperty);
      return { path: [...path, name], reason: 'required field missing', atKey: false };
    }
    case 'enum':
      return {
        path,
        reason: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}; got ${JSON.stringify(e.data)}`,
        atKey: false,
      };
    default:
      return { path, reason: e.message ?? e.keyword, atKey: false };
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/**
 * The flag form of one output, `TYPE:KEY=VALUE[,KEY=VALUE...]`, e.g.
 * `file:path=/var/log/peregrine/events.json,maxBytes=10485760`. Keys are the
 * type's options (plus `name`); digits become numbers, true/false booleans.
 * Checked with the same schema as the file; `taken` holds names already used.
 */
export function parseOutputFlag(spec: string, taken: ReadonlySet<string>): OutputConfig {
  const m = /^([a-z]+):(.*)$/s.exec(spec);
  if (m === null)
    throw new ConfigError('--sink', [
      { line: 0, field: '', reason: `want TYPE:KEY=VALUE,..., got ${JSON.stringify(spec)}` },
    ]);
  const options: Record<string, unknown> = {};
  let name: string | undefined;
  for (const part of m[2].split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0)
      throw new ConfigError('--sink', [
        { line: 0, field: '', reason: `want KEY=VALUE, got ${JSON.stringify(part)}` },
      ]);
    const key = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    if (key === 'name') name = raw;
    else
      options[key] = /^\d+$/.test(raw) ? Number(raw) : raw === 'true' ? true : raw === 'false' ? false : raw;
  }
  if (name === undefined) {
    name = m[1];
    for (let i = 2; taken.has(name); i++) name = `${m[1]}-${i}`;
  }
  const cfg: OutputConfig = { name, type: m[1], options };
  const issues = checkConfig({ outputs: [cfg] });
  if (issues.length > 0)
    throw new ConfigError(
      `--sink ${spec}`,
      issues.map((i) => ({ line: 0, field: formatPath(i.path.slice(2)), reason: i.reason })),
    );
  return cfg;
}
