// SPDX-License-Identifier: Apache-2.0
// validateRules(): the report behind `peregrine rules validate FILE...`: errors with file:line, rule and token; warnings.

import { readFileSync } from 'node:fs';
import { RuleError } from './errors.js';
import { type LoadOptions, loadRules, type RuleFile } from './loader.js';
import type { LoadWarning } from './ruleset.js';

export interface ValidationError {
  file: string;
  line: number;
  rule: string;
  token: string;
  message: string;
}

/** What `peregrine rules validate` prints. */
export interface ValidationReport {
  ok: boolean;
  files: string[];
  /** Rules loaded (all sources), enabled, and evaluable with every field supported. */
  rules: { loaded: number; enabled: number; evaluable: number; skipped: number };
  /** The first problem that rejected the files (a bad file is rejected whole). */
  errors: ValidationError[];
  /** Unsupported fields, unobservable evt.types, ignored keys and items. */
  warnings: LoadWarning[];
  /** Event kinds the rules need. */
  kinds: string[];
}

/**
 * Load the files in order as the agent would and report. Never throws for
 * rule problems; I/O errors are reported as errors on that file.
 */
export function validateRules(paths: string[], options: LoadOptions = {}): ValidationReport {
  const report: ValidationReport = {
    ok: false,
    files: paths,
    rules: { loaded: 0, enabled: 0, evaluable: 0, skipped: 0 },
    errors: [],
    warnings: [],
    kinds: [],
  };
  const files: RuleFile[] = [];
  for (const path of paths) {
    try {
      files.push({ path, text: readFileSync(path, 'utf8') });
    } catch (err) {
      report.errors.push({
        file: path,
        line: 0,
        rule: '',
        token: '',
        message: `read: ${(err as Error).message}`,
      });
    }
  }
  if (report.errors.length) return report;
  try {
    const set = loadRules(files, options);
    const st = set.stats();
    const infos = set.rules();
    report.rules = {
      loaded: st.rulesLoaded,
      enabled: st.rulesEnabled,
      evaluable: infos.filter((r) => r.enabled && r.evaluable).length,
      skipped: st.rulesSkipped,
    };
    report.warnings = [...set.warnings];
    report.kinds = set.requiredKinds();
    report.ok = true;
  } catch (err) {
    if (!(err instanceof RuleError)) throw err;
    report.errors.push({
      file: err.file,
      line: err.line,
      rule: err.rule,
      token: err.token,
      message: err.reason,
    });
  }
  return report;
}

/** Human-readable form of a report, one finding per line (file:line: rule: message). */
export function formatValidationReport(r: ValidationReport): string {
  const lines: string[] = [];
  for (const e of r.errors) {
    const where = e.line > 0 ? `${e.file}:${e.line}` : e.file;
    lines.push(
      `error: ${where}:${e.rule ? ` '${e.rule}':` : ''} ${e.message}${e.token ? ` (at '${e.token}')` : ''}`,
    );
  }
  for (const w of r.warnings) {
    const where = w.line > 0 ? `${w.file}:${w.line}` : w.file;
    lines.push(`warning: ${where}:${w.rule ? ` '${w.rule}':` : ''} ${w.message}`);
  }
  if (r.ok) {
    lines.push(
      `ok: ${r.rules.loaded} rules loaded, ${r.rules.enabled} enabled, ${r.rules.evaluable} fully evaluable, ${r.rules.skipped} skipped; kinds: ${r.kinds.join(' ')}`,
    );
  }
  return lines.join('\n');
}
