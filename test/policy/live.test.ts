// SPDX-License-Identifier: Apache-2.0
// Policies applied and deleted live through the control socket, against a
// real agent: the kernel filter follows, other policies keep working, a bad
// policy changes nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { PeregrineEvent } from '../../src/events/types.js';
import { loadPolicyText } from '../../src/policy/load.js';
import { kernelTest, root } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const exec = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');

function policyYaml(name: string, prefix: string): string {
  return `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
spec:
  rules:
    - kinds: [file.open]
      match:
        paths:
          prefix: [${JSON.stringify(prefix)}]
        access: [write]
`;
}

describe('live policies over the control socket', kernelTest, () => {
  let dir: string;
  let sock: string;
  let a: RecordingAgent;
  const opened = (path: string) => (e: PeregrineEvent) => e.kind === 'file.open' && e.file?.path === path;

  before(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'pg-live-')));
    sock = join(dir, 'control.sock');
    a = await startAgent({
      socket: sock,
      policies: loadPolicyText(policyYaml('keep-a', `${dir}/a/`), 'keep.yaml'),
      parsePolicies: loadPolicyText,
    });
    await exec('mkdir', ['-p', join(dir, 'a'), join(dir, 'b')]);
  });

  after(async () => {
    await a?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = (...args: string[]) => exec(process.execPath, [BIN, ...args, '--socket', sock]);

  test('apply adds a policy without a gap for the others; list shows matches; delete removes it', async () => {
    writeFileSync(join(dir, 'a', 'one'), 'x');
    await a.waitFor(opened(join(dir, 'a', 'one')), 5000, 'write under a/ (policy keep-a)');

    // Before apply: writes under b/ are filtered in the kernel.
    writeFileSync(join(dir, 'b', 'early'), 'x');
    const file = join(dir, 'watch-b.yaml');
    writeFileSync(file, policyYaml('watch-b', `${dir}/b/`));
    const applied = await cli('policy', 'apply', file);
    assert.match(applied.stdout, /applied watch-b/);
    writeFileSync(join(dir, 'b', 'two'), 'x');
    writeFileSync(join(dir, 'a', 'three'), 'x');
    const ev = await a.waitFor(opened(join(dir, 'b', 'two')), 5000, 'write under b/ after apply');
    assert.equal(ev.policy?.name, 'watch-b');
    await a.waitFor(opened(join(dir, 'a', 'three')), 5000, 'keep-a still works after the apply');
    assert.equal(a.events.filter(opened(join(dir, 'b', 'early'))).length, 0, 'nothing before the apply');

    const list = await cli('policy', 'list', '--json');
    const rows = JSON.parse(list.stdout) as Array<{ name: string; matches: number }>;
    assert.deepEqual(rows.map((r) => r.name).sort(), ['keep-a', 'watch-b']);
    assert.ok((rows.find((r) => r.name === 'watch-b')?.matches ?? 0) >= 1);

    await cli('policy', 'delete', 'watch-b');
    writeFileSync(join(dir, 'b', 'four'), 'x');
    writeFileSync(join(dir, 'a', 'five'), 'x');
    await a.waitFor(opened(join(dir, 'a', 'five')), 5000, 'keep-a after the delete');
    assert.equal(a.events.filter(opened(join(dir, 'b', 'four'))).length, 0, 'watch-b is gone');
  });

  test('a malformed policy is refused with file, line and field, and changes nothing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${policyYaml('bad-one', '/tmp/')}      colour: blue\n`);
    await assert.rejects(cli('policy', 'apply', bad), (err: { stderr: string; code: number }) => {
      assert.equal(err.code, 1);
      assert.match(err.stderr, /bad\.yaml:\d+/);
      assert.match(err.stderr, /colour/);
      return true;
    });
    const list = JSON.parse((await cli('policy', 'list', '--json')).stdout) as Array<{ name: string }>;
    assert.deepEqual(
      list.map((r) => r.name),
      ['keep-a'],
    );
    writeFileSync(join(dir, 'a', 'six'), 'x');
    await a.waitFor(opened(join(dir, 'a', 'six')), 5000, 'keep-a after the refused apply');
  });

  test('deleting an unknown policy is an error', async () => {
    await assert.rejects(cli('policy', 'delete', 'nope'), /no policy named nope/);
  });
});
