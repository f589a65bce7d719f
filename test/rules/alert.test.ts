// SPDX-License-Identifier: Apache-2.0
// Alerts: MITRE mapping from tags and the collapser's no-loss invariant.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Alert } from '../../src/events/types.js';
import { AlertCollapser, mitreFromTags } from '../../src/rules/index.js';
import { ev, proc } from './helpers.js';

test('mitre from Falco tags', () => {
  assert.deepEqual(mitreFromTags(['host', 'mitre_execution', 'T1059.004']), {
    tactic: 'execution',
    technique: 'T1059.004',
  });
  assert.deepEqual(mitreFromTags(['mitre_persistence', 'TA0003']), { tactic: 'persistence', technique: '' });
  assert.equal(mitreFromTags(['host']), undefined);
});

function alert(rule: string, execId: string, sec: number): Alert {
  const e = ev('process.exec', {
    process: proc('/bin/x', ['x'], { exec_id: execId }),
    time: `2025-01-01T00:00:${String(sec).padStart(2, '0')}.000000000Z`,
  });
  return {
    time: e.time,
    node: e.node,
    kind: 'alert',
    rule,
    priority: 'WARNING',
    tags: [],
    output: 'o',
    source_event: e,
  };
}

test('collapser: identical alerts within the window fold into the next emitted one; nothing is lost', () => {
  const c = new AlertCollapser({ windowMs: 10_000 });
  const out: Alert[] = [];
  out.push(...c.add(alert('r', 'p1', 0)));
  for (let s = 1; s <= 5; s++) out.push(...c.add(alert('r', 'p1', s)));
  out.push(...c.add(alert('r', 'p2', 5)));
  out.push(...c.add(alert('other', 'p1', 5)));
  assert.equal(out.length, 3);
  out.push(...c.add(alert('r', 'p1', 12)));
  assert.equal(out[3].collapsed, 5);
  out.push(...c.add(alert('r', 'p1', 13)));
  out.push(...c.add(alert('r', 'p1', 14)));
  out.push(...c.flush());
  const total = out.length + out.reduce((n, a) => n + (a.collapsed ?? 0), 0);
  assert.equal(total, c.stats().received);
  assert.equal(c.stats().pending, 0);
});

test('collapser: a quiet key is reported when the window passes (sweep), not kept forever', () => {
  const c = new AlertCollapser({ windowMs: 1000 });
  c.add(alert('r', 'p1', 0));
  c.add(alert('r', 'p1', 0));
  c.add(alert('r', 'p1', 0));
  const later = c.add(alert('z', 'p9', 30));
  assert.equal(later.length, 2);
  assert.equal(later[1].rule, 'r');
  assert.equal(later[1].collapsed, 1);
});
