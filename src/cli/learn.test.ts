// SPDX-License-Identifier: Apache-2.0
// `peregrine learn` arguments: one target, a duration, a sensible default name; bad input is a clear error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultName, learnCommand, parseTarget } from './learn.js';

test('exactly one target; selectors are key=value lists; binaries are full paths', () => {
  assert.deepEqual(parseTarget({ container: 'web' }), { container: 'web' });
  assert.deepEqual(parseTarget({ selector: 'app=web, tier=front' }), {
    selector: { app: 'web', tier: 'front' },
  });
  assert.deepEqual(parseTarget({ binary: '/usr/bin/nginx' }), { binary: '/usr/bin/nginx' });
  assert.throws(() => parseTarget({}), /exactly one of --container, --selector, --cgroup, --binary/);
  assert.throws(() => parseTarget({ container: 'a', binary: '/b' }), /exactly one/);
  assert.throws(() => parseTarget({ selector: 'app' }), /"app" is not key=value/);
  assert.throws(() => parseTarget({ binary: 'nginx' }), /full path/);
  assert.throws(() => parseTarget({ cgroup: '/no/such/cgroup-pg-learn' }), /learn --cgroup: .*no\/such/);
});

test('default names are DNS labels of at most 63 characters', () => {
  assert.equal(defaultName({ container: 'My_Web.1' }), 'learned-my-web-1');
  assert.equal(defaultName({ selector: { app: 'web' } }), 'learned-web');
  assert.equal(defaultName({ binary: '/usr/sbin/nginx' }), 'learned-nginx');
  const long = defaultName({ container: 'x'.repeat(100) });
  assert.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
});

test('a bad duration, window or denial count stops before anything is watched', async () => {
  const base = { container: 'web', out: '/nonexistent/p.yaml', socket: '/nonexistent.sock', log: () => {} };
  await assert.rejects(
    learnCommand({ ...base, duration: '5 minutes' }),
    /--duration: "5 minutes" is not a duration/,
  );
  await assert.rejects(learnCommand({ ...base, duration: '5m', window: 'soon' }), /--window/);
  await assert.rejects(learnCommand({ ...base, duration: '5m', maxDenials: '0' }), /--max-denials/);
});
