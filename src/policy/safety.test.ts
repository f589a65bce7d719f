// SPDX-License-Identifier: Apache-2.0
// The safety net: durations, the sliding window, one rollback per burst, monitor policies ignored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPolicyText, validatePolicyText } from './load.js';
import { parseDuration, SafetyNet } from './safety.js';

test('durations: ms, s, m, h and whole seconds; anything else is undefined', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('60s'), 60_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration(30), 30_000);
  for (const bad of ['', '0s', '1d', '1.5s', 's', '-1s']) assert.equal(parseDuration(bad), undefined, bad);
});

test('more than maxDenials within the window rolls back once; older actions fall out of the window', () => {
  const net = new SafetyNet();
  net.watch([{ name: 'p', safety: { maxDenials: 3, window: '10s' }, enforcing: true }]);
  // Spread out: never more than 3 within 10 s.
  for (const t of [0, 4000, 8000, 12_000, 16_000, 20_000]) assert.equal(net.record('p', t), undefined);
  assert.equal(net.state('p', { maxDenials: 3, window: '10s' }, 20_000)?.recent, 3);
  const rb = net.record('p', 21_000);
  assert.deepEqual(rb, { policy: 'p', denials: 4, windowMs: 10_000, maxDenials: 3, at: 21_000 });
  // Rolled back: no longer counted until watched again in enforce mode.
  assert.equal(net.record('p', 21_001), undefined);
  assert.deepEqual(net.lastRollback('p'), rb);
  assert.deepEqual(net.state('p', { maxDenials: 3, window: '10s' }, 22_000)?.rolledBack, rb);
});

test('policies in monitor mode or without safety are not counted', () => {
  const net = new SafetyNet();
  net.watch([
    { name: 'm', safety: { maxDenials: 1, window: '1m' }, enforcing: false },
    { name: 'n', enforcing: true },
  ]);
  for (let i = 0; i < 5; i++) {
    assert.equal(net.record('m', i), undefined);
    assert.equal(net.record('n', i), undefined);
  }
});

test('re-watching with the same settings keeps the count; new settings start over', () => {
  const net = new SafetyNet();
  const p = { name: 'p', safety: { maxDenials: 2, window: '1m' }, enforcing: true };
  net.watch([p]);
  net.record('p', 1);
  net.record('p', 2);
  net.watch([p]);
  assert.ok(net.record('p', 3) !== undefined, 'third within the window rolls back');
  net.watch([{ ...p, safety: { maxDenials: 5, window: '1m' } }]);
  assert.equal(net.state('p', { maxDenials: 5, window: '1m' }, 4)?.recent, 0);
});

const doc = (safety: string) =>
  `apiVersion: peregrine.dev/v1alpha1\nkind: Policy\nmetadata:\n  name: p\nspec:\n  safety: ${safety}\n  rules:\n    - kinds: [process.exec]\n      action: kill\n`;

test('spec.safety loads as written; a bad one is an error with its field', () => {
  const [p] = loadPolicyText(doc('{maxDenials: 10, window: 60s}'), 'p.yaml');
  assert.deepEqual(p.spec.safety, { maxDenials: 10, window: '60s' });
  const bad = validatePolicyText(doc('{maxDenials: 0, window: 1d, extra: 1}'), 'p.yaml');
  assert.equal(bad.ok, false);
  const text = bad.errors.map((e) => e.message).join('\n');
  assert.match(text, /spec\.safety\.maxDenials/);
  assert.match(text, /spec\.safety\.window: must be a duration like "60s"/);
  assert.match(text, /spec\.safety\.extra: unknown field/);
});
