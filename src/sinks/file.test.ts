// SPDX-License-Identifier: Apache-2.0
// The file output: rotation by size and by age, gzip of rotated files, keep N,
// and no line lost or doubled across rotations.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FileTransport } from './file.js';
import type { OutputRecord } from './transport.js';

function rec(n: number): OutputRecord {
  const line = JSON.stringify({ kind: 'process.exec', n, pad: 'x'.repeat(80) });
  return { kind: 'process.exec', line, value: JSON.parse(line) };
}

function linesOf(path: string): number[] {
  const text = path.endsWith('.gz')
    ? gunzipSync(readFileSync(path)).toString('utf8')
    : readFileSync(path, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l).n);
}

test('size rotation gzips rotated files, keeps N, and every line is in exactly one file, in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-file-'));
  try {
    const path = join(dir, 'events.json');
    const t = new FileTransport({ path, maxBytes: 2000, keep: 100 });
    for (let i = 0; i < 200; i += 5) await t.send([rec(i), rec(i + 1), rec(i + 2), rec(i + 3), rec(i + 4)]);
    const rotated = await t.rotated();
    await t.close();
    assert.ok(rotated.length >= 5, `${rotated.length} rotated files`);
    assert.ok(
      rotated.every((f) => f.endsWith('.gz')),
      'rotated files are compressed',
    );
    const all = [...rotated, path].flatMap(linesOf);
    assert.deepEqual(
      all,
      Array.from({ length: 200 }, (_, i) => i),
    );
    for (const f of rotated) assert.ok(readFileSync(f).length < 2000);

    const few = new FileTransport({ path, maxBytes: 2000, keep: 2 });
    for (let i = 0; i < 50; i += 5) await few.send([rec(i), rec(i + 1), rec(i + 2), rec(i + 3), rec(i + 4)]);
    assert.equal((await few.rotated()).length, 2, 'only keep files remain');
    await few.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('age rotation starts a new file once the current one is older than maxAgeSeconds', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-file-'));
  try {
    const path = join(dir, 'events.json');
    const t = new FileTransport({ path, maxAgeSeconds: 1, compress: false });
    await t.send([rec(1)]);
    await t.send([rec(2)]);
    await new Promise((r) => setTimeout(r, 1100));
    await t.send([rec(3)]);
    const rotated = await t.rotated();
    await t.close();
    assert.equal(rotated.length, 1);
    assert.deepEqual(linesOf(rotated[0]), [1, 2]);
    assert.deepEqual(linesOf(path), [3]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
