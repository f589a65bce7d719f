// SPDX-License-Identifier: Apache-2.0
// The verifier's summary lines become numbers; missing lines become null, never 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { deepestChain, parseVerifierStats, programStats } from './verifier-stats.js';

// Verbatim from 6.18 at BPF_LOG_STATS: network.bpf.c's handle_exit_connect.
const LOADED = `verification time 9512 usec
stack depth 272+136+0+0
processed 14705 insns (limit 1000000) max_states_per_insn 13 total_states 664 peak_states 386 mark_read 0
`;

// Verbatim from 6.18 at BPF_LOG_STATS: a rejection (process.bpf.c's handle_exec), its reason then the summary.
const REJECTED = `func 'sched_process_exec' arg2 has btf_id 1594 type STRUCT 'linux_binprm'
func 'sched_process_exec' arg0 has btf_id 114 type STRUCT 'task_struct'
BPF program is too large. Processed 1000001 insn
verification time 1218184 usec
stack depth 208+16+0
processed 1000001 insns (limit 1000000) max_states_per_insn 129 total_states 33123 peak_states 79947 mark_read 0
`;

describe('parseVerifierStats', () => {
  test('reads every number of the summary of a program that loaded', () => {
    assert.deepEqual(parseVerifierStats(LOADED), {
      processedInsns: 14705,
      insnLimit: 1000000,
      maxStatesPerInsn: 13,
      totalStates: 664,
      peakStates: 386,
      verifyTimeUs: 9512,
      stackDepths: [272, 136, 0, 0],
    });
  });

  test('reads the summary of a rejected program past its reason, not the "Processed N insn" of the reason', () => {
    const s = parseVerifierStats(REJECTED);
    assert.equal(s.processedInsns, 1000001);
    assert.deepEqual(s.stackDepths, [208, 16, 0]);
    assert.equal(s.verifyTimeUs, 1218184);
    assert.equal(s.peakStates, 79947);
  });

  test('a level-1 log (no time, no stack line) and older kernels without state counts give nulls', () => {
    const s = parseVerifierStats('0: (b7) r0 = 0\n1: (95) exit\nprocessed 2 insns (limit 1000000)\n');
    assert.equal(s.processedInsns, 2);
    assert.equal(s.insnLimit, 1000000);
    assert.equal(s.totalStates, null);
    assert.equal(s.verifyTimeUs, null);
    assert.deepEqual(s.stackDepths, []);
    assert.deepEqual(parseVerifierStats(''), {
      processedInsns: null,
      insnLimit: null,
      maxStatesPerInsn: null,
      totalStates: null,
      peakStates: null,
      verifyTimeUs: null,
      stackDepths: [],
    });
  });

  test('a single-subprogram stack line and the last summary of a log with two', () => {
    const s = parseVerifierStats(`stack depth 8\nprocessed 7 insns (limit 1000000)\n${LOADED}`);
    assert.deepEqual(s.stackDepths, [272, 136, 0, 0]);
    assert.equal(s.processedInsns, 14705);
    assert.deepEqual(parseVerifierStats('stack depth 8\n').stackDepths, [8]);
  });
});

describe('programStats', () => {
  test('without instructions combinedStack sums the subprograms; verified_insns fills in for a log without the line', () => {
    const p = programStats({ name: 'handle_x', log: LOADED, verifiedInsns: 14705, insns: null });
    assert.equal(p?.combinedStack, 408);
    assert.equal(p?.processedInsns, 14705);
    const noLog = programStats({ name: 'handle_y', log: '', verifiedInsns: 99, insns: null });
    assert.equal(noLog?.processedInsns, 99);
    assert.equal(noLog?.combinedStack, null);
  });

  test('a program that never reached the verifier has no statistics', () => {
    assert.equal(programStats({ name: 'handle_z', log: '', verifiedInsns: null, insns: null }), undefined);
  });
});

/** One 8-byte instruction: code, src register (high nibble of the register byte), imm. */
function insn(code: number, src: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = code;
  b[1] = src << 4;
  b.writeInt32LE(imm, 4);
  return b;
}
const EXIT = insn(0x95, 0, 0);

describe('deepestChain', () => {
  // main (0..3) calls A (4..5) and passes callback C (8..9) to a helper;
  // A calls B (6..7); B and C are leaves.
  const prog = Buffer.concat([
    insn(0x85, 1, 3), // 0: call A (0 + 3 + 1 = 4)
    insn(0x18, 4, 6), // 1: ld_imm64 of callback C (1 + 6 + 1 = 8)
    insn(0, 0, 0), //    2: second slot of the ld_imm64
    EXIT, //             3
    insn(0x85, 1, 1), // 4: A calls B (4 + 1 + 1 = 6)
    EXIT, //             5
    EXIT, //             6: B
    EXIT, //             7
    EXIT, //             8: C (callback)
    EXIT, //             9
  ]);

  test('the deepest chain of frames rounded to 32 bytes, a callback on top of its caller', () => {
    // frames: main 100 -> 128; A 40 -> 64; B 0 -> 32; C 200 -> 224
    assert.equal(deepestChain(prog, [100, 40, 0, 200]), 128 + 224);
    assert.equal(deepestChain(prog, [100, 40, 100, 8]), 128 + 64 + 128);
  });

  test('a stack line that does not match the call graph falls back to the sum', () => {
    assert.equal(deepestChain(prog, [100, 40]), 140);
  });
});
