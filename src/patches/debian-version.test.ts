// SPDX-License-Identifier: Apache-2.0
// The comparator against dpkg's own answers (dpkg --compare-versions, where
// dpkg is installed) and the orderings Debian Policy 5.6.12 spells out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { compareDebianVersions, parseDebianVersion } from './debian-version.js';

const sign = (n: number) => Math.sign(n);

const CASES: Array<[string, string, number]> = [
  ['1.0', '1.0', 0],
  ['1.0', '1.1', -1],
  ['1.0~rc1', '1.0', -1],
  ['1.0~~', '1.0~', -1],
  ['1.0', '1.0+b1', -1],
  ['1.0-1', '1.0-1+deb10u1', -1],
  ['1:0.1', '9.9', 1],
  ['1.8.27-1+deb10u2', '1.8.27-1+deb10u3', -1],
  ['1.9.5p2-3', '1.9.5p1-1', 1],
  ['1.9.13p3-1+deb12u1', '1.9.5p2-3', 1],
  ['1.1.5+ds1-1+deb12u1', '1.1.5+ds1-1', 1],
  ['1.0.0~rc93+ds1-5+deb11u3', '1.0.0~rc93+ds1-5+deb11u2', 1],
  ['1.0.0~rc93+ds1-5', '1.0.0', -1],
  ['0.105-31+deb11u1', '0.105-31', 1],
  ['122-3', '0.105-31+deb11u1', 1],
  ['1.0a', '1.0', 1],
  ['1.0', '1.0.', -1],
  ['1.01', '1.1', 0],
  ['2.30-1', '2.30-1~bpo1', 1],
  ['1.2-3-4', '1.2-3-5', -1],
];

test('orders versions like Debian Policy 5.6.12', () => {
  for (const [a, b, want] of CASES) {
    assert.equal(sign(compareDebianVersions(a, b)), want, `${a} vs ${b}`);
    assert.equal(sign(compareDebianVersions(b, a)), want === 0 ? 0 : -want, `${b} vs ${a}`);
  }
});

test('agrees with dpkg --compare-versions where dpkg is installed', (t) => {
  try {
    execFileSync('dpkg', ['--version'], { stdio: 'ignore' });
  } catch {
    return t.skip('dpkg not installed');
  }
  for (const [a, b] of CASES) {
    const dpkg = (op: string) => {
      try {
        execFileSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    };
    const want = dpkg('lt') ? -1 : dpkg('eq') ? 0 : 1;
    assert.equal(sign(compareDebianVersions(a, b)), want, `${a} vs ${b} (dpkg says ${want})`);
  }
});

test('parses epoch, upstream with hyphens, revision; refuses what dpkg refuses', () => {
  assert.deepEqual(parseDebianVersion('2:1.2-3-4'), { epoch: 2, upstream: '1.2-3', revision: '4' });
  assert.deepEqual(parseDebianVersion('1.0'), { epoch: 0, upstream: '1.0', revision: '' });
  assert.throws(() => parseDebianVersion('x:1.0'), /epoch must be a number/);
  assert.throws(() => parseDebianVersion('abc'), /must start with a digit/);
  assert.throws(() => parseDebianVersion(''), /must start with a digit/);
});
