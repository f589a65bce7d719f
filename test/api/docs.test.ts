// SPDX-License-Identifier: Apache-2.0
// docs/api.md: its policy examples load, and every route the OpenAPI document lists is described.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { packageRoot } from '../../src/kernel/native.js';
import { loadPolicyText } from '../../src/policy/load.js';

const doc = readFileSync(join(packageRoot(), 'docs', 'api.md'), 'utf8');

test('YAML policy examples in docs/api.md load', () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0);
  for (const [i, text] of blocks.entries()) {
    const policies = loadPolicyText(text, `docs/api.md#yaml-${i}`);
    assert.ok(policies.length > 0);
  }
});

test('docs/api.md describes every route', () => {
  for (const route of [
    'GET status',
    'GET stream',
    'GET alerts',
    'GET processes',
    'GET processes/{exec_id}',
    'GET containers',
    'GET policies',
    'POST policies',
    'PATCH policies/{name}',
    'DELETE policies/{name}',
    'GET metrics',
    'GET openapi.json',
  ])
    assert.ok(doc.includes(`\`${route}\``), route);
});
