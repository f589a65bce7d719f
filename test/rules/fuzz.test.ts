// SPDX-License-Identifier: Apache-2.0
// Parser fuzz: random and mutated rule files (seeded) never throw anything but RuleError and never hang.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadRules, RuleError } from '../../src/rules/index.js';
import { ev, execEv, falcoRulesPath, readText, repoRoot, users } from './helpers.js';

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = 0x5eed;
const ITERATIONS = 3000;
const BUDGET_MS = 5000;

const FIELDS = [
  'proc.name',
  'proc.aname[2]',
  'fd.name',
  'evt.type',
  'fd.sip',
  'fd.net',
  'evt.rawres',
  'evt.arg.flags',
  'k8s.pod.label[app]',
  'proc.nope',
  'user.uid',
  'proc.env',
  'evt.arg[1]',
  'fd.num',
];
const OPS = [
  '=',
  '!=',
  '<',
  '<=',
  '>',
  '>=',
  'in',
  'intersects',
  'contains',
  'icontains',
  'bcontains',
  'startswith',
  'endswith',
  'glob',
  'pmatch',
  'regex',
  'exists',
  '==',
];
const VALUES = [
  'bash',
  '"a b"',
  "'x'",
  '/etc/',
  '10.0.0.0/8',
  '0',
  '-1',
  'open',
  '(a, b)',
  '()',
  '(l1)',
  '"\\""',
  'x[1]',
  '*',
  '"(.*"',
  '6869',
  'true',
  '::1',
  'runc:[0:PARENT]',
];
const NOISE = [
  '(',
  ')',
  ',',
  '"',
  "'",
  '\\',
  ' and ',
  ' or ',
  ' not ',
  '[',
  ']',
  '%',
  ':',
  '-',
  '\n',
  '{',
  '}',
  '&',
  '#',
  '>',
  '<',
  '=',
  '!',
  ' ',
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomCondition(r: () => number, depth = 0): string {
  const x = r();
  if (depth < 4 && x < 0.2)
    return `(${randomCondition(r, depth + 1)} ${pick(r, ['and', 'or'])} ${randomCondition(r, depth + 1)})`;
  if (depth < 4 && x < 0.3) return `not ${randomCondition(r, depth + 1)}`;
  if (x < 0.4) return pick(r, ['m1', 'm2', 'undefined_macro', 'l1']);
  const op = pick(r, OPS);
  return op === 'exists' ? `${pick(r, FIELDS)} exists` : `${pick(r, FIELDS)} ${op} ${pick(r, VALUES)}`;
}

function randomFile(r: () => number): string {
  const parts = [
    '- list: l1\n  items: [a, "b c", \'"(d)"\']',
    `- macro: m1\n  condition: ${JSON.stringify(randomCondition(r))}`,
    '- macro: m2\n  condition: proc.name = x',
  ];
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const exc =
      r() < 0.3
        ? `\n  exceptions:\n    - name: e\n      fields: ${pick(r, ['[proc.name, fd.name]', 'proc.name', '[bogus]', '7'])}\n      values: ${pick(r, ['[[a, b]]', '[a]', '[[a]]', '{}', '[l1]'])}`
        : '';
    parts.push(
      `- rule: r${i}\n  desc: d\n  condition: ${JSON.stringify(randomCondition(r))}\n  output: ${JSON.stringify(`x %${pick(r, FIELDS)} %%`)}\n  priority: ${pick(r, ['INFO', 'warning', 'BOGUS', 'Critical'])}${exc}${r() < 0.2 ? '\n  override: {condition: append}' : ''}${r() < 0.1 ? '\n  append: true' : ''}`,
    );
  }
  return parts.join('\n');
}

function mutate(r: () => number, text: string): string {
  let s = text;
  const edits = 1 + Math.floor(r() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
        break;
      case 1:
        s = s.slice(0, at) + pick(r, NOISE) + s.slice(at);
        break;
      case 2: {
        const lines = s.split('\n');
        const j = Math.floor(r() * lines.length);
        lines.splice(Math.floor(r() * lines.length), 0, lines[j]);
        s = lines.join('\n');
        break;
      }
      case 3:
        s = s.slice(0, at);
        break;
      default:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(at);
    }
  }
  return s;
}

test(`fuzz: ${ITERATIONS} random and mutated rule files throw only RuleError, within ${BUDGET_MS} ms`, (t) => {
  const r = prng(SEED);
  const corpus: string[] = [];
  for (const p of [join(repoRoot(), 'rules', 'peregrine_rules.yaml'), falcoRulesPath()]) {
    if (!p) continue;
    // Items of the real rulesets, as mutation seeds (a block is one "- " item).
    for (const block of readText(p).split(/\n(?=- )/)) if (block.trim()) corpus.push(block);
  }
  const probes = [
    ev('file.open', {
      file: { path: '/etc/shadow', path_source: 'kernel', access: ['read'] },
      return_code: 3,
    }),
    execEv(['bash', '-c', 'id']),
  ];
  // CPU time of this process, not wall time: other work on a shared machine must not fail the budget.
  const start = process.cpuUsage();
  let loaded = 0;
  let rejected = 0;
  let i = 0;
  for (; i < ITERATIONS; i++) {
    let text: string;
    if (i % 2 === 0) text = r() < 0.5 ? randomFile(r) : mutate(r, randomFile(r));
    else {
      const blocks: string[] = [];
      const n = 1 + Math.floor(r() * 6);
      for (let k = 0; k < n; k++) blocks.push(pick(r, corpus));
      text = mutate(r, blocks.join('\n'));
    }
    try {
      const set = loadRules([{ path: `fuzz-${i}.yaml`, text }], { users });
      for (const p of probes) set.evaluate(p);
      loaded++;
    } catch (err) {
      if (!(err instanceof RuleError)) {
        assert.fail(
          `iteration ${i} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}\n--- input ---\n${text}`,
        );
      }
      assert.ok(err.file === `fuzz-${i}.yaml`);
      rejected++;
    }
  }
  const used = process.cpuUsage(start);
  const ms = Math.round((used.user + used.system) / 1000);
  t.diagnostic(
    `fuzz: ${i} iterations (seed ${SEED}), ${loaded} loaded, ${rejected} rejected with RuleError, ${ms} ms of CPU`,
  );
  assert.ok(ms < BUDGET_MS, `fuzz took ${ms} ms of CPU`);
});
