// SPDX-License-Identifier: Apache-2.0
// Applicability against described nodes: kernel ranges with stable and Debian
// backports, package versions with Debian fixes, unknown stated as "maybe",
// and the shipped pack judged for a few real-world nodes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assessEntry, assessKernel, assessPackage, kernelFacts, type NodeFacts } from './applicability.js';
import { loadPatchPack, type PatchEntry } from './pack.js';

const pack = loadPatchPack();
const entry = (id: string) => pack.entries.find((e) => e.id === id) as PatchEntry;

function node(
  procVersion: string,
  rel: string,
  pkgs: Record<string, string> = {},
  files: string[] = [],
): NodeFacts {
  return {
    kernel: kernelFacts(rel, procVersion, ''),
    packages: { dpkg: true, installed: new Map(Object.entries(pkgs)) },
    exists: (p) => files.includes(p),
  };
}

test('kernel facts: Debian names its upstream release in /proc/version; uname otherwise', () => {
  assert.deepEqual(
    kernelFacts(
      '6.1.0-18-amd64',
      'Linux version 6.1.0-18-amd64 ... #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)',
      '',
    ),
    {
      release: '6.1.0-18-amd64',
      upstream: '6.1.76',
      distro: 'debian',
      debianVersion: '6.1.76-1',
    },
  );
  assert.deepEqual(kernelFacts('6.18.44-custom', 'Linux version 6.18.44-custom', ''), {
    release: '6.18.44-custom',
    upstream: '6.18.44',
  });
  assert.equal(
    kernelFacts('5.15.0-91-generic', '', 'Ubuntu 5.15.0-91.101-generic 5.15.131').distro,
    'ubuntu',
  );
  assert.equal(kernelFacts('4.18.0-513.el8.x86_64', '', '').distro, 'rhel');
  assert.equal(kernelFacts('6.2', '', '').upstream, '6.2.0');
});

test('kernel ranges: introduced, mainline fix, stable branch fix, Debian backport, unlisted branch', () => {
  const dirty = entry('cve-2022-0847').affects.kernel;
  assert.ok(dirty);
  const k = (rel: string, pv = '') => assessKernel(dirty, kernelFacts(rel, pv, '')).affected;
  assert.equal(k('5.4.250'), 'no'); // older than 5.8
  assert.equal(k('5.10.101'), 'yes');
  assert.equal(k('5.10.102'), 'no');
  assert.equal(k('5.16.10'), 'yes');
  assert.equal(k('5.17.0'), 'no');
  assert.equal(k('5.12.19'), 'maybe'); // no fixed 5.12.y listed
  // Debian 5.10.92-2 had the fix before 5.10.102
  assert.equal(k('5.10.0-11-amd64', 'Linux version ... Debian 5.10.92-2 (2022-02-28)'), 'no');
  assert.equal(k('5.10.0-11-amd64', 'Linux version ... Debian 5.10.92-1 (2022-01-18)'), 'yes');
  // Ubuntu kernels backport: below the fix is only "maybe"
  assert.equal(
    assessKernel(dirty, kernelFacts('5.13.0-30-generic', '', 'Ubuntu 5.13.0-30.33-generic 5.13.19')).affected,
    'maybe',
  );
});

test('packages: upstream fix, Debian backport of the same upstream version, not installed, outside dpkg, no dpkg', () => {
  const sudo = entry('cve-2021-3156').affects.packages?.[0];
  assert.ok(sudo);
  const p = (installed: Record<string, string>, files: string[] = []) =>
    assessPackage(sudo, node('', '6.1.0', installed, files)).affected;
  assert.equal(p({ sudo: '1.9.13p3-1+deb12u1' }), 'no');
  assert.equal(p({ sudo: '1.8.27-1+deb10u2' }), 'yes');
  assert.equal(p({ sudo: '1.8.27-1+deb10u3' }), 'no');
  assert.equal(p({ sudo: '1.8.1-1' }), 'no'); // older than the bug
  assert.equal(p({ sudo: '1.8.31-1ubuntu1' }), 'maybe'); // a distribution build, no fix listed
  assert.equal(p({ sudo: '1.9.5p1' }), 'yes'); // an upstream build
  assert.equal(p({}), 'no');
  assert.equal(p({}, ['/usr/local/bin/sudo']), 'maybe');
  const noDpkg: NodeFacts = { ...node('', '6.1.0'), packages: { dpkg: false, installed: new Map() } };
  assert.equal(assessPackage(sudo, noDpkg).affected, 'no');
  assert.equal(assessPackage(sudo, { ...noDpkg, exists: (f) => f === '/usr/bin/sudo' }).affected, 'maybe');
});

test('an entry needs every component affected: PwnKit on a 5.18+ kernel is closed by the kernel', () => {
  const pwnkit = entry('cve-2021-4034');
  const old = node('', '5.10.0', { 'policykit-1': '0.105-31' });
  // the kernel part is "maybe" (no fixed 5.10.y listed: 5.18 removed the empty argv), the package "yes"
  assert.equal(assessEntry(pwnkit, old).affected, 'maybe');
  const fixedKernel = node('', '6.1.0', { 'policykit-1': '0.105-31' });
  const a = assessEntry(pwnkit, fixedKernel);
  assert.equal(a.affected, 'no');
  assert.equal(a.reasons.length, 2);
  assert.equal(assessEntry(pwnkit, node('', '5.10.0', { 'policykit-1': '0.105-31+deb11u1' })).affected, 'no');
  assert.equal(assessEntry(pwnkit, node('', '5.10.0', { 'policykit-1': '0.105-25+deb10u1' })).affected, 'no');
  assert.equal(assessEntry(pwnkit, node('', '5.10.0', { 'policykit-1': '0.105-25' })).affected, 'maybe');
});

test('runc: Leaky Vessels fixed in Debian bookworm 1.1.5+ds1-1+deb12u1, affected before', () => {
  const leaky = entry('cve-2024-21626');
  assert.equal(assessEntry(leaky, node('', '6.1.0', { runc: '1.1.5+ds1-1+deb12u1' })).affected, 'no');
  assert.equal(assessEntry(leaky, node('', '6.1.0', { runc: '1.1.5+ds1-1' })).affected, 'yes');
  assert.equal(assessEntry(leaky, node('', '6.1.0', { runc: '1.0.0~rc92+dfsg1-5' })).affected, 'no');
  assert.equal(assessEntry(leaky, node('', '6.1.0', { runc: '1.1.12' })).affected, 'no');
});
