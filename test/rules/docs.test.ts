// SPDX-License-Identifier: Apache-2.0
// docs/rules.md stays true: every field and default rule is listed, its YAML examples load, its Falco numbers are measured ones.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { listFields, loadRules } from '../../src/rules/index.js';
import { falcoRulesPath, readText, repoRoot, users } from './helpers.js';

const doc = readText(join(repoRoot(), 'docs', 'rules.md'));
const defaults = {
  path: 'rules/peregrine_rules.yaml',
  text: readText(join(repoRoot(), 'rules', 'peregrine_rules.yaml')),
};

test('docs/rules.md lists every field of the registry', () => {
  const missing = listFields().filter((f) => !doc.includes('`' + f.name + '`'));
  assert.deepEqual(
    missing.map((f) => f.name),
    [],
  );
});

test('docs/rules.md lists every default rule', () => {
  const set = loadRules([defaults], { users });
  const missing = set.rules().filter((r) => !doc.includes(`| ${r.name} | ${r.priority} |`));
  assert.deepEqual(
    missing.map((r) => r.name),
    [],
  );
});

test('YAML examples in docs/rules.md load on top of the default ruleset', () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0);
  for (const [i, text] of blocks.entries())
    loadRules([defaults, { path: `docs/rules.md#yaml-${i}`, text }], { users });
});

test('docs/rules.md states the measured Falco compatibility numbers', {
  skip: falcoRulesPath() ? false : 'Falco ruleset not present',
}, () => {
  const set = loadRules([{ path: 'falco_rules.yaml', text: readText(falcoRulesPath()!) }], { users });
  const rules = set.rules();
  assert.ok(doc.includes(`**${rules.length} / 25 rules load**`));
  assert.ok(doc.includes(`**${rules.filter((r) => r.evaluable).length} / 25 rules are fully evaluable**`));
});
