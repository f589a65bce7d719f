// SPDX-License-Identifier: Apache-2.0
// Load and attach failures against the real kernel: verifier rejections carry a
// one-line summary and the full log; hooks this kernel lacks are NotSupportedError.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  BpfObject,
  hintFor,
  KernelError,
  NotSupportedError,
  summarizeVerifierLog,
  VerifierError,
} from '../../src/kernel/index.js';
import { fixture, kernelTest, leakGuard, probesObject } from './helpers.js';

const inVm = process.env.VMTEST === '1';

function loadOnly(path: string, program: string): unknown {
  const obj = BpfObject.open(path);
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === program);
    obj.load();
    obj.attach(program).close();
    return undefined;
  } catch (e) {
    return e;
  } finally {
    obj.close();
  }
}

describe('kernel errors', kernelTest, () => {
  let guard: ReturnType<typeof leakGuard>;
  beforeEach(() => {
    fixture('broken');
    fixture('broken_const');
    probesObject();
    guard = leakGuard();
  });
  afterEach(() => guard.check());

  test('a program the verifier rejects gives VerifierError with a one-line summary and the full log', () => {
    const obj = BpfObject.open(fixture('broken'));
    try {
      assert.throws(
        () => obj.load(),
        (e: unknown) => {
          assert.ok(e instanceof VerifierError, String(e));
          assert.equal(e.op, 'load program');
          assert.equal(e.program, 'handle_broken');
          assert.equal(e.code, 'EACCES');
          assert.ok(e.summary.length > 0 && !e.summary.includes('\n'));
          assert.match(e.summary, /invalid mem access|map_value_or_null/);
          assert.ok(e.log.includes(e.summary) && e.log.split('\n').length > 3, 'full log kept');
          assert.equal(e.message, `load program handle_broken: permission denied (EACCES): ${e.summary}`);
          return true;
        },
      );
    } finally {
      obj.close();
    }
  });

  test('with verifier stats on, a rejection still carries the full log (verified again with the same consts)', () => {
    const obj = BpfObject.open(fixture('broken_const'));
    try {
      obj.setConst('unchecked', 1);
      obj.setStats(true);
      assert.throws(
        () => obj.load(),
        (e: unknown) => {
          assert.ok(e instanceof VerifierError, String(e));
          assert.equal(e.program, 'handle_maybe');
          assert.equal(e.code, 'EACCES');
          assert.match(e.summary, /invalid mem access 'map_value_or_null'/);
          // Instruction lines exist only at log level 1: the stats-level log alone has none.
          assert.match(e.log, /^\d+: \(\w\w\) /m);
          return true;
        },
      );
      const stats = obj.verifierStats();
      assert.deepEqual(
        stats.programs.map((p) => p.name),
        ['handle_fine', 'handle_maybe'],
        'the program verified before the rejected one, and the rejected one',
      );
      const rejected = stats.programs[1];
      assert.ok((rejected.processedInsns ?? 0) > 0, JSON.stringify(rejected));
      assert.equal(rejected.verifiedInsns, null, 'never loaded');
    } finally {
      obj.close();
    }
  });

  test('the same object with the const that makes it safe loads with stats on', () => {
    const obj = BpfObject.open(fixture('broken_const'));
    try {
      obj.setConst('unchecked', 0);
      obj.setStats(true);
      obj.load();
      assert.deepEqual(
        obj.verifierStats().programs.map((p) => [p.name, p.processedInsns === p.verifiedInsns]),
        [
          ['handle_fine', true],
          ['handle_maybe', true],
        ],
      );
    } finally {
      obj.close();
    }
  });

  test('lsm/file_open on this kernel is NotSupportedError with errno and reason', { skip: inVm }, () => {
    const e = loadOnly(probesObject(), 'probe_lsm');
    assert.ok(e instanceof NotSupportedError, String(e));
    assert.ok(e.errno > 0 && /^E/.test(e.code));
    assert.match(e.reason, /^lsm program (load|attach) failed: E[A-Z]+/);
    assert.match(e.reason, /BPF LSM/);
  });

  test('fentry and kprobe on this kernel are NotSupportedError', { skip: inVm }, () => {
    for (const p of ['probe_fentry', 'probe_fexit', 'probe_kprobe']) {
      const e = loadOnly(probesObject(), p);
      assert.ok(e instanceof NotSupportedError, `${p}: ${String(e)}`);
      assert.equal(e.program, p);
    }
  });

  test('bpf_override_return missing from the kernel is NotSupportedError, not a program bug', () => {
    const e = loadOnly(probesObject(), 'probe_override');
    assert.ok(e instanceof NotSupportedError, String(e));
    assert.match(e.reason, /bpf_override_return|unknown func/);
  });

  test('hints name the usual environmental causes', () => {
    assert.match(hintFor(1) ?? '', /CAP_BPF\+CAP_PERFMON/);
    assert.match(hintFor(12) ?? '', /RLIMIT_MEMLOCK/);
    assert.match(hintFor(3, 'libbpf: failed to find valid kernel BTF') ?? '', /kernel lacks BTF/);
    assert.match(hintFor(1, 'Lockdown: bpf: use of bpf to read kernel RAM is restricted') ?? '', /lockdown/);
    assert.equal(hintFor(22), undefined);
    assert.equal(
      summarizeVerifierLog('0: (b7) r0 = 0\nR0 invalid mem access\nprocessed 2 insns (limit 1000000)\n'),
      'R0 invalid mem access',
    );
    assert.ok(new KernelError({ op: 'x', errno: 1, code: 'EPERM' }).message === 'x: failed (EPERM)');
  });
});
