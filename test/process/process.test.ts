// SPDX-License-Identifier: Apache-2.0
// The process sensor against the real kernel: real processes, real events.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { eventSchema } from '../../src/events/schema.js';
import type { PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import { kernelTest } from '../kernel/helpers.js';
import { type RecordingAgent, run, startAgent } from './agent.js';

const TRUE = realpathSync('/bin/true');
const SH = realpathSync('/bin/sh');

describe('process sensor', kernelTest, () => {
  let a: RecordingAgent;
  let scratch: string;
  let retitled: ReturnType<typeof spawn>;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'pg-proc-'));
    // Running before the agent starts, so it is known from the start-up seed (/proc).
    retitled = spawn(process.execPath, ['-e', "process.title = 'pg-retitled'; setInterval(() => {}, 1000)"]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    a = await startAgent();
  });

  after(async () => {
    await a?.stop();
    rmSync(scratch, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  });

  test('a command yields one exec with exact args, binary, cwd and parent, and an exit with its code', async () => {
    const child = await run(SH, ['-c', 'exit 7', 'pg-marker-one'], { cwd: scratch });
    assert.equal(child.code, 7);
    const exit = await a.waitFor(
      (e) => e.kind === 'process.exit' && e.process.pid === child.pid,
      5000,
      'exit',
    );
    const execs = a.events.filter((e) => e.kind === 'process.exec' && e.process.pid === child.pid);
    assert.equal(execs.length, 1, 'exactly one exec');
    const exec = execs[0];
    assert.equal(exec.process.binary, SH);
    assert.deepEqual(exec.process.args, [SH, '-c', 'exit 7', 'pg-marker-one']);
    assert.equal(exec.process.cwd, realpathSync(scratch));
    assert.equal(exec.process.ppid, process.pid);
    // The parent is this test process: an identity seeded from the task iterator at start.
    assert.equal(exec.parent?.pid, process.pid);
    assert.equal(exec.process.parent_exec_id, exec.parent?.exec_id);
    assert.ok(exec.parent?.flags.includes('procfs'));
    assert.equal(exec.process.uid, process.getuid?.());
    assert.deepEqual(exit.exit, { code: 7, signal: 0 });
    assert.equal(exit.process.exec_id, exec.process.exec_id, 'exit names the same identity as the exec');
    const validate = new Ajv({ strict: false }).compile(eventSchema);
    assert.ok(validate(JSON.parse(JSON.stringify(exec))), JSON.stringify(validate.errors));
  });

  test('a process that retitled itself before the agent started is seeded with its title, without NUL padding', async () => {
    retitled.kill('SIGKILL');
    const exit = await a.waitFor(
      (e) => e.kind === 'process.exit' && e.process.pid === retitled.pid,
      5000,
      'exit of the retitled process',
    );
    assert.ok(exit.process.flags.includes('procfs'), 'known from the seed');
    assert.deepEqual(exit.process.args, ['pg-retitled']);
  });

  test('a signal-killed process reports the signal', async () => {
    const child = spawn(SH, ['-c', 'kill -KILL $$']);
    const exit = await a.waitFor(
      (e) => e.kind === 'process.exit' && e.process.pid === child.pid,
      5000,
      'exit',
    );
    assert.deepEqual(exit.exit, { code: 0, signal: 9, signal_name: 'SIGKILL' });
  });

  test('a burst of 2,000 execs gives exactly 2,000 exec and 2,000 exit events', async () => {
    const script = 'i=0; while [ $i -lt 2000 ]; do /bin/true pg-burst; i=$((i+1)); done';
    const child = await run(SH, ['-c', script]);
    assert.equal(child.code, 0);
    await a.waitFor(
      (e) => e.kind === 'process.exit' && e.process.pid === child.pid,
      20_000,
      'burst shell exit',
    );
    const mine = (e: PeregrineEvent) => e.process.ppid === child.pid && e.process.args[1] === 'pg-burst';
    const execs = a.events.filter((e) => e.kind === 'process.exec' && mine(e));
    const exits = a.events.filter((e) => e.kind === 'process.exit' && mine(e));
    assert.equal(execs.length, 2000, 'exec events');
    assert.equal(exits.length, 2000, 'exit events');
    assert.equal(new Set(execs.map((e) => e.process.exec_id)).size, 2000, 'no duplicate identities');
    assert.deepEqual(
      new Set(exits.map((e) => e.process.exec_id)),
      new Set(execs.map((e) => e.process.exec_id)),
    );
    const stats = a.agent.stats().sensors.process;
    assert.equal(stats.kernel_drops.exec + stats.kernel_drops.exit, 0, 'the kernel dropped nothing');
    assert.equal(stats.decode_errors, 0);
  });

  test('argv beyond the 4 KiB capacity is truncated with the flag set; a 4,000-byte argument fits whole', async () => {
    const a4000 = 'A'.repeat(4000);
    const whole = await run(TRUE, [a4000]);
    const e1 = await a.waitFor((e) => e.kind === 'process.exec' && e.process.pid === whole.pid, 5000, 'exec');
    assert.deepEqual(e1.process.args, [TRUE, a4000]);
    assert.ok(!e1.process.flags.includes('args_truncated'));

    const cut = await run(TRUE, [a4000, 'B'.repeat(4000)]);
    const e2 = await a.waitFor((e) => e.kind === 'process.exec' && e.process.pid === cut.pid, 5000, 'exec');
    assert.ok(e2.process.flags.includes('args_truncated'), 'flagged');
    assert.equal(e2.process.args[1], a4000, 'what fits is exact');
    assert.ok(e2.process.args.join('\0').length <= 4096, 'kept within the capacity');

    // A huge argument list (256 KiB) is survived the same way.
    const huge = await run(
      TRUE,
      Array.from({ length: 64 }, () => 'C'.repeat(4096)),
    );
    const e3 = await a.waitFor((e) => e.kind === 'process.exec' && e.process.pid === huge.pid, 5000, 'exec');
    assert.ok(e3.process.flags.includes('args_truncated'));
  });

  test('a binary at a path 4,000 bytes long is reported exactly', async () => {
    let dir = realpathSync(scratch);
    const name = 'd'.repeat(240);
    while (dir.length + 1 + name.length + 1 + 'true-deep'.length <= 4000) {
      dir = join(dir, name);
      mkdirSync(dir);
    }
    const filler = 'x'.repeat(4000 - dir.length - 1);
    const bin = join(dir, filler);
    copyFileSync(TRUE, bin);
    chmodSync(bin, 0o755);
    assert.equal(bin.length, 4000);
    const child = await run(bin, ['pg-deep']);
    assert.equal(child.code, 0);
    const exec = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.process.pid === child.pid,
      5000,
      'exec',
    );
    assert.equal(exec.process.binary, bin);
    assert.ok(!exec.process.flags.includes('path_truncated'));
  });

  test('a binary 1,000 directories deep is reported exactly', async () => {
    const parts = Array.from({ length: 1000 }, () => 'a');
    const dir = join(realpathSync(scratch), ...parts);
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'true-many');
    copyFileSync(TRUE, bin);
    chmodSync(bin, 0o755);
    const child = await run(bin, []);
    const exec = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.process.pid === child.pid,
      5000,
      'exec',
    );
    assert.equal(exec.process.binary, bin);
  });
});

describe('processes older than the agent', kernelTest, () => {
  test('resolve from the cache with args, flags and ancestry', async () => {
    // The shell starts before the agent and execs its child after: the child's parent must resolve.
    const go = join(mkdtempSync(join(tmpdir(), 'pg-pre-')), 'go');
    const script = `while [ ! -e ${go} ]; do sleep 0.05; done; exec /bin/true pg-pre-child`;
    const shell = spawn(SH, ['-c', script, 'pg-pre-shell'], { stdio: 'ignore' });
    // The shell waits for the go file: create it whatever happens, so it never outlives the test.
    const a = await startAgent({ ancestors: true }).finally(() => writeFileSync(go, ''));
    try {
      const exec = await a.waitFor(
        (e) =>
          e.kind === 'process.exec' && e.process.pid === shell.pid && e.process.args[1] === 'pg-pre-child',
        5000,
        'exec of the pre-existing shell',
      );
      // exec replaces the shell's image in place: the parent is the shell's own parent, this test process.
      assert.equal(exec.parent?.pid, process.pid);
      assert.ok(exec.parent?.flags.includes('procfs'), 'the parent came from the start-up seed');
      assert.deepEqual(
        exec.parent?.args,
        readFileSync('/proc/self/cmdline', 'latin1').split('\0').slice(0, -1),
      );
      assert.equal(exec.parent?.binary, realpathSync(process.execPath));
      assert.ok((exec.ancestors?.length ?? 0) >= 1, 'ancestors above the parent resolve too');
      assert.equal(exec.ancestors?.[0].pid, process.ppid);
    } finally {
      await a.stop();
    }
  });
});
