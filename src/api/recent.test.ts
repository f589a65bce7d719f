// SPDX-License-Identifier: Apache-2.0
// The API's bounded stores: per-process and total bounds hold, evictions are counted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlertRing, ProcessEventStore } from './recent.js';

test('per-process bound keeps the newest events of that process', () => {
  const s = new ProcessEventStore({ perProcess: 3, maxEvents: 100 });
  for (let i = 0; i < 5; i++) s.add('a', `{"n":${i}}`);
  s.add('b', '{"n":9}');
  assert.deepEqual(s.get('a').events, ['{"n":2}', '{"n":3}', '{"n":4}']);
  assert.deepEqual(s.get('b').events, ['{"n":9}']);
  assert.equal(s.stats().evicted_per_process, 2);
  assert.equal(s.stats().events, 4);
});

test('total bounds (events and bytes) evict the oldest, whichever process', () => {
  const s = new ProcessEventStore({ perProcess: 10, maxEvents: 4, maxBytes: 1000 });
  for (let i = 0; i < 6; i++) s.add(i % 2 === 0 ? 'a' : 'b', `e${i}`);
  assert.deepEqual(s.get('a').events, ['e2', 'e4']);
  assert.deepEqual(s.get('b').events, ['e3', 'e5']);
  assert.equal(s.stats().evicted_total_bound, 2);
  const small = new ProcessEventStore({ maxBytes: 10 });
  small.add('x', '12345');
  small.add('y', '123456');
  assert.deepEqual(small.get('x').events, []);
  assert.equal(small.stats().bytes, 6);
  assert.equal(small.stats().processes, 1);
  for (let i = 0; i < 10_000; i++) s.add(`p${i}`, 'x');
  assert.equal(s.stats().events, 4);
  assert.equal(s.stats().processes, 4);
});

test('exit is kept with the process; alert ring is newest first and counts evictions', () => {
  const s = new ProcessEventStore();
  s.add('a', 'exit', { time: 't', code: 3, signal: 0 });
  assert.equal(s.get('a').exit?.code, 3);
  const r = new AlertRing<{ rule: string }>(2);
  r.add({ rule: 'x' }, 'x');
  r.add({ rule: 'y' }, 'y');
  r.add({ rule: 'z' }, 'z');
  assert.deepEqual(
    r.newest(() => true, 10).map((a) => a.line),
    ['z', 'y'],
  );
  assert.deepEqual(r.stats(), { stored: 2, evicted: 1, last_seq: 3 });
});
