// SPDX-License-Identifier: Apache-2.0
// BpfObject against the real kernel: consts before load, map sizing, listing,
// globals read back, iterator output; every handle closed, no fd leaked.
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { BpfObject, KernelError, type LoadReport, readIterator } from '../../src/kernel/index.js';
import { fixture, kernelTest, leakGuard } from './helpers.js';

describe('BpfObject', kernelTest, () => {
  let guard: ReturnType<typeof leakGuard>;
  beforeEach(() => {
    fixture('fixture');
    guard = leakGuard();
  });
  afterEach(() => guard.check());

  test('a const set before load filters in the kernel and reads back through .rodata and .bss', () => {
    const obj = BpfObject.open(fixture('fixture'));
    try {
      obj.setConst('target_tgid', process.pid);
      obj.setConst('magic', 0x1122334455667788n);
      assert.equal(obj.variable('target_tgid')?.size, 4);
      obj.load();
      assert.equal(obj.readGlobal('target_tgid').readUInt32LE(0), process.pid);
      assert.equal(obj.readGlobal('magic').readBigUInt64LE(0), 0x1122334455667788n);
      const link = obj.attach('handle_getprio');
      try {
        for (let i = 0; i < 3; i++) getPriority(0);
      } finally {
        link.close();
      }
      assert.equal(obj.readGlobal('seen_magic').readBigUInt64LE(0), 0x1122334455667788n);
      assert.equal(obj.readGlobal('hits').readUInt32LE(0), 3);
    } finally {
      obj.close();
    }
  });

  test('setConst rejects a value whose size differs from BTF, unknown names and calls after load', () => {
    const obj = BpfObject.open(fixture('fixture'));
    try {
      assert.throws(
        () => obj.setConst('target_tgid', Buffer.alloc(8)),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'EINVAL');
          assert.match(e.message, /target_tgid is 4 bytes in BTF, value is 8 bytes/);
          return true;
        },
      );
      assert.throws(() => obj.setConst('nope', 1), KernelError);
      assert.throws(() => obj.setConst('seen_magic', 1), /no such const volatile/); // .bss, not const
      obj.setConst('no_wakeup', true);
      obj.load();
      assert.throws(
        () => obj.setConst('magic', 1n),
        (e: KernelError) => e.code === 'EBUSY',
      );
    } finally {
      obj.close();
    }
  });

  test('setMaxEntries and setAutoload apply at load; programs and maps are listed', () => {
    const obj = BpfObject.open(fixture('fixture'));
    try {
      obj.setMaxEntries('pg_hash', 128);
      obj.setAutoload('handle_iter', false);
      obj.load();
      const progs = obj.programs();
      const prio = progs.find((p) => p.name === 'handle_getprio');
      assert.deepEqual(
        { section: prio?.section, type: prio?.type, autoload: prio?.autoload },
        { section: 'tp/syscalls/sys_enter_getpriority', type: 'tracepoint', autoload: true },
      );
      assert.ok((prio?.fd ?? -1) >= 0);
      const iter = progs.find((p) => p.name === 'handle_iter');
      assert.equal(iter?.autoload, false);
      assert.ok((iter?.fd ?? 0) < 0, 'not loaded: no fd');
      const hash = obj.maps().find((m) => m.name === 'pg_hash');
      assert.deepEqual(
        {
          type: hash?.type,
          keySize: hash?.keySize,
          valueSize: hash?.valueSize,
          maxEntries: hash?.maxEntries,
        },
        { type: 'hash', keySize: 4, valueSize: 8, maxEntries: 128 },
      );
      assert.ok((hash?.fd ?? -1) >= 0);
      assert.equal(obj.maps().find((m) => m.name === 'pg_events')?.type, 'ringbuf');
    } finally {
      obj.close();
    }
    assert.throws(() => obj.programs(), /object is closed/);
  });

  test('readIterator runs iter/task and returns this process among the tgids', () => {
    const obj = BpfObject.open(fixture('fixture'));
    try {
      obj.setAutoload('handle_getprio', false);
      obj.load();
      const link = obj.attach('handle_iter');
      try {
        const out = readIterator(link);
        assert.equal(out.length % 4, 0);
        const tgids = new Set<number>();
        for (let i = 0; i < out.length; i += 4) tgids.add(out.readUInt32LE(i));
        assert.ok(tgids.has(process.pid), 'own pid in iterator output');
        assert.ok(tgids.size > 1, 'other processes in iterator output');
      } finally {
        link.close();
      }
    } finally {
      obj.close();
    }
  });

  test("setStats gives each program the verifier's numbers and the load its wall time", () => {
    const obj = BpfObject.open(fixture('fixture'));
    try {
      obj.setStats(true);
      obj.load();
      assert.throws(
        () => obj.setStats(false),
        (e: KernelError) => e.code === 'EBUSY',
      );
      const stats = obj.verifierStats();
      assert.equal(stats.object, 'fixture');
      assert.ok(stats.loadMs > 0);
      assert.deepEqual(
        stats.programs.map((p) => p.name),
        ['handle_getprio', 'handle_iter'],
      );
      for (const p of stats.programs) {
        assert.ok((p.processedInsns ?? 0) > 0, JSON.stringify(p));
        // 5.16+ reports verified_insns: the same count, read back from the loaded program.
        assert.equal(p.verifiedInsns, p.processedInsns);
        assert.ok(p.stackDepths.length >= 1);
        // One frame per program here: the deepest chain is that frame, rounded up to 32 bytes as the kernel counts it.
        assert.equal(p.stackDepths.length, 1);
        assert.equal(p.combinedStack, Math.ceil(Math.max(p.stackDepths[0], 1) / 32) * 32);
        assert.ok(p.verifyTimeUs !== null && p.totalStates !== null && p.peakStates !== null);
      }
      assert.ok((stats.programs[0].combinedStack ?? 0) >= 4, 'handle_getprio keeps a u32 on the stack');
    } finally {
      obj.close();
    }
  });

  test('without setStats only verified_insns is known; load observers see every load, with stats', () => {
    const reports: LoadReport[] = [];
    const plain = BpfObject.open(fixture('fixture'));
    try {
      plain.load();
      const p = plain.verifierStats().programs[0];
      assert.deepEqual([p.processedInsns !== null, p.verifyTimeUs, p.stackDepths], [true, null, []]);
    } finally {
      plain.close();
    }
    const stop = BpfObject.observeLoads((r) => reports.push(r));
    const observed = BpfObject.open(fixture('fixture'));
    try {
      observed.setAutoload('handle_iter', false);
      observed.load();
    } finally {
      stop();
      observed.close();
    }
    assert.equal(reports.length, 1);
    const [r] = reports;
    assert.equal(r.object, 'fixture');
    assert.equal(r.error, undefined);
    assert.deepEqual(
      r.programs.map((p) => [p.name, p.autoload]),
      [
        ['handle_getprio', true],
        ['handle_iter', false],
      ],
    );
    assert.deepEqual(
      r.stats.programs.map((p) => p.name),
      ['handle_getprio'],
    );
    assert.ok(r.stats.programs[0].verifyTimeUs !== null, 'observed loads have stats on');
  });

  test('opening a missing file is a KernelError naming the op and errno', () => {
    assert.throws(
      () => BpfObject.open('/nonexistent/x.bpf.o'),
      (e: KernelError) =>
        e instanceof KernelError &&
        e.op === 'open object' &&
        e.code === 'ENOENT' &&
        e.errno === 2 &&
        /^open object \/nonexistent\/x\.bpf\.o: /.test(e.message),
    );
  });
});
