// SPDX-License-Identifier: Apache-2.0
// RuleError: the one error a rules file can produce, with file, line, rule name and offending token.

export interface RuleErrorInit {
  file: string;
  /** 1-based line; 0 when unknown. */
  line: number;
  /** Name of the rule, macro or list the error is in; '' outside any item. */
  rule: string;
  /** The offending token as written ('' when none). */
  token: string;
  /** Why, in a short lowercase phrase. */
  reason: string;
  /** Machine-readable class of error. */
  code?: RuleErrorCode;
}

export type RuleErrorCode =
  | 'yaml'
  | 'schema'
  | 'syntax'
  | 'unknown_field'
  | 'field'
  | 'value'
  | 'reference'
  | 'internal';

/**
 * A rules file was rejected. `message` is the whole located sentence
 * ("rules.yaml:12: rule 'X': unknown field 'proc.nmae' (at 'proc.nmae')");
 * the parts are available separately for tools.
 */
export class RuleError extends Error {
  readonly file: string;
  readonly line: number;
  readonly rule: string;
  readonly token: string;
  readonly reason: string;
  readonly code: RuleErrorCode;

  constructor(init: RuleErrorInit) {
    const where = init.line > 0 ? `${init.file}:${init.line}` : init.file;
    const item = init.rule ? ` '${init.rule}'` : '';
    const tok = init.token ? ` (at '${init.token}')` : '';
    super(`${where}:${item ? `${item}:` : ''} ${init.reason}${tok}`);
    this.name = 'RuleError';
    this.file = init.file;
    this.line = init.line;
    this.rule = init.rule;
    this.token = init.token;
    this.reason = init.reason;
    this.code = init.code ?? 'schema';
  }
}
