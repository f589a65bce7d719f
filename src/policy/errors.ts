// SPDX-License-Identifier: Apache-2.0
// PolicyError: the one error a policy file can produce, located by file, line and field path.

/** Machine-readable class of a policy error. */
export type PolicyErrorCode =
  | 'io' // the file or directory could not be read
  | 'yaml' // YAML syntax
  | 'unknown_field' // a field the resource does not have
  | 'schema' // wrong type, missing field, value outside the allowed set
  | 'value' // a well-typed value that is wrong (relative path, bad CIDR, unknown capability, …)
  | 'coherence' // a selector or action that does not apply to the rule's kinds
  | 'duplicate' // two policies or two rules with one name
  | 'limit'; // a size cap (path bytes, total values per file)

export interface PolicyErrorInit {
  file: string;
  /** 1-based line; 0 when the problem has no line (unreadable file, empty directory). */
  line: number;
  /** Field path in the document, e.g. "spec.rules[0].match.ports.in[2]"; '' for the whole file. */
  field: string;
  /** Why, in a short lowercase phrase. */
  reason: string;
  code: PolicyErrorCode;
}

/**
 * A policy file was rejected. `message` is "FILE:LINE: FIELD: REASON"
 * (":LINE" left out when there is no line, "FIELD: " when there is no field);
 * the parts are available separately for tools.
 */
export class PolicyError extends Error {
  readonly file: string;
  readonly line: number;
  readonly field: string;
  readonly reason: string;
  readonly code: PolicyErrorCode;

  constructor(init: PolicyErrorInit) {
    const where = init.line > 0 ? `${init.file}:${init.line}` : init.file;
    super(init.field ? `${where}: ${init.field}: ${init.reason}` : `${where}: ${init.reason}`);
    this.name = 'PolicyError';
    this.file = init.file;
    this.line = init.line;
    this.field = init.field;
    this.reason = init.reason;
    this.code = init.code;
  }
}
