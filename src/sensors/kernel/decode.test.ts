// SPDX-License-Identifier: Apache-2.0
// Kernel-change decoders: bpf commands and types, memfd names and flags, file-less loads.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createPgBpfEvent,
  createPgMemfdEvent,
  createPgModuleEvent,
  PgSyscall,
  PgSysFlag,
} from '../../generated/records.js';
import { bpfCmdName, bpfInfo, mapTypeName, memfdInfo, moduleInfo, progTypeName } from './decode.js';

test('bpf command, program type and map type names', () => {
  assert.equal(bpfCmdName(5), 'BPF_PROG_LOAD');
  assert.equal(bpfCmdName(28), 'BPF_LINK_CREATE');
  assert.equal(bpfCmdName(99), 'BPF_CMD_99');
  assert.equal(progTypeName(29), 'lsm');
  assert.equal(mapTypeName(27), 'ringbuf');
});

test('MAP_CREATE names the map type and name; other commands only the attach type', () => {
  const rec = createPgBpfEvent();
  rec.cmd = 0;
  rec.mapType = 1;
  rec.name = 'pg_events';
  assert.deepEqual(bpfInfo(rec), {
    syscall: 'bpf',
    bpf_cmd: 'BPF_MAP_CREATE',
    map_type: 'hash',
    map_name: 'pg_events',
  });
  rec.cmd = 13;
  rec.attachType = 0;
  assert.deepEqual(bpfInfo(rec), { syscall: 'bpf', bpf_cmd: 'BPF_PROG_GET_FD_BY_ID' });
});

test('memfd: the dentry prefix is stripped, a failed call keeps the name as given', () => {
  const rec = createPgMemfdEvent();
  rec.name = 'memfd:payload';
  rec.mfdFlags = 0x1 | 0x8;
  assert.deepEqual(memfdInfo(rec), {
    syscall: 'memfd_create',
    memfd_name: 'payload',
    memfd_flags: ['MFD_CLOEXEC', 'MFD_NOEXEC_SEAL'],
  });
  rec.sys.flags = PgSysFlag.PG_SYS_NAME_USER;
  rec.name = 'memfd:odd';
  assert.equal(memfdInfo(rec).memfd_name, 'memfd:odd');
});

test('init_module has no file: no path; finit_module names its file and the module', () => {
  const rec = createPgModuleEvent();
  rec.sys.syscall = PgSyscall.PG_SYS_INIT_MODULE;
  rec.sys.flags = PgSysFlag.PG_SYS_NO_FILE;
  assert.deepEqual(moduleInfo(rec), { syscall: 'init_module' });
  rec.sys.syscall = PgSyscall.PG_SYS_FINIT_MODULE;
  rec.sys.flags = 0;
  rec.path = '/lib/modules/x/veth.ko';
  rec.name = 'veth';
  assert.deepEqual(moduleInfo(rec), {
    syscall: 'finit_module',
    module: 'veth',
    path: '/lib/modules/x/veth.ko',
  });
});
