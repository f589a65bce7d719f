// SPDX-License-Identifier: Apache-2.0
// The kernel-change sensor against the real kernel: memfd_create and bpf(2)
// from python3, bpftool, the agent's own loads, and module / kexec loads of
// invalid files where this kernel has those syscalls (the VM's Debian kernel).
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { Agent } from '../../src/agent.js';
import type { EventKind, PeregrineEvent } from '../../src/events/types.js';
import { BpfObject, ensureTracefs, openHandles } from '../../src/kernel/index.js';
import type { Policy } from '../../src/policy/types.js';
import { objectPath } from '../../src/sensors/paths.js';
import { kernelTest, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

function realBinary(cmd: string, python = false): string | undefined {
  try {
    if (python) {
      return execFileSync(cmd, ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], {
        encoding: 'utf8',
      }).trim();
    }
    return realpathSync(execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim());
  } catch {
    return undefined;
  }
}

const PYTHON = realBinary('python3', true);
const BPFTOOL = realBinary('bpftool');
const skip =
  kernelTest.skip ||
  (PYTHON === undefined ? 'python3 not found' : false) ||
  (BPFTOOL === undefined ? 'bpftool not found' : false);

const KINDS: EventKind[] = ['kernel.module_load', 'kernel.bpf', 'kernel.kexec', 'process.memfd_create'];

function hasSyscall(name: string): boolean {
  try {
    return existsSync(join(ensureTracefs(), 'events', 'syscalls', `sys_enter_${name}`));
  } catch {
    return false;
  }
}

function policy(name: string, kinds: EventKind[], binaries: string[]): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: {
      mode: 'monitor',
      rules: [{ name: 'r', kinds, match: { binaries: { in: binaries } }, action: 'audit' }],
    },
    source: { file: 'kernel.test.ts' },
  };
}

async function python(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(PYTHON as string, ['-c', script, ...args], {
    encoding: 'utf8',
  });
  return stdout;
}

const CTYPES = `
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
`;

describe('kernel sensor', { skip }, () => {
  let a: RecordingAgent;
  let scratch: string;

  const of = (pid: number, kind: EventKind) => (e: PeregrineEvent) =>
    e.kind === kind && e.process.pid === pid;
  const counters = () => a.agent.stats().sensors.kernel as Record<string, number>;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'pg-kern-'));
    a = await startAgent({
      policies: [policy('kernel-watch', KINDS, [PYTHON as string, BPFTOOL as string])],
    });
  });

  after(async () => {
    await a?.stop();
    rmSync(scratch, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  });

  test('os.memfd_create yields process.memfd_create with the name from the fd and the flags', async () => {
    const out = await python(
      'import json, os; fd = os.memfd_create("pg-fileless", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING); print(json.dumps({"pid": os.getpid(), "fd": fd}))',
    );
    const run = JSON.parse(out) as { pid: number; fd: number };
    const ev = await a.waitFor(of(run.pid, 'process.memfd_create'), 5000, 'memfd_create');
    assert.equal(ev.process.binary, PYTHON);
    assert.equal(ev.policy?.name, 'kernel-watch');
    assert.deepEqual(ev.kernel, {
      syscall: 'memfd_create',
      memfd_name: 'pg-fileless',
      memfd_flags: ['MFD_CLOEXEC', 'MFD_ALLOW_SEALING'],
    });
    assert.equal(ev.return_code, run.fd);
  });

  test('a socket filter loaded through bpf(2) yields kernel.bpf with type and name from the attr', async () => {
    // BPF_PROG_LOAD of "r0 = 0; exit" as a socket filter named pg_probe.
    const out = await python(`${CTYPES}
insns = (ctypes.c_uint64 * 2)(0x00000000000000b7, 0x0000000000000095)
lic = ctypes.c_char_p(b"GPL")
attr = bytearray(128)
import struct
struct.pack_into("<IIQQ", attr, 0, 1, 2, ctypes.addressof(insns), ctypes.cast(lic, ctypes.c_void_p).value)
attr[48:48 + 8] = b"pg_probe"
buf = (ctypes.c_char * 128).from_buffer(attr)
fd = libc.syscall(321, 5, buf, 128)
print(json.dumps({"pid": os.getpid(), "fd": fd}))
`);
    const run = JSON.parse(out) as { pid: number; fd: number };
    assert.ok(run.fd >= 0, 'the program loaded');
    const ev = await a.waitFor(of(run.pid, 'kernel.bpf'), 5000, 'kernel.bpf');
    assert.deepEqual(ev.kernel, {
      syscall: 'bpf',
      bpf_cmd: 'BPF_PROG_LOAD',
      prog_type: 'socket_filter',
      prog_name: 'pg_probe',
      attach_type: 0,
    });
    assert.equal(ev.return_code, run.fd);
  });

  test('bpftool prog show: each program opened by id is reported, the id enumeration is not', async () => {
    const child = execFile(BPFTOOL as string, ['prog', 'show']);
    const pid = child.pid as number;
    await new Promise((resolve) => child.once('exit', resolve));
    const ev = await a.waitFor(of(pid, 'kernel.bpf'), 5000, 'kernel.bpf from bpftool');
    assert.equal(ev.process.binary, BPFTOOL);
    await sleep(200);
    const cmds = new Set(a.events.filter(of(pid, 'kernel.bpf')).map((e) => e.kernel?.bpf_cmd));
    assert.ok(cmds.has('BPF_PROG_GET_FD_BY_ID'));
    assert.ok(!cmds.has('BPF_PROG_GET_NEXT_ID'), 'enumeration is not reported');
  });

  test("the agent's own bpf(2) calls are not reported: counted as self in the kernel", async () => {
    const before = counters().kernel_self;
    const obj = BpfObject.open(objectPath('privilege'));
    try {
      obj.load();
    } finally {
      obj.close();
    }
    await sleep(200);
    assert.equal(a.events.filter(of(process.pid, 'kernel.bpf')).length, 0);
    assert.ok(counters().kernel_self > before, 'the kernel saw and skipped the agent');
  });

  test('a process no policy names: no event in user space, counted as filtered in the kernel', async () => {
    const before = counters().kernel_filtered;
    // The same python under another name: a binary no policy names.
    const copy = join(scratch, 'pg-other-python');
    execFileSync('cp', [PYTHON as string, copy]);
    const r = spawnSync(copy, ['-c', 'import os; os.memfd_create("pg-quiet"); print(os.getpid())'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, `the python copy failed: ${r.signal ?? ''} ${r.stderr}`);
    const pid = Number(r.stdout.trim());
    await sleep(300);
    assert.equal(a.events.filter(of(pid, 'process.memfd_create')).length, 0);
    assert.ok(counters().kernel_filtered > before, 'the kernel filtered the call');
  });

  test('finit_module of a file that is no module is reported with its path and the error', async (t) => {
    if (!hasSyscall('finit_module')) {
      t.skip('this kernel has no finit_module syscall (CONFIG_MODULES off): see the unsupported report test');
      return;
    }
    const junk = join(scratch, 'pg-not-a-module.ko');
    writeFileSync(junk, 'not an ELF module\n');
    const out = await python(
      `${CTYPES}
fd = os.open(sys.argv[1], os.O_RDONLY)
r = libc.syscall(313, fd, b"", 0)
print(json.dumps({"pid": os.getpid(), "r": r, "errno": ctypes.get_errno()}))
`,
      junk,
    );
    const run = JSON.parse(out) as { pid: number; r: number; errno: number };
    assert.equal(run.r, -1);
    const ev = await a.waitFor(of(run.pid, 'kernel.module_load'), 5000, 'kernel.module_load');
    assert.equal(ev.kernel?.syscall, 'finit_module');
    assert.equal(ev.kernel?.path, realpathSync(junk));
    assert.equal(ev.kernel?.module, undefined, 'the load failed before the module had a name');
    assert.equal(ev.return_code, -run.errno);
  });

  test('kexec_file_load of a file that is no kernel is reported with its path and the error', async (t) => {
    if (!hasSyscall('kexec_file_load')) {
      t.skip('this kernel has no kexec_file_load syscall (CONFIG_KEXEC_FILE off)');
      return;
    }
    const junk = join(scratch, 'pg-not-a-kernel');
    writeFileSync(junk, 'not a kernel image\n');
    // KEXEC_FILE_NO_INITRD (4); x86_64 syscall 320.
    const out = await python(
      `${CTYPES}
fd = os.open(sys.argv[1], os.O_RDONLY)
r = libc.syscall(320, fd, -1, 0, None, 4)
print(json.dumps({"pid": os.getpid(), "r": r, "errno": ctypes.get_errno()}))
`,
      junk,
    );
    const run = JSON.parse(out) as { pid: number; r: number; errno: number };
    assert.equal(run.r, -1);
    const ev = await a.waitFor(of(run.pid, 'kernel.kexec'), 5000, 'kernel.kexec');
    assert.deepEqual(ev.kernel, { syscall: 'kexec_file_load', path: realpathSync(junk) });
    assert.equal(ev.return_code, -run.errno);
  });
});

describe('kernel sensor on a kernel without module syscalls', { skip }, () => {
  test('module_load is reported unsupported at start, not an error', {
    skip: hasSyscall('finit_module') ? 'this kernel has them' : false,
  }, async () => {
    const agent = new Agent({
      output: 'none',
      socket: false,
      policies: [policy('modules', ['kernel.module_load'], [PYTHON as string])],
    });
    const report = await agent.start();
    try {
      assert.ok(
        report.unsupported.some((u) =>
          u.startsWith('kernel.module_load: this kernel has no init_module, finit_module'),
        ),
        report.unsupported.join('; '),
      );
    } finally {
      await agent.stop();
    }
    assert.equal(openHandles().total, 0);
  });
});
