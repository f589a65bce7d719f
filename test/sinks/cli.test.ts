// SPDX-License-Identifier: Apache-2.0
// Outputs from the command line: a bad config file stops `run` before anything
// loads; --sink outputs deliver and `status` shows one line per output.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { kernelTest, root, waitUntil } from '../kernel/helpers.js';

const exec = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');

test('run --config with an unknown field exits 1 naming file, line and field, and starts nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-cfg-'));
  try {
    const cfg = join(dir, 'agent.yaml');
    writeFileSync(
      cfg,
      `outputs:\n  - name: a\n    type: file\n    options: {path: ${dir}/e.json}\n    bogus: 1\n`,
    );
    const r = await exec(process.execPath, [
      BIN,
      'run',
      '--config',
      cfg,
      '--socket',
      join(dir, 's.sock'),
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${cfg}:5: outputs\\[0\\]\\.bogus: unknown field`));
    assert.doesNotMatch(r.stderr, /running on/);
    assert.equal(existsSync(join(dir, 'e.json')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  'run --sink file:path=...: events reach the file and status prints the output line',
  kernelTest,
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pg-sink-'));
    const sock = join(dir, 'control.sock');
    const file = join(dir, 'events.json');
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--output', 'compact', '--socket', sock, '--sink', `file:path=${file}`],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    try {
      await waitUntil('the startup line', () => err.includes('peregrine: running on'), 60_000);
      assert.match(err, /outputs file \(file\)/);
      await exec('/bin/true', []);
      await waitUntil(
        'events in the file',
        () => existsSync(file) && readFileSync(file, 'utf8').includes('"process.exec"'),
        10_000,
      );
      const { stdout } = await exec(process.execPath, [BIN, 'status', '--socket', sock]);
      assert.match(stdout, /\noutputs:\n {2}file \(file\) {2}ok {2}sent \d+ {2}retried 0 {2}dropped 0/);
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
      assert.match(err, /final counters[\s\S]*outputs:\n {2}file \(file\) {2}ok/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
