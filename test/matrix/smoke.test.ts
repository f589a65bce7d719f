// SPDX-License-Identifier: Apache-2.0
// The kernel-matrix smoke test: run on this machine's kernel and, through
// scripts/test-matrix.sh, on every Debian kernel of the matrix under QEMU.
// The agent starts on its embedded default policy and ruleset plus one deny
// rule, which loads every sensor object; then a real exec, open, connect, an
// alert and a deny each produce what a user relies on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:net';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { loadRulePaths } from '../../src/cli/rules.js';
import { openHandles } from '../../src/kernel/index.js';
import { loadDefaultPolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/types.js';
import { findPython, kernelTest, listen, portOf, pyConnect, root } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const run = promisify(execFile);

const PYTHON = findPython();
const skip = kernelTest.skip || (PYTHON === undefined ? 'python3 not found' : false);

describe(`kernel ${release()}: every object loads, the basics work`, { skip }, () => {
  let rec: RecordingAgent;
  let dir: string;
  let open: Server;
  let denied: Server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-smoke-'));
    open = await listen();
    denied = await listen();
    const deny: Policy = {
      apiVersion: 'peregrine.dev/v1alpha1',
      kind: 'Policy',
      metadata: { name: 'smoke-deny' },
      spec: {
        mode: 'enforce',
        rules: [
          {
            name: 'no-connect',
            kinds: ['network.connect'],
            match: { binaries: { in: [PYTHON as string] }, ports: { in: [portOf(denied)] } },
            action: 'deny',
          },
        ],
      },
      source: { file: 'smoke.test.ts' },
    };
    rec = await startAgent({
      policies: [...loadDefaultPolicy(), deny],
      rules: loadRulePaths([join(root, 'rules', 'peregrine_rules.yaml')]),
    });
  });

  after(async () => {
    await rec?.stop();
    open?.close();
    denied?.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('every sensor object loaded (nothing degraded)', () => {
    const sensors = rec.agent.stats().sensors as Record<string, unknown>;
    for (const name of ['process', 'file', 'network', 'privilege', 'kernel', 'enforce'])
      assert.ok(name in sensors, `sensor ${name} not loaded: ${Object.keys(sensors).join(', ')}`);
  });

  test('exec from /tmp: the event with its kernel path, and the ATT&CK-tagged alert', async () => {
    const bin = join(dir, 'smoke-true');
    copyFileSync('/bin/true', bin);
    chmodSync(bin, 0o755);
    await run(bin, []);
    const ev = await rec.waitFor(
      (e) => e.kind === 'process.exec' && e.process.binary === bin,
      10_000,
      `process.exec of ${bin}`,
    );
    assert.equal(ev.process.args?.[0], bin);
    const alert = rec.alerts.find(
      (a) => a.rule === 'Execution from temporary directory' && a.source_event.process.binary === bin,
    );
    assert.ok(alert, `no alert for ${bin}; alerts: ${rec.alerts.map((a) => a.rule).join(', ')}`);
    assert.equal(alert.mitre?.technique, 'T1204.002', JSON.stringify(alert.mitre));
  });

  test('open of /etc/shadow: the file.open event with the path from the kernel', async () => {
    await run('cat', ['/etc/shadow'], { maxBuffer: 1 << 20 });
    const ev = await rec.waitFor(
      (e) => e.kind === 'file.open' && e.file?.path === '/etc/shadow' && e.process.binary.endsWith('/cat'),
      10_000,
      'file.open of /etc/shadow by cat',
    );
    assert.equal(ev.file?.path_source, 'kernel');
  });

  test('connect: the allowed one is reported, the denied one fails with EPERM and the caller lives', async () => {
    assert.deepEqual(await pyConnect(PYTHON as string, portOf(open)), ['ok', 'alive']);
    await rec.waitFor(
      (e) => e.kind === 'network.connect' && e.network?.remote_port === portOf(open),
      10_000,
      'network.connect to the open port',
    );
    assert.deepEqual(await pyConnect(PYTHON as string, portOf(denied)), ['EPERM', 'alive']);
    const ev = await rec.waitFor(
      (e) =>
        e.action !== undefined && e.kind === 'network.connect' && e.network?.remote_port === portOf(denied),
      10_000,
      'the deny event',
    );
    assert.equal(ev.action?.taken, 'deny');
  });
});
