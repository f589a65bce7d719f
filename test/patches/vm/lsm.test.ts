// SPDX-License-Identifier: Apache-2.0
// Runs only inside ../shared/vmtest (VMTEST=1: Debian's kernel with BPF-LSM):
// the pack's deny-or-kill entries deny there — the exploit's open or exec
// fails with EPERM and the process lives — and attest enforced (lsm/...).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openHandles } from '../../../src/kernel/index.js';
import { loadPatchPack, type PatchPack } from '../../../src/patches/index.js';
import { kernelSkipReason } from '../../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../../process/agent.js';
import { labSkipReason, openLab, type PatchLab, runIn, scoped } from '../patch-test.js';

const skip =
  process.env.VMTEST !== '1'
    ? 'VM-only (run through vmtest.sh, which sets VMTEST=1)'
    : (kernelSkipReason() ?? labSkipReason() ?? false);

describe('virtual patches deny with BPF-LSM', { skip }, () => {
  let rec: RecordingAgent;
  let lab: PatchLab;
  let pack: PatchPack;
  const apply = (id: string): string[] => {
    const e = pack.entries.find((x) => x.id === id);
    assert.ok(e);
    rec.agent.applyPolicies(scoped(e.policies, lab));
    return rec.agent.policyStatus().flatMap((p) => p.rules.map((r) => r.enforcement ?? ''));
  };

  before(async () => {
    pack = loadPatchPack();
    lab = openLab();
    rec = await startAgent({ policies: [], containers: false });
  });

  after(async () => {
    await rec?.stop();
    lab?.close();
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('CVE-2019-5736: the reopen of runc for writing fails with EPERM, the process lives', async () => {
    assert.deepEqual(apply('cve-2019-5736'), ['enforced (lsm/file_open)']);
    const r = await runIn(lab, lab.helper, ['runc', lab.sleepPayload]);
    assert.equal(r.signal, null, r.stdout);
    assert.match(r.stdout, /^reopen for write: Operation not permitted$/m);
  });

  test('CVE-2022-0492: the open of release_agent for writing fails with EPERM', async () => {
    const dir = join(lab.dir, 'cgv1');
    mkdirSync(dir);
    assert.deepEqual(apply('cve-2022-0492'), ['enforced (lsm/file_open)']);
    const r = await runIn(lab, lab.helper, ['release-agent', dir]);
    assert.equal(r.signal, null, r.stdout);
    assert.match(r.stdout, /^open release_agent: Operation not permitted$/m);
  });

  test('CVE-2021-4034: exec of pkexec fails with EPERM', async () => {
    assert.deepEqual(apply('cve-2021-4034'), ['enforced (lsm/bprm_check_security)']);
    const r = await runIn(lab, lab.helper, ['pkexec', lab.truePayload]);
    assert.equal(r.signal, null, r.stdout);
    assert.match(r.stdout, /^execve: Operation not permitted$/m);
    rec.agent.applyPolicies([]);
  });
});
