// SPDX-License-Identifier: Apache-2.0
// The learner's generaliser: which path segments, directories and addresses widen, and which stay exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ephemeralRange,
  generaliseAddresses,
  generalisePath,
  generalisePaths,
  generaliseSegment,
} from './generalise.js';

test('version-numbered segments keep their major number; library versions become .so.*', () => {
  assert.equal(generalisePath('/usr/lib/python3.11/os.py').path, '/usr/lib/python3.*/os.py');
  assert.equal(
    generalisePath('/usr/lib/x86_64-linux-gnu/libssl.so.3').path,
    '/usr/lib/x86_64-linux-gnu/libssl.so.*',
  );
  assert.equal(generalisePath('/usr/lib/libfoo.so.1.2.3').path, '/usr/lib/libfoo.so.*');
  assert.equal(generalisePath('/opt/app-2.4.1/bin/app').path, '/opt/app-2.*/bin/app');
  assert.deepEqual(generalisePath('/opt/app-2.4.1/bin/app').why, ['version "app-2.4.1"']);
});

test('temporary names, pids, hex ids and uuids become *', () => {
  assert.equal(generalisePath('/tmp/tmp.Ab12Cd34Ef/data').path, '/tmp/tmp*/data');
  assert.equal(generalisePath('/proc/4242/status').path, '/proc/*/status');
  assert.equal(generalisePath('/var/lib/docker/0123456789abcdef0123/x').path, '/var/lib/docker/*/x');
  assert.equal(generalisePath('/run/3f2504e0-4f89-11d3-9a0c-0305e82c3301/s').path, '/run/*/s');
  assert.equal(generaliseSegment('out.1234').seg, 'out.*');
});

test('ordinary names stay exact', () => {
  for (const p of ['/etc/passwd', '/etc/nginx/nginx.conf', '/usr/bin/python3', '/srv/app/v2/index.html']) {
    const g = generalisePath(p);
    assert.equal(g.path, p);
    assert.equal(g.glob, false);
  }
});

test('a directory with many distinct entries is allowed as a prefix; fewer stay listed', () => {
  const many = ['a', 'b', 'c', 'd', 'e'].map((n) => `/srv/www/${n}.html`);
  const out = generalisePaths([...many, '/etc/hosts', '/etc/passwd']);
  assert.deepEqual(
    out.map((g) => [g.value, g.form]),
    [
      ['/etc/hosts', 'exact'],
      ['/etc/passwd', 'exact'],
      ['/srv/www/', 'prefix'],
    ],
  );
  const www = out.find((g) => g.value === '/srv/www/');
  assert.deepEqual(www?.seen, many);
  assert.match(www?.how ?? '', /5 distinct entries/);
});

test('generalised paths merge and keep every observed example; the output is sorted', () => {
  const out = generalisePaths(['/proc/12/status', '/proc/7/status', '/etc/hosts']);
  assert.deepEqual(
    out.map((g) => g.value),
    ['/etc/hosts', '/proc/*/status'],
  );
  assert.deepEqual(out[1].seen, ['/proc/12/status', '/proc/7/status']);
  assert.equal(out[1].form, 'glob');
  // Same input in another order, same output.
  assert.deepEqual(generalisePaths(['/etc/hosts', '/proc/7/status', '/proc/12/status']), out);
});

test('addresses: loopback to 127.0.0.0/8, three peers in a /24 to the /24, the rest exact', () => {
  const out = generaliseAddresses([
    '127.0.0.1',
    '10.244.0.7',
    '10.244.0.9',
    '10.244.0.12',
    '192.0.2.1',
    'fd00::1',
  ]);
  assert.deepEqual(
    out.map((g) => g.value),
    ['10.244.0.0/24', '127.0.0.0/8', '192.0.2.1/32', 'fd00::1/128'],
  );
  assert.deepEqual(out[0].seen, ['10.244.0.12', '10.244.0.7', '10.244.0.9']);
});

test('the ephemeral range comes from ip_local_port_range', () => {
  assert.deepEqual(ephemeralRange('32768\t60999\n'), [32768, 60999]);
  assert.deepEqual(ephemeralRange('1024 65000'), [1024, 65000]);
  assert.deepEqual(ephemeralRange(undefined), [32768, 60999]);
});
