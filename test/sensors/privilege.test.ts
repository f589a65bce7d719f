// SPDX-License-Identifier: Apache-2.0
// The privilege sensor against the real kernel: unshare, nsenter and python3
// (os.setuid, ctypes capset / prctl / ptrace / clone) under real policies;
// exact events, and kernel-side filtering of what no policy watches.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { EventKind, PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import type { Policy } from '../../src/policy/types.js';
import { kernelTest, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, run, startAgent } from '../process/agent.js';

/** The real binary behind a command name (not a pyenv shim script): what the kernel reports. */
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
const UNSHARE = realBinary('unshare');
const NSENTER = realBinary('nsenter');
const skip =
  kernelTest.skip ||
  (PYTHON === undefined ? 'python3 not found' : false) ||
  (UNSHARE === undefined || NSENTER === undefined ? 'unshare / nsenter (util-linux) not found' : false);

const KINDS: EventKind[] = [
  'privilege.setuid',
  'privilege.setgid',
  'privilege.capset',
  'privilege.prctl',
  'namespace.unshare',
  'namespace.setns',
  'process.ptrace',
];

function policy(name: string, kinds: EventKind[], binaries: string[]): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: {
      mode: 'monitor',
      rules: [{ name: 'r', kinds, match: { binaries: { in: binaries } }, action: 'audit' }],
    },
    source: { file: 'privilege.test.ts' },
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
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
`;

describe('privilege sensor', { skip }, () => {
  let a: RecordingAgent;
  let scratch: string;
  let otherUnshare: string;

  const of = (pid: number, kind: EventKind) => (e: PeregrineEvent) =>
    e.kind === kind && e.process.pid === pid;
  const counters = () => a.agent.stats().sensors.privilege as Record<string, number>;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'pg-priv-'));
    // The same program under another name: a binary no policy names.
    otherUnshare = join(scratch, 'pg-other-unshare');
    copyFileSync(UNSHARE as string, otherUnshare);
    execFileSync('chmod', ['755', otherUnshare]);
    a = await startAgent({
      policies: [policy('priv-watch', KINDS, [PYTHON as string, UNSHARE as string, NSENTER as string])],
    });
  });

  after(async () => {
    await a?.stop();
    rmSync(scratch, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  });

  test('unshare -r yields namespace.unshare with CLONE_NEWUSER, asked and changed (or refused, with EPERM)', async () => {
    // unshare execs true in place: the child's pid is unshare's.
    const child = await run(UNSHARE as string, ['-r', 'true']);
    const ev = await a.waitFor(of(child.pid, 'namespace.unshare'), 5000, 'namespace.unshare');
    assert.equal(ev.process.binary, UNSHARE);
    assert.equal(ev.privilege?.syscall, 'unshare');
    assert.deepEqual(ev.privilege?.namespaces, ['CLONE_NEWUSER']);
    assert.equal(ev.policy?.name, 'priv-watch');
    if (child.code === 0) {
      assert.deepEqual(ev.privilege?.namespaces_changed, ['CLONE_NEWUSER']);
      assert.equal(ev.return_code, 0);
    } else {
      // A chroot (the VM's root) refuses new user namespaces: the attempt is reported all the same.
      assert.deepEqual(ev.privilege?.namespaces_changed, []);
      assert.equal(ev.return_code, -1); // -EPERM
    }
  });

  test('os.setgid / os.setuid as root yield setgid and setuid with old and new ids', async () => {
    const out = await python('import os; print(os.getpid()); os.setgid(65534); os.setuid(65534)');
    const pid = Number(out.trim());
    const gid = await a.waitFor(of(pid, 'privilege.setgid'), 5000, 'privilege.setgid');
    const uid = await a.waitFor(of(pid, 'privilege.setuid'), 5000, 'privilege.setuid');
    assert.equal(uid.process.binary, PYTHON);
    assert.equal(uid.policy?.name, 'priv-watch');
    assert.equal(gid.privilege?.syscall, 'setgid');
    assert.deepEqual(gid.privilege?.requested, [65534]);
    assert.deepEqual(
      { gid: gid.privilege?.old?.gid, egid: gid.privilege?.old?.egid, sgid: gid.privilege?.old?.sgid },
      { gid: 0, egid: 0, sgid: 0 },
    );
    assert.deepEqual(
      { gid: gid.privilege?.new?.gid, egid: gid.privilege?.new?.egid, sgid: gid.privilege?.new?.sgid },
      { gid: 65534, egid: 65534, sgid: 65534 },
    );
    assert.equal(uid.privilege?.syscall, 'setuid');
    assert.deepEqual(uid.privilege?.requested, [65534]);
    assert.deepEqual(uid.privilege?.old, {
      uid: 0,
      euid: 0,
      suid: 0,
      gid: 65534,
      egid: 65534,
      sgid: 65534,
      fsuid: 0,
      fsgid: 65534,
    });
    assert.deepEqual(uid.privilege?.new, {
      uid: 65534,
      euid: 65534,
      suid: 65534,
      gid: 65534,
      egid: 65534,
      sgid: 65534,
      fsuid: 65534,
      fsgid: 65534,
    });
    assert.equal(uid.return_code, 0);
  });

  test('capset: dropping, then raising an effective capability from the permitted set', async () => {
    // _LINUX_CAPABILITY_VERSION_3: two 32-bit data words per set. CAP_CHOWN = 0, CAP_KILL = 5.
    const out = await python(`${CTYPES}
class Hdr(ctypes.Structure): _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Data(ctypes.Structure): _fields_ = [("eff", ctypes.c_uint32), ("prm", ctypes.c_uint32), ("inh", ctypes.c_uint32)]
def capset(eff, prm):
    d = (Data * 2)(); d[0].eff = eff; d[0].prm = prm
    return libc.capset(ctypes.byref(Hdr(0x20080522, 0)), d)
print(os.getpid())
assert capset(1, 1 | 32) == 0
assert capset(1 | 32, 1 | 32) == 0
`);
    const pid = Number(out.trim());
    await a.waitFor(
      (e) => of(pid, 'privilege.capset')(e) && e.privilege?.cap_gained?.length === 1,
      5000,
      'raise',
    );
    const evs = a.events.filter(of(pid, 'privilege.capset'));
    assert.equal(evs.length, 2);
    const [drop, raise] = evs;
    assert.equal(drop.privilege?.syscall, 'capset');
    assert.ok((drop.privilege?.cap_old ?? []).includes('CAP_SYS_ADMIN'), 'root had CAP_SYS_ADMIN before');
    assert.deepEqual(drop.privilege?.cap_new, ['CAP_CHOWN']);
    assert.deepEqual(drop.privilege?.cap_gained, []);
    assert.deepEqual(raise.privilege?.cap_old, ['CAP_CHOWN']);
    assert.deepEqual(raise.privilege?.cap_new, ['CAP_CHOWN', 'CAP_KILL']);
    assert.deepEqual(raise.privilege?.cap_gained, ['CAP_KILL']);
    assert.equal(raise.return_code, 0);
  });

  test('PTRACE_ATTACH on a sleep child names the tracee: pid, exec_id, binary', async () => {
    const SLEEP = realpathSync('/bin/sleep');
    const out = await python(`${CTYPES}
import subprocess, time
child = subprocess.Popen([${JSON.stringify(SLEEP)}, "30"])
time.sleep(0.3)
r = libc.ptrace(16, child.pid, None, None)
os.waitpid(child.pid, 0)
libc.ptrace(17, child.pid, None, None)
child.kill(); child.wait()
print(json.dumps({"pid": os.getpid(), "child": child.pid, "r": r}))
`);
    const res = JSON.parse(out) as { pid: number; child: number; r: number };
    assert.equal(res.r, 0);
    const ev = await a.waitFor(of(res.pid, 'process.ptrace'), 5000, 'process.ptrace');
    assert.equal(ev.ptrace?.request, 'PTRACE_ATTACH');
    assert.equal(ev.ptrace?.target_pid, res.child);
    assert.equal(ev.ptrace?.target_binary, SLEEP);
    const exec = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.process.pid === res.child,
      5000,
      'the tracee exec',
    );
    assert.equal(ev.ptrace?.target_exec_id, exec.process.exec_id);
    assert.equal(ev.return_code, 0);
    // PTRACE_DETACH is not an attach or a write: not reported.
    assert.equal(a.events.filter(of(res.pid, 'process.ptrace')).length, 1);
  });

  test('prctl(PR_SET_NO_NEW_PRIVS) is reported; PR_SET_NAME is not', async () => {
    const out = await python(`${CTYPES}
print(os.getpid())
assert libc.prctl(15, b"pg-renamed", 0, 0, 0) == 0
assert libc.prctl(38, 1, 0, 0, 0) == 0
`);
    const pid = Number(out.trim());
    const ev = await a.waitFor(of(pid, 'privilege.prctl'), 5000, 'privilege.prctl');
    assert.deepEqual(ev.privilege, { syscall: 'prctl', option: 'PR_SET_NO_NEW_PRIVS', arg: 1 });
    assert.equal(ev.return_code, 0);
    await sleep(200);
    assert.equal(a.events.filter(of(pid, 'privilege.prctl')).length, 1);
  });

  test('clone(CLONE_NEWUSER) yields namespace.unshare from clone with the child pid as result', async () => {
    const out = await python(`${CTYPES}
r = libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
err = ctypes.get_errno()
if r > 0:
    os.waitpid(r, 0)
print(json.dumps({"pid": os.getpid(), "child": r, "errno": err}))
`);
    const res = JSON.parse(out) as { pid: number; child: number; errno: number };
    const ev = await a.waitFor(
      (e) => of(res.pid, 'namespace.unshare')(e) && e.privilege?.syscall === 'clone',
      5000,
      'clone',
    );
    assert.deepEqual(ev.privilege?.namespaces, ['CLONE_NEWUSER']);
    assert.deepEqual(ev.privilege?.namespaces_changed, [], "the caller's own namespaces stay");
    // The child's pid, or -errno where new user namespaces are refused (a chroot).
    assert.equal(ev.return_code, res.child > 0 ? res.child : -res.errno);
  });

  test('nsenter --net yields namespace.setns with CLONE_NEWNET', async () => {
    // Into this test's own network namespace (pid 1's may be out of reach in a sandbox).
    const netns = `--net=/proc/${process.pid}/ns/net`;
    const { stdout } = await promisify(execFile)(NSENTER as string, [netns, 'sh', '-c', 'echo $$'], {
      encoding: 'utf8',
    });
    const pid = Number(stdout.trim()); // nsenter execs sh in place: the same pid
    const ev = await a.waitFor(of(pid, 'namespace.setns'), 5000, 'namespace.setns');
    assert.equal(ev.process.binary, NSENTER);
    assert.equal(ev.privilege?.syscall, 'setns');
    assert.deepEqual(ev.privilege?.namespaces, ['CLONE_NEWNET']);
    assert.equal(ev.return_code, 0);
  });

  test('a binary no policy names: no event in user space, counted as filtered in the kernel', async () => {
    const before = counters().kernel_filtered;
    // The attempt counts whether or not this kernel lets it through (a chroot refuses it).
    const { pid } = await run(otherUnshare, ['-r', 'true']);
    await sleep(300);
    assert.equal(a.events.filter((e) => e.process.pid === pid && e.kind === 'namespace.unshare').length, 0);
    assert.ok(counters().kernel_filtered > before, 'the kernel filtered the call');
  });
});
