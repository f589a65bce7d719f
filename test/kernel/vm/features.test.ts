// SPDX-License-Identifier: Apache-2.0
// Runs only inside ../shared/vmtest (VMTEST=1): a stock Debian kernel with BPF-LSM
// on, where the hooks the host refuses must probe as supported and work.
import assert from 'node:assert/strict';
import { getPriority } from 'node:os';
import { describe, test } from 'node:test';
import { BpfObject, openHandles, probeFeatures } from '../../../src/kernel/index.js';
import { fdCount, kernelSkipReason, probesObject } from '../helpers.js';

const skip =
  process.env.VMTEST !== '1'
    ? 'VM-only (run through vmtest.sh, which sets VMTEST=1)'
    : (kernelSkipReason() ?? false);

describe('feature probes on a BPF-LSM kernel', { skip }, () => {
  test('lsm, fentry, fexit and kprobe probe as supported; override stays unsupported', async () => {
    probesObject();
    await probeFeatures(); // warm-up (tracefs, libbpf feature cache)
    const fds = fdCount();
    const report = await probeFeatures();
    for (const f of [
      'lsm',
      'fentry',
      'fexit',
      'kprobe',
      'tracepoint',
      'tpBtf',
      'ringbuf',
      'iterTask',
    ] as const) {
      assert.deepEqual(report[f], { status: 'supported' }, `${f}: ${JSON.stringify(report[f])}`);
    }
    assert.deepEqual(report.bpfLsm, { status: 'supported' });
    // Debian builds without CONFIG_BPF_KPROBE_OVERRIDE.
    assert.equal(report.kprobeOverride.status, 'unsupported', JSON.stringify(report.kprobeOverride));
    assert.equal(openHandles().total, 0);
    assert.equal(fdCount(), fds);
  });

  test('an lsm program loads, attaches and detaches through BpfObject', () => {
    const obj = BpfObject.open(probesObject());
    try {
      for (const p of obj.programs())
        obj.setAutoload(p.name, p.name === 'probe_lsm' || p.name === 'probe_fentry');
      obj.load();
      const lsm = obj.attach('probe_lsm');
      const fentry = obj.attach('probe_fentry');
      getPriority(0);
      lsm.close();
      fentry.close();
    } finally {
      obj.close();
    }
    assert.equal(openHandles().total, 0);
  });
});
