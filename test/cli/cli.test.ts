// SPDX-License-Identifier: Apache-2.0
// The `peregrine` command end to end: a real agent process, real events on
// stdout, status over the control socket, clean shutdown on SIGINT.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { kernelTest, root, waitUntil } from '../kernel/helpers.js';

const exec = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function startCli(args: string[]): Running {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

const until = (what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> =>
  waitUntil(what, pred, timeoutMs);

describe('peregrine run / status', kernelTest, () => {
  let dir: string;
  let sock: string;
  let agent: Running;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-cli-'));
    sock = join(dir, 'control.sock');
    agent = startCli(['run', '--output', 'compact', '--socket', sock, '--poll-ms', '10']);
    await until('the startup line', () => agent.stderr().includes('peregrine: running on'), 60_000);
  });

  after(async () => {
    if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  test('the startup line says what is attached and what is not supported', () => {
    const line = agent.stderr();
    assert.match(
      line,
      /attached tp_btf\/sched_process_exec, tp_btf\/sched_process_fork, tp_btf\/sched_process_exit/,
    );
    assert.match(line, /seeded \d+ processes/);
  });

  test('a command shows as one compact exec line with its parent', async () => {
    await exec('/bin/sh', ['-c', 'true pg-cli-marker']);
    const child = await exec('/bin/echo', ['pg-cli-marker-2']);
    assert.equal(child.stdout, 'pg-cli-marker-2\n');
    await until('the exec line', () => agent.stdout().includes('pg-cli-marker-2'));
    const line = agent
      .stdout()
      .split('\n')
      .find((l) => l.includes('pg-cli-marker-2'));
    assert.match(line ?? '', /^exec\s+\d+ \/usr\/bin\/echo pg-cli-marker-2 {2}\(parent \S*node\S* \d+\)$/);
  });

  test('status reports this kernel truthfully and the running agent counters', async () => {
    const { stdout } = await exec(process.execPath, [BIN, 'status', '--json', '--socket', sock]);
    const report = JSON.parse(stdout) as {
      features: Record<string, { status: string; reason?: string }>;
      agent: { events: { emitted: number }; sensors: { process: { records: { exec: number } } } } | null;
    };
    for (const k of ['tracepoint', 'tpBtf', 'rawTracepoint', 'ringbuf', 'sendSignal', 'iterTask', 'xdp']) {
      assert.equal(report.features[k]?.status, 'supported', `${k}: ${report.features[k]?.reason}`);
    }
    for (const k of ['lsm', 'fentry', 'kprobe']) {
      assert.equal(report.features[k]?.status, 'unsupported', `${k} is not available on this kernel`);
      assert.ok((report.features[k]?.reason ?? '').length > 0, 'with a reason');
    }
    assert.ok(report.agent !== null, 'the running agent answered');
    assert.ok((report.agent?.sensors.process.records.exec ?? 0) > 0);
    const text = await exec(process.execPath, [BIN, 'status', '--socket', sock]);
    assert.match(text.stdout, /lsm\s+unsupported/);
    assert.match(text.stdout, /running agent/);
  });

  test('SIGINT detaches, exits 0 and prints the final counters', async () => {
    agent.child.kill('SIGINT');
    assert.equal(await agent.exited, 0);
    assert.match(agent.stderr(), /final counters/);
    assert.match(agent.stderr(), /sensors\.process\.kernel_drops\.exec {2}0/);
    const { stdout } = await exec(process.execPath, [BIN, 'status', '--socket', sock]);
    assert.match(stdout, /no running agent/);
  });
});

describe('peregrine (no kernel needed)', () => {
  test('an unknown command or option is a clear error with exit code 2 or 1', async () => {
    await assert.rejects(
      exec(process.execPath, [BIN, 'frobnicate']),
      (err: { code: number; stderr: string }) => {
        assert.equal(err.code, 2);
        assert.match(err.stderr, /unknown command "frobnicate"/);
        return true;
      },
    );
    await assert.rejects(
      exec(process.execPath, [BIN, 'run', '--output', 'xml']),
      (err: { stderr: string }) => {
        assert.match(err.stderr, /--output wants json or compact/);
        return true;
      },
    );
  });
});
