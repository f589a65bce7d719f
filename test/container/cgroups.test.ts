// SPDX-License-Identifier: Apache-2.0
// Tests of the cgroup2 mount finder, the /proc/PID/cgroup parser and the cgroup id index.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CgroupIndex,
  findCgroup2Mount,
  parseCgroup2Mount,
  parseProcCgroup,
  readProcCgroups,
  v1Path,
} from '../../src/container/cgroups.js';

test('parseCgroup2Mount finds the hybrid host unified mount and unescapes spaces', () => {
  const hybrid = [
    'tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0',
    'cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0',
    'cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0',
  ].join('\n');
  assert.equal(parseCgroup2Mount(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(parseCgroup2Mount('cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n'), '/sys/fs/cgroup');
  assert.equal(parseCgroup2Mount('none /mnt/a\\040b cgroup2 rw 0 0\n'), '/mnt/a b');
  assert.equal(parseCgroup2Mount('cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n'), undefined);
});

test("findCgroup2Mount reads this host's mount table", () => {
  const m = findCgroup2Mount();
  // Every supported host has cgroup2 somewhere; its root directory is the root cgroup.
  assert.ok(m?.startsWith('/'), `cgroup2 mount: ${m}`);
});

test('parseProcCgroup splits the v2 line from v1 lines (hybrid host, container process)', () => {
  const text = [
    '10:hugetlb:/docker/abc',
    '9:name=systemd:/docker/abc',
    '4:memory:/docker/abc',
    '2:cpu,cpuacct:/docker/abc',
    '0::/docker/abc',
    '',
  ].join('\n');
  const pc = parseProcCgroup(text);
  assert.equal(pc.v2, '/docker/abc');
  assert.equal(pc.v1.length, 4);
  assert.deepEqual(pc.v1[3], { hierarchy: 2, controllers: ['cpu', 'cpuacct'], path: '/docker/abc' });
  assert.equal(v1Path(pc), '/docker/abc');
});

test('v1Path prefers name=systemd, then pids, memory', () => {
  const pc = parseProcCgroup('4:memory:/process_api/x\n8:pids:/p\n0::/\n');
  assert.equal(v1Path(pc), '/p');
  assert.equal(v1Path(parseProcCgroup('4:memory:/process_api/x\n0::/\n')), '/process_api/x');
  assert.equal(v1Path(parseProcCgroup('0::/\n')), undefined);
});

test('readProcCgroups reads our own process and is undefined for a gone pid', () => {
  const pc = readProcCgroups(process.pid);
  assert.ok(pc !== undefined);
  assert.ok(pc.v2 !== undefined || pc.v1.length > 0);
  assert.equal(readProcCgroups(2 ** 22 + 7), undefined);
});

test('CgroupIndex maps directory inode numbers to paths and reports removed ids', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-cgidx-'));
  try {
    mkdirSync(join(root, 'kubepods/burstable/podX/c1'), { recursive: true });
    mkdirSync(join(root, 'docker/d1'), { recursive: true });
    const idx = new CgroupIndex({ root, minRefreshIntervalMs: 0 });
    const r1 = await idx.refresh();
    assert.equal(idx.rootId, statSync(root).ino);
    assert.equal(idx.pathOf(statSync(root).ino), '/');
    const c1 = statSync(join(root, 'kubepods/burstable/podX/c1')).ino;
    const d1 = statSync(join(root, 'docker/d1')).ino;
    assert.equal(idx.pathOf(c1), '/kubepods/burstable/podX/c1');
    assert.equal(idx.pathOf(d1), '/docker/d1');
    assert.equal(r1.added, 7);
    // d2 first: a temp file system may hand d1's freed inode to the next directory, which
    // cgroupfs never does (kernfs ids are not reused within a boot)
    mkdirSync(join(root, 'docker/d2'));
    rmSync(join(root, 'docker/d1'), { recursive: true });
    const r2 = await idx.refresh();
    assert.deepEqual(r2.removed, [d1]);
    assert.equal(r2.added, 1);
    assert.equal(idx.pathOf(d1), undefined);
    assert.equal(idx.pathOf(statSync(join(root, 'docker/d2')).ino), '/docker/d2');
    assert.equal(idx.walks, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CgroupIndex.refreshSoon is rate limited and joins a running walk', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-cgidx-'));
  try {
    const idx = new CgroupIndex({ root, minRefreshIntervalMs: 60_000 });
    const a = idx.refresh();
    assert.equal(idx.refreshSoon(), a, 'joins the walk in progress');
    await a;
    assert.equal(idx.refreshSoon(), undefined, 'too soon after the last walk');
    assert.equal(idx.walks, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('CgroupIndex indexes the real cgroup2 tree: the root is id 1 (kernfs root)', async (t) => {
  const idx = new CgroupIndex();
  if (idx.root === undefined) {
    t.skip('no cgroup2 mount');
    return;
  }
  await idx.refresh();
  assert.equal(idx.pathOf(statSync(idx.root).ino), '/');
  assert.ok(idx.size >= 1);
});
