// SPDX-License-Identifier: Apache-2.0
// probeFeatures() against this kernel: each kind found by trying, matching what
// DESIGN.md records for the 6.18 development machines; nothing leaks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FeatureName, openHandles, probeFeatures } from '../../src/kernel/index.js';
import { fdCount, kernelTest, probesObject } from './helpers.js';

const SUPPORTED: FeatureName[] = [
  'tracepoint',
  'tpBtf',
  'rawTracepoint',
  'cgroupConnect4',
  'cgroupSockCreate',
  'xdp',
  'ringbuf',
  'sendSignal',
  'iterTask',
];
const UNSUPPORTED: FeatureName[] = ['lsm', 'fentry', 'fexit', 'kprobe', 'kprobeOverride'];

describe('probeFeatures', {
  ...kernelTest,
  skip: kernelTest.skip || (process.env.VMTEST === '1' && 'host kernel expectations'),
}, () => {
  test('reports what this kernel allows, found by trying, and leaks nothing', async () => {
    probesObject();
    await probeFeatures(); // warm-up: tracefs mount, libbpf feature cache
    const fds = fdCount();
    const report = await probeFeatures();
    for (const f of SUPPORTED) assert.deepEqual(report[f], { status: 'supported' }, f);
    for (const f of UNSUPPORTED) {
      const s = report[f];
      assert.equal(s.status, 'unsupported', `${f}: ${JSON.stringify(s)}`);
    }
    const lsm = report.lsm;
    assert.ok(
      lsm.status === 'unsupported' && /^lsm program load failed: EPERM.*BPF LSM/.test(lsm.reason),
      JSON.stringify(lsm),
    );
    assert.notEqual(report.bpfLsm.status, 'supported');
    assert.ok(report.durationMs < 3000, `probe took ${report.durationMs} ms`);
    assert.equal(openHandles().total, 0);
    assert.equal(fdCount(), fds);
  });
});
