// SPDX-License-Identifier: Apache-2.0
// The API's options: listen addresses, what counts as loopback, and the JSON
// Schema the config file's `api:` section is validated with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { apiOptions } from '../cli/main.js';
import { API_OPTIONS_SCHEMA, isLoopback, parseListen } from './http.js';

test('listen addresses: HOST:PORT and [v6]:PORT; anything else is a clear error', () => {
  assert.deepEqual(parseListen('127.0.0.1:9440'), { host: '127.0.0.1', port: 9440 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
  for (const bad of ['9440', '127.0.0.1', '::1:9440', '127.0.0.1:99999', 'a:b'])
    assert.throws(() => parseListen(bad), /listen wants HOST:PORT/, bad);
});

test('loopback: 127/8, ::1, localhost; anything else needs a token', () => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'])
    assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '10.0.0.5', 'node-1', '128.0.0.1']) assert.ok(!isLoopback(h), h);
});

test('the options schema accepts what the flags build and refuses typos and huge values', () => {
  const validate = new Ajv({ allErrors: true }).compile(API_OPTIONS_SCHEMA);
  const fromFlags = apiOptions({
    api: '0.0.0.0:9440',
    'api-token-file': '/t',
    'api-tls-cert': '/c',
    'api-tls-key': '/k',
  });
  assert.ok(validate(JSON.parse(JSON.stringify(fromFlags))), JSON.stringify(validate.errors));
  assert.ok(!validate({ listne: '127.0.0.1:1' }));
  assert.ok(!validate({ listen: 'nowhere' }));
  assert.ok(!validate({ tls: { cert: '/c' } }));
  assert.ok(!validate({ processEvents: { maxEvents: 1e12 } }));
});

test('run flags: default address best effort, --api off, TLS files in pairs', () => {
  assert.deepEqual(apiOptions({}), {
    listen: '127.0.0.1:9440',
    tokenFile: undefined,
    tls: undefined,
    metrics: { enabled: true, programRunTime: false },
    bestEffort: true,
  });
  assert.equal(apiOptions({ api: 'off' }), undefined);
  assert.equal(apiOptions({ api: '127.0.0.1:1' })?.bestEffort, false);
  assert.throws(() => apiOptions({ api: 'off', 'api-token-file': '/t' }), /given with --api off/);
  assert.throws(() => apiOptions({ 'api-tls-cert': '/c' }), /go together/);
  assert.throws(() => apiOptions({ api: 'x' }), /listen wants HOST:PORT/);
});
