// SPDX-License-Identifier: Apache-2.0
// Unit tests of the file record → event mapping (no kernel needed).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPgFileEvent, PgAccess, PgFileFlag, PgKind } from '../../generated/records.js';
import { accessNames, fileEventParts } from './decode.js';

test('open: access words, create mode, fd as return code, kernel path', () => {
  const rec = createPgFileEvent();
  rec.kind = PgKind.PG_KIND_FILE_OPEN;
  rec.flags = PgFileFlag.PG_FILE_RET | PgFileFlag.PG_FILE_MATCH_PATH;
  rec.sysFlags = 0o1101; // O_WRONLY|O_CREAT|O_TRUNC
  rec.access = PgAccess.PG_ACCESS_WRITE | PgAccess.PG_ACCESS_CREATE | PgAccess.PG_ACCESS_TRUNCATE;
  rec.mode = 0o100644;
  rec.ret = 3;
  rec.path = '/etc/x';
  assert.deepEqual(fileEventParts(rec), {
    kind: 'file.open',
    file: {
      path: '/etc/x',
      path_source: 'kernel',
      access: ['write', 'create', 'truncate'],
      flags: 0o1101,
      mode: 0o644,
    },
    return_code: 3,
  });
});

test('append shows only with write access', () => {
  assert.deepEqual(accessNames(PgAccess.PG_ACCESS_WRITE, 0o2001), ['write', 'append']);
  assert.deepEqual(accessNames(PgAccess.PG_ACCESS_READ, 0o2000), ['read']);
  assert.deepEqual(accessNames(0, 0o10000000), []);
});

test('chown leaves unchanged ids out; rename carries new_path; mount source and fstype', () => {
  const rec = createPgFileEvent();
  rec.kind = PgKind.PG_KIND_FILE_CHOWN;
  rec.flags = PgFileFlag.PG_FILE_PATH_USER;
  rec.uid = 0xffffffff;
  rec.gid = 5;
  rec.path = '/a';
  assert.deepEqual(fileEventParts(rec), {
    kind: 'file.chown',
    file: { path: '/a', path_source: 'user', gid: 5 },
  });

  rec.kind = PgKind.PG_KIND_FILE_RENAME;
  rec.newPath = '/b';
  rec.sysFlags = 1;
  assert.deepEqual(fileEventParts(rec)?.file, { path: '/a', path_source: 'user', new_path: '/b', flags: 1 });

  rec.kind = PgKind.PG_KIND_FILE_MOUNT;
  rec.source = 'tmpfs';
  rec.fstype = 'tmpfs';
  rec.sysFlags = 0;
  assert.deepEqual(fileEventParts(rec)?.file, {
    path: '/a',
    path_source: 'user',
    source: 'tmpfs',
    fstype: 'tmpfs',
    flags: 0,
  });
});

test('a kind the file sensor does not produce is refused', () => {
  const rec = createPgFileEvent();
  rec.kind = PgKind.PG_KIND_NET_CONNECT;
  assert.equal(fileEventParts(rec), undefined);
});
