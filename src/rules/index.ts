// SPDX-License-Identifier: Apache-2.0
// Public API of the detection engine: load Falco-format rules, evaluate events, build and collapse alerts.

export { AlertCollapser, type CollapserOptions, type CollapserStats, mitreFromTags } from './alert.js';
export { RuleError, type RuleErrorCode } from './errors.js';
export { type FieldInfo, listFields } from './fields.js';
export { ALL_KINDS, KINDS, SYSCALLS_BY_KIND } from './kinds.js';
export { type LoadOptions, loadRules, type RuleFile } from './loader.js';
export { compileOutput, OutputError, renderOutput } from './output.js';
export {
  type LoadWarning,
  PRIORITIES,
  parsePriority,
  type RuleInfo,
  RuleSet,
  type RuleSetStats,
} from './ruleset.js';
export { staticUserDb, systemUserDb, type UserDb } from './users.js';
export {
  formatValidationReport,
  type ValidationError,
  type ValidationReport,
  validateRules,
} from './validate.js';
