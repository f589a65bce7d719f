// SPDX-License-Identifier: Apache-2.0
// BpfMap against the real kernel: CRUD with flags, iteration, per-CPU values,
// pin / open pinned / unpin on a private bpffs mount.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { BpfMap, BpfObject, type KernelError, MapUpdateFlags } from '../../src/kernel/index.js';
import { native } from '../../src/kernel/native.js';
import { fixture, kernelTest, leakGuard } from './helpers.js';

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

describe('BpfMap', kernelTest, () => {
  let guard: ReturnType<typeof leakGuard>;
  let obj: BpfObject;
  beforeEach(() => {
    const path = fixture('fixture');
    guard = leakGuard();
    obj = BpfObject.open(path);
    obj.setConst('target_tgid', process.pid);
    obj.load();
  });
  afterEach(() => {
    obj.close();
    guard.check();
  });

  test('update, lookup, delete and flags behave as the kernel defines them', () => {
    const m = obj.map('pg_hash');
    assert.deepEqual([m.type, m.keySize, m.valueSize, m.maxEntries], ['hash', 4, 8, 64]);
    assert.equal(m.lookup(u32(1)), null);
    m.update(u32(1), u64(10n));
    assert.equal(m.lookup(u32(1))?.readBigUInt64LE(0), 10n);
    assert.throws(
      () => m.update(u32(1), u64(11n), MapUpdateFlags.noExist),
      (e: KernelError) => e.code === 'EEXIST',
    );
    assert.throws(
      () => m.update(u32(2), u64(11n), MapUpdateFlags.exist),
      (e: KernelError) => e.code === 'ENOENT',
    );
    m.update(u32(1), u64(12n), MapUpdateFlags.exist);
    assert.equal(m.lookup(u32(1))?.readBigUInt64LE(0), 12n);
    assert.equal(m.delete(u32(1)), true);
    assert.equal(m.delete(u32(1)), false);
    assert.throws(() => m.lookup(Buffer.alloc(3)), /key length differs/);
    assert.throws(() => m.update(u32(1), Buffer.alloc(4)), /value length differs/);
  });

  test('keys() and entries() visit every element exactly once', () => {
    const m = obj.map('pg_hash');
    for (let i = 0; i < 40; i++) m.update(u32(i), u64(BigInt(i * i)));
    const seen = new Map<number, bigint>();
    for (const [k, v] of m.entries()) {
      assert.ok(!seen.has(k.readUInt32LE(0)));
      seen.set(k.readUInt32LE(0), v.readBigUInt64LE(0));
    }
    assert.equal(seen.size, 40);
    for (let i = 0; i < 40; i++) assert.equal(seen.get(i), BigInt(i * i));
    assert.equal([...m.keys()].length, 40);
  });

  test('lookupPerCpu returns one value per possible CPU summing to the events seen', () => {
    const link = obj.attach('handle_getprio');
    try {
      for (let i = 0; i < 25; i++) getPriority(0);
    } finally {
      link.close();
    }
    const values = obj.map('pg_pcpu').lookupPerCpu(u32(0));
    assert.ok(values);
    assert.equal(values.length, native().numPossibleCpus());
    assert.ok(values.every((v) => v.length === 8));
    assert.equal(
      values.reduce((sum, v) => sum + v.readBigUInt64LE(0), 0n),
      25n,
    );
  });

  test('a pinned map can be reopened by path and shares the kernel object', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-bpffs-'));
    try {
      execFileSync('mount', ['-t', 'bpf', 'bpf', dir]);
    } catch {
      rmdirSync(dir);
      t.skip('cannot mount a private bpffs');
      return;
    }
    try {
      const m = obj.map('pg_hash');
      const path = join(dir, 'pg_hash');
      m.pin(path);
      const again = BpfMap.openPinned(path);
      try {
        assert.deepEqual([again.type, again.keySize, again.valueSize, again.maxEntries], ['hash', 4, 8, 64]);
        again.update(u32(7), u64(77n));
        assert.equal(m.lookup(u32(7))?.readBigUInt64LE(0), 77n);
      } finally {
        again.close();
      }
      m.unpin(path);
      assert.throws(
        () => BpfMap.openPinned(path),
        (e: KernelError) => e.code === 'ENOENT',
      );
    } finally {
      execFileSync('umount', [dir]);
      rmdirSync(dir);
    }
  });
});
