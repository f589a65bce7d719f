// SPDX-License-Identifier: Apache-2.0
// Load reports become one result per program; the check names every program over
// budget or missing and every failed object; a written budget adds headroom under the caps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LoadReport, NotSupportedError, type ProgramStats, VerifierError } from '../src/kernel/index.js';
import { type BudgetFile, budgetFrom, CAPS, check, formatBudget, summarize } from './verifier-stats.js';

function stats(name: string, insns: number, stack: number[], loaded = true): ProgramStats {
  return {
    name,
    verifiedInsns: loaded ? insns : null,
    processedInsns: insns,
    stackDepths: stack,
    combinedStack: stack.reduce((a, b) => a + b, 0),
    verifyTimeUs: 10,
    totalStates: 1,
    peakStates: 1,
  };
}

function report(
  object: string,
  progs: Array<[string, boolean]>,
  measured: ProgramStats[],
  error?: unknown,
): LoadReport {
  return {
    object,
    path: `/x/${object}.bpf.o`,
    programs: progs.map(([name, autoload]) => ({
      name,
      section: 'tp/x',
      type: 'tracepoint',
      autoload,
      fd: -1,
    })),
    stats: { object, loadMs: 5, programs: measured },
    error,
  };
}

const rejected = new VerifierError({
  op: 'load program',
  object: 'proc',
  program: 'handle_b',
  errno: 7,
  code: 'E2BIG',
  cause: 'argument list too long',
  log: 'BPF program is too large. Processed 1000001 insn\nprocessed 1000001 insns (limit 1000000)\n',
});

const noLsm = new NotSupportedError({
  op: 'load program',
  object: 'probes',
  program: 'probe_lsm',
  errno: 1,
  code: 'EPERM',
  reason: 'lsm program load failed: EPERM',
});

const all = new Map([
  ['proc', ['handle_a', 'handle_b', 'handle_c']],
  ['probes', ['probe_tp', 'probe_lsm']],
  ['lsm', ['handle_open']],
]);

function measurement() {
  return summarize(
    '6.18.0',
    [
      report(
        'proc',
        [
          ['handle_a', true],
          ['handle_b', true],
          ['handle_c', true],
        ],
        [stats('handle_a', 100, [64, 8], false), stats('handle_b', 1000001, [200], false)],
        rejected,
      ),
      report(
        'probes',
        [
          ['probe_tp', true],
          ['probe_lsm', false],
        ],
        [stats('probe_tp', 2, [0])],
      ),
      report(
        'probes',
        [
          ['probe_tp', false],
          ['probe_lsm', true],
        ],
        [],
        noLsm,
      ),
    ],
    all,
    [{ object: 'lsm', reason: 'BPF-LSM unavailable' }],
  );
}

describe('summarize', () => {
  test('one result per program: verified before the rejection, rejected, never reached, unsupported, not loaded', () => {
    const m = measurement();
    assert.deepEqual(
      m.programs.map((p) => [`${p.object}/${p.program}`, p.status, p.reason]),
      [
        ['proc/handle_a', 'ok', undefined],
        ['proc/handle_b', 'failed', 'BPF program is too large. Processed 1000001 insn'],
        ['proc/handle_c', 'unverified', 'the load stopped at handle_b'],
        ['probes/probe_tp', 'ok', undefined],
        ['probes/probe_lsm', 'skipped', 'lsm program load failed: EPERM'],
        ['lsm/handle_open', 'skipped', 'BPF-LSM unavailable'],
      ],
    );
    assert.deepEqual(
      m.objects.map((o) => [o.object, o.loads, o.failures.length, o.unsupported.length]),
      [
        ['proc', 1, 1, 0],
        ['probes', 2, 0, 1],
        ['lsm', 0, 0, 0],
      ],
    );
  });
});

describe('check', () => {
  const budget: BudgetFile = {
    measuredOn: '6.18.0',
    objects: {
      proc: {
        handle_a: { processedInsns: 99, combinedStack: 72 },
        handle_b: { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack },
        handle_c: { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack },
      },
      probes: { probe_tp: { processedInsns: 3, combinedStack: 0 } },
      lsm: { handle_open: { processedInsns: CAPS.processedInsns + 1, combinedStack: CAPS.combinedStack } },
      gone: { handle_old: { processedInsns: 1, combinedStack: 1 } },
    },
  };

  test('names each program over budget or missing, each failed object, and entries over the caps', () => {
    const r = check(measurement(), budget);
    assert.equal(r.ok, false);
    assert.deepEqual(r.errors, [
      `lsm/handle_open: budget of ${CAPS.processedInsns + 1} insns is over the cap of ${CAPS.processedInsns}`,
      'proc/handle_a: processed 100 insns, over its budget of 99',
      'probes/probe_lsm: missing from the budget file',
      'object proc failed to load: load program handle_b: argument list too long (E2BIG): BPF program is too large. Processed 1000001 insn',
    ]);
    assert.deepEqual(r.warnings, ['gone/handle_old: in the budget file but in no object (stale entry)']);
  });

  test('passes when every loaded program is within its entry and nothing failed', () => {
    const m = measurement();
    m.objects = m.objects.filter((o) => o.object !== 'proc');
    m.programs = m.programs.filter((p) => p.object !== 'proc');
    const ok = structuredClone(budget);
    ok.objects.probes.probe_lsm = { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack };
    ok.objects.lsm.handle_open.processedInsns = CAPS.processedInsns;
    delete ok.objects.gone;
    delete ok.objects.proc;
    assert.deepEqual(check(m, ok), { ok: true, errors: [], warnings: [] });
  });
});

describe('budgetFrom', () => {
  test('measured numbers plus a quarter (at least 1000 insns / 64 bytes), the caps for what did not load, earlier entries kept for what was not measured', () => {
    const b = budgetFrom(measurement(), {
      measuredOn: 'older',
      objects: { lsm: { handle_open: { processedInsns: 4000, combinedStack: 96 } } },
    });
    assert.equal(b.measuredOn, '6.18.0');
    assert.deepEqual(b.objects.proc, {
      handle_a: { processedInsns: 1100, combinedStack: 136 },
      handle_b: { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack },
      handle_c: { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack },
    });
    assert.deepEqual(b.objects.lsm, { handle_open: { processedInsns: 4000, combinedStack: 96 } });
    assert.deepEqual(JSON.parse(formatBudget(b)), b);
  });

  test('a quarter where it is more than the least headroom; the caps bound both', () => {
    const m = measurement();
    const a = m.programs.find((p) => p.program === 'handle_a');
    if (a?.stats) {
      a.stats.processedInsns = 100_000;
      a.stats.combinedStack = 320;
    }
    assert.deepEqual(budgetFrom(m).objects.proc.handle_a, { processedInsns: 125_000, combinedStack: 384 });
  });

  test('--merge keeps the larger entry, replaces placeholders at the caps, and lists every kernel', () => {
    const b = budgetFrom(
      measurement(),
      {
        measuredOn: '6.1.0',
        objects: {
          proc: {
            handle_a: { processedInsns: 5000, combinedStack: 100 },
            handle_c: { processedInsns: CAPS.processedInsns, combinedStack: CAPS.combinedStack },
          },
        },
      },
      true,
    );
    assert.equal(b.measuredOn, '6.1.0, 6.18.0');
    assert.deepEqual(b.objects.proc.handle_a, { processedInsns: 5000, combinedStack: 136 });
  });
});
