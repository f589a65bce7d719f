// SPDX-License-Identifier: Apache-2.0
// Runs only inside ../shared/vmtest (VMTEST=1: Debian's kernel with BPF-LSM):
// a deny on opening a file fails the open with EPERM and the process lives; a
// deny on exec fails execve (the shell reports 126); the attestation says
// enforced (lsm/...). The objects are driven directly (process object for the
// shared maps, filter writer, enforcement sensor) to keep the TCG guest fast.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EnforceSensor, probeOnce } from '../../../src/enforce/index.js';
import { BpfObject, openHandles } from '../../../src/kernel/index.js';
import { compileFilter } from '../../../src/policy/compile.js';
import { FilterWriter } from '../../../src/policy/filter-maps.js';
import type { Policy } from '../../../src/policy/types.js';
import { objectPath } from '../../../src/sensors/paths.js';
import { ProcessSensor } from '../../../src/sensors/process/sensor.js';
import type { SharedMaps } from '../../../src/sensors/sensor.js';
import { kernelSkipReason } from '../../kernel/helpers.js';

const skip =
  process.env.VMTEST !== '1'
    ? 'VM-only (run through vmtest.sh, which sets VMTEST=1)'
    : (kernelSkipReason() ?? false);

function nsInode(name: string): number {
  const m = /\[(\d+)\]/.exec(readlinkSync(`/proc/self/ns/${name}`));
  return m !== null ? Number(m[1]) : 0;
}

describe('BPF-LSM deny (enforce_lsm.bpf.c)', { skip }, () => {
  test('deny open → EPERM, the process lives; deny exec → 126; attested enforced (lsm/...)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-lsm-'));
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'x');
    const bin = join(dir, 'sh-copy');
    copyFileSync('/bin/sh', bin);
    chmodSync(bin, 0o755);
    const proc = BpfObject.open(objectPath('process'));
    const enf = new EnforceSensor();
    enf.guardDeny = true; // --protect-self: denies where BPF-LSM runs
    const ignore = () => {};
    process.on('SIGINT', ignore);
    try {
      proc.load();
      const shared: SharedMaps = { get: (n) => proc.map(n), names: () => ProcessSensor.SHARED_MAPS };
      const writer = new FilterWriter(shared);
      enf.load(shared, {
        wakeupBytes: 0,
        selfPid: process.pid,
        hostMntNs: nsInode('mnt'),
        hostPidNs: nsInode('pid'),
      });
      const caps = enf.useFeatures(await probeOnce());
      assert.equal(caps.lsm, true, caps.lsmReason);
      const policy: Policy = {
        apiVersion: 'peregrine.dev/v1alpha1',
        kind: 'Policy',
        metadata: { name: 'lsm-deny' },
        spec: {
          mode: 'enforce',
          rules: [
            { name: 'no-open', kinds: ['file.open'], match: { paths: { exact: [secret] } }, action: 'deny' },
            { name: 'no-exec', kinds: ['process.exec'], match: { paths: { exact: [bin] } }, action: 'deny' },
            {
              name: 'no-unlink',
              kinds: ['file.unlink'],
              match: { paths: { exact: [secret] } },
              action: 'deny',
            },
          ],
        },
        source: { file: 'lsm.test.ts' },
      };
      const img = compileFilter([policy]);
      enf.resolve(img, [policy]);
      writer.apply(img);
      enf.attach(img.kinds);
      const report = enf.attach(img.kinds);
      assert.ok(report.attached.includes('lsm/file_open'), JSON.stringify(report));
      assert.equal(enf.attestation('lsm-deny', 'no-open')?.text, 'enforced (lsm/file_open)');
      assert.equal(enf.attestation('lsm-deny', 'no-exec')?.text, 'enforced (lsm/bprm_check_security)');

      const open = spawnSync(
        process.execPath,
        [
          '-e',
          `try { require('fs').readFileSync(${JSON.stringify(secret)}) } catch (e) { console.log(e.code) } console.log('alive')`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(open.stdout.trim(), 'EPERM\nalive');
      assert.equal(open.signal, null);
      const exec = spawnSync('/bin/sh', ['-c', `${bin} -c 'touch ${dir}/ran'; echo $?`], {
        encoding: 'utf8',
      });
      assert.equal(exec.stdout.trim(), '126');
      assert.equal(existsSync(join(dir, 'ran')), false);
      assert.equal(enf.attestation('lsm-deny', 'no-unlink')?.text, 'enforced (lsm/path_unlink)');
      const rm = spawnSync('/bin/rm', ['-f', secret], { encoding: 'utf8' });
      assert.notEqual(rm.status, 0);
      assert.match(rm.stderr, /not permitted/i);
      assert.equal(existsSync(secret), true, 'the denied unlink removed the file');
      const counts = enf.ruleCounts();
      assert.ok((counts.find((c) => c.rule === 'no-open')?.taken ?? 0) >= 1, JSON.stringify(counts));
      // Other files and binaries are untouched.
      assert.equal(execFileSync('/bin/sh', ['-c', 'echo ok'], { encoding: 'utf8' }).trim(), 'ok');

      // Self-protection denies: another process may not signal the agent.
      assert.ok(report.attached.includes('lsm/task_kill'), JSON.stringify(report));
      const kill = spawnSync('/bin/kill', ['-INT', String(process.pid)], { encoding: 'utf8' });
      assert.notEqual(kill.status, 0, 'kill -INT of the agent went through');
      assert.match(kill.stderr, /not permitted/i);

      // monitor: the same policy, one map update later, denies nothing and counts.
      const monitor: Policy = { ...policy, spec: { ...policy.spec, mode: 'monitor' } };
      const img2 = compileFilter([monitor]);
      enf.resolve(img2, [monitor]);
      writer.apply(img2);
      enf.attach(img2.kinds);
      enf.attach(img2.kinds);
      const open2 = spawnSync('/bin/cat', [secret], { encoding: 'utf8' });
      assert.equal(open2.status, 0);
      assert.ok((enf.ruleCounts().find((c) => c.rule === 'no-open')?.would ?? 0) >= 1);
    } finally {
      process.off('SIGINT', ignore);
      enf.close();
      proc.close();
      rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(openHandles().total, 0, JSON.stringify(openHandles()));
  });
});
