// SPDX-License-Identifier: Apache-2.0
// The shipped pack loads whole (its policies and detection rules included);
// a bad pack is refused with file, line, field and reason.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Capabilities } from '../enforce/attest.js';
import { loadPatchPack, PatchPackError, patchStatus, selectEntries } from './index.js';

const HERE: Capabilities = {
  lsm: false,
  lsmReason: 'BPF-LSM unavailable: test',
  cgroup: true,
  cgroupReason: '',
  signal: true,
  signalReason: '',
};
const GUEST: Capabilities = { ...HERE, lsm: true, lsmReason: '' };

test('the shipped pack: every issue entry, each with a policy, detection rules or what is missing', () => {
  const pack = loadPatchPack();
  const ids = pack.entries.map((e) => e.id).sort();
  assert.deepEqual(ids, [
    'cve-2019-5736',
    'cve-2021-3156',
    'cve-2021-4034',
    'cve-2022-0185',
    'cve-2022-0492',
    'cve-2022-0847',
    'cve-2023-0386',
    'cve-2024-21626',
  ]);
  for (const e of pack.entries) {
    assert.ok(e.policies.length > 0 || e.detect.length > 0 || e.missing !== undefined, e.id);
    for (const p of e.policies) assert.equal(p.metadata.labels?.['peregrine.dev/patch'], e.id);
  }
});

test('attestation per entry: kill here where a kill hook exists, BPF-LSM deny in the guests, honest audit elsewhere', () => {
  const pack = loadPatchPack();
  const facts = {
    kernel: { release: '5.10.0', upstream: '5.10.0' },
    packages: { dpkg: true, installed: new Map() },
    exists: () => false,
  };
  const here = new Map(patchStatus(pack, facts, HERE).map((s) => [s.id, s]));
  const guest = new Map(patchStatus(pack, facts, GUEST).map((s) => [s.id, s]));
  assert.deepEqual(here.get('cve-2019-5736')?.rules, [
    'vp-cve-2019-5736/runtime-binary-write: degraded (asked deny, doing kill; tracepoint/syscalls/sys_exit_openat)',
  ]);
  assert.deepEqual(guest.get('cve-2019-5736')?.rules, [
    'vp-cve-2019-5736/runtime-binary-write: enforced (lsm/file_open)',
  ]);
  assert.equal(guest.get('cve-2022-0492')?.enforcement, 'enforced');
  assert.deepEqual(
    guest.get('cve-2021-4034')?.rules?.[0],
    'vp-cve-2021-4034/pkexec-exec: enforced (lsm/bprm_check_security)',
  );
  assert.equal(here.get('cve-2022-0185')?.enforcement, 'audit');
  assert.equal(here.get('cve-2022-0847')?.enforcement, 'none');
  assert.equal(here.get('cve-2021-3156')?.enforcement, 'detect');
  // No signals, no LSM: the deny-or-kill entries say they cannot act, and are not refused
  const none = patchStatus(pack, facts, { ...HERE, signal: false, signalReason: 'no bpf_send_signal' });
  assert.match(
    none.find((s) => s.id === 'cve-2019-5736')?.rules[0] ?? '',
    /unsupported \(deny on file.open needs BPF-LSM/,
  );
});

test('apply --affected picks yes and maybe, skips no and entries without a policy, saying why', () => {
  const pack = loadPatchPack();
  const facts = {
    kernel: {
      release: '5.10.0-11-amd64',
      upstream: '5.10.92',
      distro: 'debian' as const,
      debianVersion: '5.10.92-1',
    },
    packages: { dpkg: true, installed: new Map([['runc', '1.0.0~rc93+ds1-5+deb11u2']]) },
    exists: () => false,
  };
  const st = patchStatus(pack, facts, HERE);
  const { entries, skipped } = selectEntries(pack, st, { affected: true });
  // 0185: Debian 5.10.92-1 has the fix; 0492: no fixed 5.10.y listed (maybe); 0386: older than the bug
  assert.deepEqual(
    entries.map((e) => e.id),
    ['cve-2022-0492'],
  );
  assert.match(skipped.find((s) => s.id === 'cve-2022-0185')?.why ?? '', /has the fix \(Debian 5.10.92-1\)/);
  const why = new Map(skipped.map((s) => [s.id, s.why]));
  assert.match(why.get('cve-2022-0847') ?? '', /no policy in this build/);
  assert.match(why.get('cve-2024-21626') ?? '', /no policy in this build; its detection rules/);
  assert.match(why.get('cve-2021-3156') ?? '', /not affected: sudo not installed/);
  assert.throws(() => selectEntries(pack, st, { ids: ['cve-1999-0001'] }), /no entry cve-1999-0001/);
});

test('a bad pack is refused whole with file:line: field: reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-pack-'));
  const file = join(dir, 'pack.yaml');
  const bad = (body: string, want: RegExp) => {
    writeFileSync(
      file,
      `apiVersion: peregrine.dev/v1alpha1\nkind: PatchPack\nmetadata: {name: t}\nentries:\n${body}`,
    );
    assert.throws(
      () => loadPatchPack(file),
      (err: unknown) => err instanceof PatchPackError && want.test(err.message),
    );
  };
  try {
    const ok =
      '  - id: cve-2022-0847\n    cve: CVE-2022-0847\n    title: t\n    path: p\n    breaks: b\n    missing: m\n    test: t\n';
    bad(
      `${ok}    affects: {kernel: {fixd: "5.17"}}\n`,
      /pack\.yaml:\d+: entries\[0\]\.affects\.kernel\.fixd: unknown field/,
    );
    bad(
      `${ok}    affects: {kernel: {fixed: "5.x"}}\n`,
      /entries\[0\]\.affects\.kernel\.fixed: "5.x" is not a kernel version/,
    );
    bad(
      `${ok}    affects: {packages: [{names: [sudo], fixed: "abc"}]}\n`,
      /packages\[0\]\.fixed: .*must start with a digit/,
    );
    bad(`${ok}    affects: {}\n`, /entries\[0\]\.affects: needs kernel or packages/);
    bad(
      `${ok}    affects: {kernel: {fixed: "5.17"}}\n    policy: nowhere.yaml\n`,
      /entries\[0\]\.policy: does not load/,
    );
    bad(
      ok.replace('CVE-2022-0847', 'CVE-2022-0848') + '    affects: {kernel: {fixed: "5.17"}}\n',
      /cve: must be CVE-2022-0847/,
    );
    bad(
      `${ok}    affects: {kernel: {fixed: "5.17"}}\n${ok}    affects: {kernel: {fixed: "5.17"}}\n`,
      /duplicate entry cve-2022-0847/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
