// SPDX-License-Identifier: Apache-2.0
// Failure lines: one line per failed sensor with the program, the verifier's
// summary and a hint; the process sensor's names the missing kernel features.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { FeatureReport, FeatureStatus } from '../kernel/index.js';
import { FEATURE_PROBES, KernelError, VerifierError } from '../kernel/index.js';
import { processFailure, sensorFailure } from './degraded.js';

const LOG =
  "0: R1=ctx() R10=fp0\n; return *(int *)e;\n5: (61) r0 = *(u32 *)(r0 +0)\nR0 invalid mem access 'map_value_or_null'\nprocessed 6 insns (limit 1000000)\n";

function rejected(code = 'EACCES'): VerifierError {
  return new VerifierError({
    op: 'load program',
    object: 'network_bpf',
    program: 'handle_exit_connect',
    errno: 13,
    code,
    cause: 'permission denied',
    log: LOG,
  });
}

const OK: FeatureStatus = { status: 'supported' };

function features(over: Partial<FeatureReport> = {}): FeatureReport {
  const all = Object.fromEntries(Object.keys(FEATURE_PROBES).map((k) => [k, OK]));
  return { ...all, bpfLsm: OK, durationMs: 1, ...over } as FeatureReport;
}

test('a verifier rejection is one line: sensor, program, summary, hint', () => {
  const f = sensorFailure('network', 'load', rejected(), ['network.connect']);
  assert.equal(f.sensor, 'network');
  assert.equal(f.program, 'handle_exit_connect');
  assert.equal(
    f.error,
    "load program handle_exit_connect: permission denied (EACCES): R0 invalid mem access 'map_value_or_null'",
  );
  assert.match(f.hint ?? '', /verifier rejects this build/);
  assert.equal(f.summary, `network sensor not loaded: ${f.error}`);
  assert.equal(f.reason, `${f.summary} (hint: ${f.hint})`);
  assert.ok(!f.reason.includes('\n'));
  assert.deepEqual(f.kinds, ['network.connect']);
});

test('the error hint (memlock, lockdown, ...) wins over the generic verifier hint; E2BIG says too complex', () => {
  const perm = new KernelError({
    op: 'attach program',
    program: 'handle_x',
    errno: 1,
    code: 'EPERM',
    hint: 'needs root',
  });
  const f = sensorFailure('file', 'attach', perm, []);
  assert.equal(
    f.reason,
    'file sensor not attached: attach program handle_x: failed (EPERM) (hint: needs root)',
  );
  assert.match(sensorFailure('file', 'load', rejected('E2BIG'), []).hint ?? '', /too complex/);
  const plain = sensorFailure('kernel', 'load', new Error('open object x:\n  no such file'), []);
  assert.equal(plain.reason, 'kernel sensor not loaded: open object x: no such file');
});

test('more programs that failed the same way are named on the same line', () => {
  const f = sensorFailure('enforce', 'attach', rejected(), [], ['handle_bind4', 'handle_bind6']);
  assert.match(f.reason, /; also handle_bind4, handle_bind6 \(hint: /);
});

test('the process sensor says which kernel features are missing, else the verifier reason', () => {
  const missing = features({
    tpBtf: { status: 'unsupported', reason: 'tracing program load failed: EINVAL' },
    ringbuf: { status: 'inconclusive', reason: 'ringbuf probe load failed:\nEPERM' },
  });
  assert.equal(
    processFailure('load', rejected(), missing),
    'process sensor cannot load: tp_btf unsupported (tracing program load failed: EINVAL), ' +
      "ring buffer inconclusive (ringbuf probe load failed: EPERM); load program handle_exit_connect: permission denied (EACCES): R0 invalid mem access 'map_value_or_null'",
  );
  const line = processFailure('load', rejected(), features());
  assert.match(line, /^process sensor cannot load: load program handle_exit_connect: .+ \(hint: .+\)$/);
  assert.equal(processFailure('attach', new Error('boom'), undefined), 'process sensor cannot attach: boom');
});

test('PEREGRINE_VERIFIER_LOG keeps the full log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-vlog-'));
  const file = join(dir, 'verifier.log');
  process.env.PEREGRINE_VERIFIER_LOG = file;
  try {
    const f = sensorFailure('network', 'load', rejected(), []);
    assert.ok(!f.hint?.includes('PEREGRINE_VERIFIER_LOG'), 'no need to tell what is already set');
    assert.ok(readFileSync(file, 'utf8').includes('processed 6 insns'));
  } finally {
    delete process.env.PEREGRINE_VERIFIER_LOG;
    rmSync(dir, { recursive: true, force: true });
  }
});
