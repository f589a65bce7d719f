// SPDX-License-Identifier: Apache-2.0
// A cgroup created after a container-scoped policy was compiled is let through
// in the kernel from its first process (tp_btf/cgroup_mkdir), while cgroups
// the policy does not list stay filtered.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { findCgroup2Mount } from '../../src/container/index.js';
import type { PeregrineEvent } from '../../src/events/types.js';
import type { Policy } from '../../src/policy/types.js';
import { kernelTest } from '../kernel/helpers.js';
import { startAgent } from '../process/agent.js';

function run(script: string): Promise<number | null> {
  return new Promise((resolve) =>
    spawn('/bin/sh', ['-c', script], { stdio: 'ignore' }).once('exit', resolve),
  );
}

test('a cgroup made after a scoped policy is covered from its first process', kernelTest, async (t) => {
  const cg2 = findCgroup2Mount();
  if (cg2 === undefined) return t.skip('no cgroup2 mount');
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'pg-cgnew-')));
  const policy: Policy = {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name: 'scoped' },
    spec: {
      mode: 'enforce',
      rules: [
        {
          name: 'writes',
          kinds: ['file.open'],
          // Scoped to a container that does not exist (as a selector matching nothing yet would be).
          match: { paths: { prefix: [`${dir}/`] }, cgroupIds: { in: [0] } },
          action: 'audit',
        },
      ],
    },
    source: { file: 'test' },
  };
  const a = await startAgent({ policies: [policy], containers: false });
  const cg = join(cg2, `pg-cgnew-${process.pid}`);
  try {
    await run(`echo host > ${dir}/host-before`);
    mkdirSync(cg);
    await run(`echo $$ > ${cg}/cgroup.procs && echo new > ${dir}/in-new-cgroup`);
    await run(`echo host > ${dir}/host-after`);
    const opened = (name: string) => (e: PeregrineEvent) =>
      e.kind === 'file.open' && e.file?.path === join(dir, name);
    const ev = await a.waitFor(opened('in-new-cgroup'), 5000, 'the open in the new cgroup');
    assert.equal(ev.policy?.name, 'scoped');
    assert.equal(a.events.filter(opened('host-before')).length, 0, 'the root cgroup is not in scope');
    assert.equal(a.events.filter(opened('host-after')).length, 0, 'still not in scope');
  } finally {
    await a.stop();
    rmdirSync(cg);
    rmSync(dir, { recursive: true, force: true });
  }
});
