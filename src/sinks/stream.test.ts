// SPDX-License-Identifier: Apache-2.0
// The stream sink: batches lines, counts drops, and flushes everything on close.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StreamSink } from './stream.js';

test('every pushed line reaches the descriptor by the time close() resolves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-sink-'));
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  const sink = new StreamSink({ fd });
  for (let i = 0; i < 1000; i++) {
    sink.push(`line ${i}`);
    if (i % 100 === 0) sink.flush();
  }
  sink.push('last');
  await sink.close();
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
  assert.equal(lines.length, 1001);
  assert.equal(lines[1000], 'last');
  assert.deepEqual(sink.stats(), { lines: 1001, bytes: readFileSync(file).length, dropped: 0, errors: 0 });
  closeSync(fd);
  rmSync(dir, { recursive: true });
});

test('a reader that falls behind past the bound loses lines, counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-sink-'));
  const fd = openSync(join(dir, 'out'), 'w');
  const sink = new StreamSink({ fd, maxBufferedBytes: 10 });
  sink.push('x'.repeat(100));
  sink.flush(); // accepted: nothing was waiting
  sink.push('y');
  sink.push('z');
  sink.flush(); // the first write is still queued (async): over the bound
  assert.equal(sink.stats().dropped, 2);
  await sink.close();
  closeSync(fd);
  rmSync(dir, { recursive: true });
});
