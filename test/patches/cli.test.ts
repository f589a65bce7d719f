// SPDX-License-Identifier: Apache-2.0
// `peregrine patches` end to end against a real agent: list judges a pack's
// entries on this node, apply --affected sends only the affected entries'
// policies, list then shows them applied, delete removes them.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { kernelTest, root, waitUntil } from '../kernel/helpers.js';

const exec = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');

/** An entry whose policy only kills opens for write of one file of this test. */
function entry(id: string, affects: string, target: string): { yaml: string; policy: string } {
  return {
    yaml: `  - id: ${id}
    cve: ${id.toUpperCase()}
    title: test entry ${id}
    affects: ${affects}
    path: p
    breaks: b
    policy: policies/${id}.yaml
    test: test/patches/cli.test.ts
`,
    policy: `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: vp-${id}
  labels:
    peregrine.dev/patch: ${id}
spec:
  rules:
    - name: write
      kinds: [file.open]
      match:
        access: [write]
        paths:
          exact: [${target}]
      action: deny
      fallback: kill
`,
  };
}

describe('peregrine patches list / apply --affected / delete', kernelTest, () => {
  let dir: string;
  let sock: string;
  let pack: string;
  let agent: ChildProcess;
  let stderr = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-patches-cli-'));
    sock = join(dir, 'control.sock');
    pack = join(dir, 'pack');
    mkdirSync(join(pack, 'policies'), { recursive: true });
    const entries = [
      entry('cve-2000-0001', '{kernel: {introduced: "2.6.0"}}', join(dir, 'a')), // not fixed upstream: yes
      entry('cve-2000-0002', '{kernel: {fixed: "2.6.1"}}', join(dir, 'b')), // fixed long ago: no
      entry('cve-2000-0003', '{packages: [{names: [pgvp-no-such-package], fixed: "1.0"}]}', join(dir, 'c')),
    ];
    writeFileSync(
      join(pack, 'pack.yaml'),
      `apiVersion: peregrine.dev/v1alpha1\nkind: PatchPack\nmetadata: {name: test-pack}\nentries:\n${entries.map((e) => e.yaml).join('')}`,
    );
    for (const [i, id] of ['cve-2000-0001', 'cve-2000-0002', 'cve-2000-0003'].entries())
      writeFileSync(join(pack, 'policies', `${id}.yaml`), entries[i].policy);
    agent = spawn(process.execPath, [BIN, 'run', '--output', 'compact', '--socket', sock, '--no-rules'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    agent.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    await waitUntil('the agent', () => stderr.includes('peregrine: running on'), 60_000);
  });

  after(() => {
    if (agent?.exitCode === null) agent.kill('SIGINT');
    rmSync(dir, { recursive: true, force: true });
  });

  const cli = async (...args: string[]) =>
    (await exec(process.execPath, [BIN, 'patches', ...args, '--pack', pack, '--socket', sock])).stdout;

  test('list judges each entry here; apply --affected applies only the affected; delete removes', async () => {
    const list = await cli('list');
    assert.match(list, /^cve-2000-0001 +yes +degraded +no /m);
    assert.match(list, /^cve-2000-0002 +no +degraded +no /m);
    assert.match(list, /^cve-2000-0003 +no .*\n {2}why: pgvp-no-such-package not installed/m);
    assert.match(
      list,
      /vp-cve-2000-0001\/write: degraded \(asked deny, doing kill; tracepoint\/syscalls\/sys_exit_openat\)/,
    );

    const applied = await exec(process.execPath, [
      BIN,
      'patches',
      'apply',
      '--affected',
      '--pack',
      pack,
      '--socket',
      sock,
    ]);
    assert.match(applied.stdout, /^applied vp-cve-2000-0001$/m);
    assert.match(applied.stderr, /skip cve-2000-0002: not affected: kernel .* has the fix \(2\.6\.1\)/);
    const policies = JSON.parse(
      (await exec(process.execPath, [BIN, 'policy', 'list', '--json', '--socket', sock])).stdout,
    ) as Array<{ name: string }>;
    const names = policies.map((p) => p.name);
    assert.ok(names.includes('vp-cve-2000-0001'), names.join(', '));
    assert.ok(!names.includes('vp-cve-2000-0002'));
    assert.ok(!names.includes('vp-cve-2000-0003'));

    const json = JSON.parse(await cli('list', '--json')) as Array<{ id: string; applied: string | null }>;
    assert.equal(json.find((e) => e.id === 'cve-2000-0001')?.applied, 'yes (0 taken)');
    assert.equal(json.find((e) => e.id === 'cve-2000-0002')?.applied, 'no');

    assert.match(await cli('delete', '--all'), /^deleted vp-cve-2000-0001 \(cve-2000-0001\)$/m);
    const after = JSON.parse(
      (await exec(process.execPath, [BIN, 'policy', 'list', '--json', '--socket', sock])).stdout,
    ) as Array<{ name: string }>;
    assert.ok(!after.some((p) => p.name.startsWith('vp-')));
  });

  test('a bad pack is refused with file:line: field: reason', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apiVersion: peregrine.dev/v1alpha1\nkind: PatchPack\nmetadata: {name: x}\nentries:\n  - id: nope\n',
    );
    await assert.rejects(
      exec(process.execPath, [BIN, 'patches', 'list', '--pack', bad]),
      (err: { stderr: string }) =>
        /bad\.yaml:5: entries\[0\]\.id: must be a lowercase CVE id/.test(err.stderr),
    );
  });
});
