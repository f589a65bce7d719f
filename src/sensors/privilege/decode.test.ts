// SPDX-License-Identifier: Apache-2.0
// Privilege decoders: flag and option names, ids, capability gains, setns namespaces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createPgCapsetEvent,
  createPgNsEvent,
  createPgSetidEvent,
  PgSyscall,
} from '../../generated/records.js';
import {
  capsetInfo,
  namespaceNames,
  nsInfo,
  prctlOptionName,
  ptraceRequestName,
  setidInfo,
} from './decode.js';
import { bitNames, syscallName } from './syscall.js';

test('namespace flags: only CLONE_NEW* bits are named, 64-bit clone3 flags included', () => {
  // CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD | CLONE_FILES
  assert.deepEqual(namespaceNames(0x10000000 | 0x00020000 | 17 | 0x400), ['CLONE_NEWNS', 'CLONE_NEWUSER']);
  assert.deepEqual(namespaceNames(2 ** 32 + 0x40000000), ['CLONE_NEWNET']);
  assert.deepEqual(namespaceNames(0x80), ['CLONE_NEWTIME']);
  assert.deepEqual(namespaceNames(0), []);
});

test('bit names keep unknown bits as hex', () => {
  assert.deepEqual(
    bitNames(0x9, [
      [1, 'A'],
      [2, 'B'],
    ]),
    ['A', '0x8'],
  );
});

test('syscall, ptrace request and prctl option names', () => {
  assert.equal(syscallName(PgSyscall.PG_SYS_SETRESUID), 'setresuid');
  assert.equal(syscallName(PgSyscall.PG_SYS_KEXEC_FILE_LOAD), 'kexec_file_load');
  assert.equal(ptraceRequestName(16), 'PTRACE_ATTACH');
  assert.equal(ptraceRequestName(0x4206), 'PTRACE_SEIZE');
  assert.equal(ptraceRequestName(999), 'PTRACE_999');
  assert.equal(prctlOptionName(38), 'PR_SET_NO_NEW_PRIVS');
  assert.equal(prctlOptionName(0x59616d61), 'PR_SET_PTRACER');
});

test('setresuid: the three ids asked for, -1 meaning unchanged', () => {
  const rec = createPgSetidEvent();
  rec.sys.syscall = PgSyscall.PG_SYS_SETRESUID;
  rec.args = [1000, 0xffffffff, 0];
  rec.new.uid = 1000;
  const info = setidInfo(rec);
  assert.equal(info.syscall, 'setresuid');
  assert.deepEqual(info.requested, [1000, -1, 0]);
  assert.equal(info.new?.uid, 1000);
  rec.sys.syscall = PgSyscall.PG_SYS_SETFSUID;
  assert.deepEqual(setidInfo(rec).requested, [1000]);
});

test('capset: effective sets before and after; gains from either set, above bit 31 too', () => {
  const rec = createPgCapsetEvent();
  rec.old.effective = 1; // CAP_CHOWN
  rec.old.permitted = 1 + 2 ** 21; // + CAP_SYS_ADMIN
  rec.new.effective = 1 + 2 ** 21;
  rec.new.permitted = 1 + 2 ** 21 + 2 ** 39; // + CAP_BPF
  const info = capsetInfo(rec);
  assert.deepEqual(info.cap_old, ['CAP_CHOWN']);
  assert.deepEqual(info.cap_new, ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
  assert.deepEqual(info.cap_gained, ['CAP_SYS_ADMIN', 'CAP_BPF']);
});

test('setns with nstype 0 names the namespaces that changed', () => {
  const rec = createPgNsEvent();
  rec.sys.syscall = PgSyscall.PG_SYS_SETNS;
  rec.cloneFlags = 0;
  rec.changed = 0x40000000 | 0x00020000;
  assert.deepEqual(nsInfo(rec).namespaces, ['CLONE_NEWNS', 'CLONE_NEWNET']);
  rec.cloneFlags = 0x40000000;
  assert.deepEqual(nsInfo(rec).namespaces, ['CLONE_NEWNET']);
});
