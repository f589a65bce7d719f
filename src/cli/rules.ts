// SPDX-License-Identifier: Apache-2.0
// Rules on the command line: loading rule files, `peregrine rules validate`,
// and `peregrine replay` (saved events through rules, offline).
import { createReadStream, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { encodeAlert, encodeAlertCompact } from '../events/encode.js';
import type { PeregrineEvent } from '../events/types.js';
import {
  AlertCollapser,
  formatValidationReport,
  loadRules,
  type RuleSet,
  validateRules,
} from '../rules/index.js';
import { packageRoot } from '../sensors/paths.js';

export function defaultRulesPath(): string {
  return join(packageRoot(), 'rules', 'peregrine_rules.yaml');
}

/** Rule files in the order given; a directory contributes its *.yaml files sorted by name. */
export function ruleFiles(paths: string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p],
  );
}

export function loadRulePaths(paths: string[]): RuleSet {
  return loadRules(ruleFiles(paths).map((path) => ({ path, text: readFileSync(path, 'utf8') })));
}

export function rulesValidateCommand(paths: string[]): number {
  const report = validateRules(ruleFiles(paths));
  process.stdout.write(formatValidationReport(report));
  return report.ok ? 0 : 1;
}

/** Reads JSON-lines events (as `peregrine record` writes them) and prints the alerts the rules raise. */
export async function replayCommand(file: string, rulePaths: string[], compact: boolean): Promise<number> {
  const rules = loadRulePaths(rulePaths.length > 0 ? rulePaths : [defaultRulesPath()]);
  const collapser = new AlertCollapser();
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  let bad = 0;
  let alerts = 0;
  const print = (a: Parameters<typeof encodeAlert>[0]) => {
    alerts++;
    process.stdout.write(`${compact ? encodeAlertCompact(a) : encodeAlert(a)}\n`);
  };
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let ev: PeregrineEvent;
    try {
      ev = JSON.parse(line) as PeregrineEvent;
    } catch {
      bad++;
      continue;
    }
    if ((ev as { kind: string }).kind === 'alert') continue;
    n++;
    for (const a of rules.evaluate(ev)) for (const out of collapser.add(a)) print(out);
  }
  for (const a of collapser.flush()) print(a);
  process.stderr.write(`peregrine: replayed ${n} events, ${alerts} alerts, ${bad} unreadable lines\n`);
  return 0;
}
