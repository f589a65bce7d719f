// SPDX-License-Identifier: Apache-2.0
// --keep-enforcing against the real kernel: a CLI agent denies python3's
// connect, is SIGKILLed, the deny still holds; a second agent adopts the
// pinned state (one event per denied connect: no second attachment), and
// `peregrine cleanup` removes the pins so the connect goes through again.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findPython, kernelTest, pyConnect, root, sleep, waitUntil } from '../kernel/helpers.js';

const BIN = join(root, 'bin', 'peregrine.js');

const PYTHON = findPython();
const skip = kernelTest.skip || (PYTHON === undefined ? 'python3 not found' : false);

/** The connect's outcome: "ok" or the errno name. */
async function connectOutcome(port: number): Promise<string> {
  return (await pyConnect(PYTHON as string, port))[0];
}

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Running {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    err += d;
  });
  return { child, out: () => out, err: () => err };
}

const until = (what: string, pred: () => boolean, timeoutMs = 240_000): Promise<void> =>
  waitUntil(what, pred, timeoutMs, 100);

describe('--keep-enforcing: enforcement outlives the agent', { skip }, () => {
  let dir: string;
  let srv: Server;
  let port: number;
  let pins: string;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, PEREGRINE_PIN_ROOT: pins });
  const running: Running[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-keep-'));
    srv = createServer((c) => c.destroy());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const a = srv.address();
    port = typeof a === 'object' && a !== null ? a.port : 0;
    // A private pin directory on bpffs, so parallel runs do not meet.
    pins = `/sys/fs/bpf/peregrine-test-${process.pid}`;
    writeFileSync(
      join(dir, 'deny.yaml'),
      `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: keep-deny
spec:
  mode: enforce
  rules:
    - name: no-connect
      kinds: [network.connect]
      match:
        binaries:
          in: [${PYTHON}]
        ports:
          in: [${port}]
      action: deny
`,
    );
  });

  after(async () => {
    for (const r of running)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    if (existsSync(pins)) execFileSync(process.execPath, [BIN, 'cleanup'], { env: env() });
    srv?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('SIGKILL the agent: the deny holds; restart adopts it; cleanup removes it', async () => {
    const args = [
      'run',
      '--keep-enforcing',
      '--no-rules',
      '--policy',
      join(dir, 'deny.yaml'),
      '--socket',
      join(dir, 'a.sock'),
      '--wakeup-bytes',
      '0',
    ];
    const first = startCli(args, env());
    running.push(first);
    await until('the first agent', () => first.err().includes('peregrine: running on'));
    assert.equal(await connectOutcome(port), 'EPERM');
    assert.ok(readdirSync(join(pins, 'links')).includes('handle_connect4'), 'connect4 link pinned');
    assert.ok(readdirSync(join(pins, 'maps')).includes('pg_f_actions'), 'policy maps pinned');

    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    // No agent: the pinned program and maps still deny.
    assert.equal(await connectOutcome(port), 'EPERM');

    const second = startCli(
      [...args.slice(0, -4), '--socket', join(dir, 'b.sock'), '--wakeup-bytes', '0'],
      env(),
    );
    running.push(second);
    await until('the second agent', () => second.err().includes('peregrine: running on'));
    assert.equal(await connectOutcome(port), 'EPERM');
    await until('the enforcement event', () => second.out().includes('"taken":"deny"'), 10_000);
    await sleep(300);
    // One event per denied connect (per python process): the adopted link is the only attachment.
    // The connect made while no agent ran is there too: the pinned program wrote it to the pinned ring.
    const denies = second
      .out()
      .split('\n')
      .filter((l) => l.includes('"taken":"deny"') && l.includes(`"remote_port":${port}`))
      .map((l) => JSON.parse(l) as { process: { pid: number } });
    const perProcess = new Map<number, number>();
    for (const d of denies) perProcess.set(d.process.pid, (perProcess.get(d.process.pid) ?? 0) + 1);
    assert.equal(
      perProcess.size,
      2,
      `the connect while no agent ran and the one after: ${JSON.stringify(denies)}`,
    );
    const status = JSON.parse(
      execFileSync(process.execPath, [BIN, 'policy', 'list', '--json', '--socket', join(dir, 'b.sock')], {
        encoding: 'utf8',
      }),
    );
    assert.match(status[0].rules[0].enforcement, /^enforced \(cgroup\/connect4/);
    second.child.kill('SIGKILL');
    await new Promise((r) => second.child.once('exit', r));
    for (const [pid, n] of perProcess) assert.equal(n, 1, `events for the denied connect of ${pid}: ${n}`);

    const out = execFileSync(process.execPath, [BIN, 'cleanup'], { env: env(), encoding: 'utf8' });
    assert.match(out, /removed \d+ pins/);
    assert.equal(existsSync(pins), false);
    assert.equal(await connectOutcome(port), 'ok');
  });
});
