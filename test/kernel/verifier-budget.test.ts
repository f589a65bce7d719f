// SPDX-License-Identifier: Apache-2.0
// Complexity budgets on this kernel: every program of every kernel object, loaded
// as the agent loads it, stays within bpf/budget.json (scripts/verifier-stats.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { type BudgetFile, CAPS, check, measure, objectFiles } from '../../scripts/verifier-stats.js';
import { kernelTest, leakGuard, root } from './helpers.js';

function budgetFile(): BudgetFile {
  return JSON.parse(readFileSync(join(root, 'bpf', 'budget.json'), 'utf8')) as BudgetFile;
}

describe('complexity budgets', kernelTest, () => {
  let guard: ReturnType<typeof leakGuard>;
  beforeEach(() => {
    guard = leakGuard();
  });
  afterEach(() => guard.check());

  test('bpf/budget.json has an entry within the global caps for every program of every object', () => {
    const budget = budgetFile();
    const objects = objectFiles();
    assert.ok(objects.has('process') && objects.has('probes'), [...objects.keys()].join(', '));
    const problems: string[] = [];
    for (const [name, programs] of objects) {
      for (const p of programs) {
        const e = budget.objects[name]?.[p];
        if (e === undefined) problems.push(`${name}/${p}: missing`);
        else if (e.processedInsns > CAPS.processedInsns || e.combinedStack > CAPS.combinedStack)
          problems.push(`${name}/${p}: ${JSON.stringify(e)} over the caps ${JSON.stringify(CAPS)}`);
      }
    }
    assert.deepEqual(problems, [], `bpf/budget.json:\n  ${problems.join('\n  ')}`);
  });

  test('every program the agent loads verifies within its budget on this kernel', async () => {
    const m = await measure();
    const result = check(m, budgetFile());
    const measured = m.programs.filter((p) => p.status === 'ok').length;
    assert.ok(measured > 0, 'no program loaded at all');
    assert.ok(
      result.ok,
      `${result.errors.length} budget failure(s) on ${m.kernel} ` +
        `(node dist/scripts/verifier-stats.js --check bpf/budget.json for the whole table):\n  ` +
        result.errors.join('\n  '),
    );
  });
});
