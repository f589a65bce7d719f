// SPDX-License-Identifier: Apache-2.0
// Output templates: `%field` and `%field[arg]` substitution, compiled once per rule; missing values print <NA> like Falco.

import type { PeregrineEvent } from '../events/types.js';
import { type FieldContext, FieldError, isFieldName, type ResolvedField, resolveField } from './fields.js';
import { systemUserDb } from './users.js';

/** A compiled template. */
export interface CompiledOutput {
  render(e: PeregrineEvent): string;
  /** Fields used, as written. */
  fields: string[];
  /** Fields used that Peregrine cannot fill (always <NA>). */
  unsupported: string[];
}

/** Thrown for an unknown field or a bad argument in a template; `offset` is where the `%` is. */
export class OutputError extends Error {
  constructor(
    message: string,
    readonly token: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const NA = '<NA>';
const RE_NAME = /[A-Za-z][A-Za-z0-9_.]*/y;

/** Compile a template. `%%` is a literal percent; a `%` not followed by a letter is kept as is. */
export function compileOutput(template: string, ctx: FieldContext): CompiledOutput {
  const parts: Array<string | ResolvedField> = [];
  const fields: string[] = [];
  const unsupported: string[] = [];
  let lit = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (template[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    RE_NAME.lastIndex = i + 1;
    const m = RE_NAME.exec(template);
    if (!m) {
      lit += c;
      i++;
      continue;
    }
    let name = m[0];
    // Longest known prefix, as Falco: "%proc.name." ends at the field.
    while (name.endsWith('.')) name = name.slice(0, -1);
    if (!isFieldName(name) && !name.includes('.')) {
      lit += c;
      i++;
      continue;
    }
    let end = i + 1 + name.length;
    let arg: string | undefined;
    if (template[end] === '[') {
      const close = template.indexOf(']', end);
      if (close < 0) throw new OutputError(`unterminated argument of '%${name}'`, name, i);
      arg = template.slice(end + 1, close);
      end = close + 1;
    }
    const written = template.slice(i, end);
    let f: ResolvedField;
    try {
      f = resolveField(name, arg, ctx);
    } catch (err) {
      if (err instanceof FieldError) throw new OutputError(err.message, written.slice(1), i);
      throw err;
    }
    if (lit) parts.push(lit);
    lit = '';
    parts.push(f);
    fields.push(f.name);
    if (!f.supported) unsupported.push(f.name);
    i = end;
  }
  if (lit) parts.push(lit);
  const render = (e: PeregrineEvent): string => {
    let out = '';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k];
      if (typeof p === 'string') out += p;
      else {
        let v: string | undefined;
        try {
          v = p.show(e);
        } catch {
          v = undefined;
        }
        out += v === undefined ? NA : v;
      }
    }
    return out;
  };
  return { render, fields, unsupported };
}

const cache = new Map<string, CompiledOutput>();
let defaultCtx: FieldContext | undefined;

/**
 * Render a Falco output template for one event (compiled templates are cached).
 * Unknown fields throw OutputError. `ctx` defaults to the host's user database.
 */
export function renderOutput(template: string, event: PeregrineEvent, ctx?: FieldContext): string {
  if (ctx) return compileOutput(template, ctx).render(event);
  defaultCtx ??= { users: systemUserDb(), eventNumber: () => 0 };
  let c = cache.get(template);
  if (!c) {
    c = compileOutput(template, defaultCtx);
    if (cache.size > 1000) cache.clear();
    cache.set(template, c);
  }
  return c.render(event);
}
