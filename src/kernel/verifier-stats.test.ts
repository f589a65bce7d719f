// SPDX-License-Identifier: Apache-2.0
// The verifier's summary lines become numbers; missing lines become null, never 0.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseVerifierStats, programStats } from './verifier-stats.js';

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
  test('combinedStack sums the subprograms; verified_insns fills in for a log without the line', () => {
    const p = programStats({ name: 'handle_x', log: LOADED, verifiedInsns: 14705 });
    assert.equal(p?.combinedStack, 408);
    assert.equal(p?.processedInsns, 14705);
    const noLog = programStats({ name: 'handle_y', log: '', verifiedInsns: 99 });
    assert.equal(noLog?.processedInsns, 99);
    assert.equal(noLog?.combinedStack, null);
  });

  test('a program that never reached the verifier has no statistics', () => {
    assert.equal(programStats({ name: 'handle_z', log: '', verifiedInsns: null }), undefined);
  });
});
