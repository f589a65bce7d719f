// SPDX-License-Identifier: Apache-2.0
// Process cache: identities, ancestry, grace-period reclaim and the size bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProcessCache, type ProcessRecord } from './cache.js';
import { capabilityHex, capabilityNames, parseCapabilityHex } from './capabilities.js';
import { execId, KernelClock, parseExecId } from './identity.js';

const node = { name: 'node-a', boot: 'abcd1234' };

function rec(
  pid: number,
  ktime: number,
  parentPid: number,
  parentKtime: number,
  binary = '/bin/sh',
): ProcessRecord {
  return {
    origin: 'exec',
    pid,
    tid: pid,
    ppid: parentPid,
    ktime,
    parentPid,
    parentKtime,
    uid: 0,
    gid: 0,
    euid: 0,
    egid: 0,
    auid: 4294967295,
    capEffective: 2 ** 21 + 1,
    capPermitted: 2 ** 21 + 1,
    ns: { pid: 1, mnt: 2, net: 3, user: 4, uts: 5, ipc: 6, cgroup: 7 },
    cgroupId: 1,
    cgroupName: '',
    binary,
    args: [binary, '-c', 'x'],
    cwd: '/',
    tty: '',
    flags: ['exec'],
  };
}

function cache(opts: { maxEntries?: number; graceMs?: number } = {}): ProcessCache {
  return new ProcessCache({ node, clock: new KernelClock(), ...opts });
}

test('an identity is built once and serialised once, with capability masks as in /proc', () => {
  const c = cache();
  const a = c.upsert(rec(10, 1000, 1, 500));
  const again = c.upsert(rec(10, 1000, 1, 500, '/bin/other'));
  assert.equal(again, a, 'a repeated record keeps the first identity');
  assert.equal(a.info.exec_id, execId(node, 10, 1000));
  assert.equal(a.info.parent_exec_id, execId(node, 1, 500));
  assert.equal(a.info.cap.effective, '0000000000200001');
  assert.deepEqual(capabilityNames(parseCapabilityHex(a.info.cap.effective)), ['CAP_CHOWN', 'CAP_SYS_ADMIN']);
  assert.equal(capabilityHex(2 ** 40 * 2 - 1), '000001ffffffffff');
  assert.deepEqual(JSON.parse(a.json), a.info);
  assert.equal(c.stats().updated, 1);
});

test('exec ids are unique per pid and start time and decode back', () => {
  const id = execId(node, 4242, 123456789012345);
  assert.notEqual(id, execId(node, 4242, 123456789012346));
  assert.notEqual(id, execId({ ...node, boot: 'ffff0000' }, 4242, 123456789012345));
  assert.deepEqual(parseExecId(id), { node: 'node-a', boot: 'abcd1234', ktime: 123456789012345, pid: 4242 });
});

test('ancestry walks parents nearest first and stops at unknown identities', () => {
  const c = cache();
  c.upsert(rec(1, 10, 0, 0, '/sbin/init'));
  c.upsert(rec(20, 200, 1, 10, '/usr/sbin/sshd'));
  c.upsert(rec(30, 300, 20, 200, '/bin/bash'));
  const leaf = c.upsert(rec(40, 400, 30, 300, '/usr/bin/curl'));
  assert.equal(c.parentOf(leaf)?.info.binary, '/bin/bash');
  assert.deepEqual(
    c.ancestors(leaf).map((e) => e.info.binary),
    ['/usr/sbin/sshd', '/sbin/init'],
  );
  const orphan = c.upsert(rec(50, 500, 99, 999));
  assert.equal(c.parentOf(orphan), undefined);
  assert.deepEqual(c.ancestors(orphan), []);
});

test('a pid reused by a new identity resolves both old and new keys', () => {
  const c = cache();
  const old = c.upsert(rec(7, 100, 1, 1));
  const fresh = c.upsert(rec(7, 900, 1, 1));
  assert.equal(c.get(7, 100), old);
  assert.equal(c.get(7, 900), fresh);
  assert.equal(c.get(7, 555), undefined);
  assert.equal(c.stats().misses, 1);
});

test('exited identities stay for the grace period, then are reclaimed', () => {
  const c = cache({ graceMs: 1000 });
  const a = c.upsert(rec(10, 1, 1, 1));
  c.upsert(rec(11, 2, 1, 1));
  c.markExited(a, 5000);
  assert.equal(c.sweep(5999), 0);
  assert.equal(c.get(10, 1), a, 'still resolvable within the grace period');
  assert.equal(c.sweep(6000), 1);
  assert.equal(c.get(10, 1), undefined);
  assert.equal(c.stats().alive, 1);
  assert.equal(c.stats().reclaimed, 1);
});

test('the bound evicts exited identities first, then the oldest alive ones, and counts it', () => {
  const c = cache({ maxEntries: 3, graceMs: 60_000 });
  const a = c.upsert(rec(1, 1, 0, 0));
  c.upsert(rec(2, 2, 0, 0));
  const third = c.upsert(rec(3, 3, 0, 0));
  c.markExited(third, 1);
  c.upsert(rec(4, 4, 0, 0));
  assert.equal(c.size, 3);
  assert.equal(c.get(3, 3), undefined, 'the exited identity went first');
  assert.equal(c.get(1, 1), a);
  c.upsert(rec(5, 5, 0, 0));
  assert.equal(c.size, 3);
  assert.equal(c.get(1, 1), undefined, 'then the oldest alive one');
  assert.equal(c.stats().evictedAlive, 1);
  assert.equal(c.stats().alive, 3);
});

test('kernel time converts to ISO-8601 with nanoseconds, consistent with the wall clock', () => {
  const clock = new KernelClock();
  const now = Number(process.hrtime.bigint());
  const iso = clock.toIso(now);
  assert.match(iso, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  assert.ok(Math.abs(Date.parse(iso) - Date.now()) < 1000);
  assert.equal(clock.toIso(now + 1).slice(0, 23), iso.slice(0, 23));
  assert.notEqual(clock.toIso(now + 1), iso);
});

test('two identities starting in the same nanosecond stay apart', () => {
  const c = cache();
  const a = c.upsert(rec(100, 5000, 1, 1, '/bin/a'));
  const b = c.upsert(rec(200, 5000, 1, 1, '/bin/b'));
  assert.notEqual(a, b);
  assert.equal(c.get(100, 5000)?.info.binary, '/bin/a');
  assert.equal(c.get(200, 5000)?.info.binary, '/bin/b');
  assert.equal(c.size, 2);
  c.markExited(b, 0);
  c.sweep(60_000);
  assert.equal(c.get(200, 5000), undefined);
  assert.equal(c.get(100, 5000), a);
  assert.equal(c.size, 1);
});

test('an identity the cache lost comes back with ids only, once', () => {
  const c = cache();
  const a = c.idsOnly(77, 900, 78);
  assert.equal(a.info.pid, 77);
  assert.equal(a.info.tid, 78);
  assert.equal(a.info.binary, '');
  assert.equal(a.info.parent_exec_id, '', 'no parent is invented');
  assert.equal(c.idsOnly(77, 900), a, 'the same identity on a second miss');
  assert.equal(c.get(77, 900), a);
});
