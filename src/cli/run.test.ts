// SPDX-License-Identifier: Apache-2.0
// How `run` joins the config file's api: section with the API flags.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText } from '../config/load.js';
import { apiOptions } from './main.js';
import { apiConfig } from './run.js';

const file = loadConfigText(
  'api:\n  listen: 0.0.0.0:9441\n  tokenFile: /etc/peregrine/api.token\n  metrics:\n    path: /m\n',
  'agent.yaml',
).api;

test('without API flags the config file decides, and the address it names is not best-effort', () => {
  assert.deepEqual(apiConfig(apiOptions({}), file), {
    listen: '0.0.0.0:9441',
    tokenFile: '/etc/peregrine/api.token',
    metrics: { path: '/m' },
    bestEffort: false,
    tls: undefined,
  });
});

test('a flag replaces its field only; --no-metrics and --bpf-stats reach the metrics section', () => {
  const joined = apiConfig(
    apiOptions({ api: '127.0.0.1:9500', 'no-metrics': true, 'bpf-stats': true }),
    file,
  );
  assert.equal(joined?.listen, '127.0.0.1:9500');
  assert.equal(joined?.tokenFile, '/etc/peregrine/api.token');
  assert.deepEqual(joined?.metrics, { path: '/m', enabled: false, programRunTime: true });
});

test('--api off wins over the file; no file: the flags alone', () => {
  assert.equal(apiConfig(apiOptions({ api: 'off' }), file), undefined);
  assert.deepEqual(apiConfig(apiOptions({}), undefined), apiOptions({}));
});

test('an unknown field in the api section rejects the file with its line', () => {
  assert.throws(
    () => loadConfigText('api:\n  listen: 127.0.0.1:9440\n  tokn: x\n', 'agent.yaml'),
    /agent\.yaml:3: api\.tokn/,
  );
});
