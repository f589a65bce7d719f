// SPDX-License-Identifier: Apache-2.0
// The agent config file: the example loads, an unknown field anywhere rejects the
// whole file naming file, line and field, and the published schema is current.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfigFile, loadConfigText, parseOutputFlag } from './load.js';
import { configSchema } from './schema.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');

test('examples/config/peregrine.yaml loads: three outputs with their options', () => {
  const cfg = loadConfigFile(join(root, 'examples', 'config', 'peregrine.yaml'));
  assert.deepEqual(
    cfg.outputs.map((o) => `${o.name}:${o.type}`),
    ['archive:file', 'siem:webhook', 'syslog:syslog'],
  );
  assert.equal(cfg.outputs[1].spool?.maxBytes, 268435456);
});

test('an unknown field is an error naming the file, its line and the field; nothing is returned', () => {
  const text = [
    'outputs:',
    '  - name: a',
    '    type: file',
    '    options:',
    '      path: /tmp/x',
    '      maxbytes: 10',
    '',
  ].join('\n');
  assert.throws(
    () => loadConfigText(text, 'agent.yaml'),
    (e: unknown) =>
      e instanceof ConfigError &&
      /^agent\.yaml:6: outputs\[0\]\.options\.maxbytes: unknown field; allowed: path, maxBytes/.test(
        e.message,
      ),
  );
  assert.throws(
    () => loadConfigText('outputs: []\napis:\n  port: 1\n', 'a.yaml'),
    /a\.yaml:2: apis: unknown field/,
  );
  assert.throws(
    () =>
      loadConfigText(
        'outputs:\n  - name: a\n    type: file\n    filtr: {}\n    options: {path: /x}\n',
        'a.yaml',
      ),
    /a\.yaml:4: outputs\[0\]\.filtr: unknown field/,
  );
});

test('bad values, missing options, duplicate names and shared spool directories are errors', () => {
  assert.throws(
    () => loadConfigText('outputs:\n  - name: a\n    type: webhook\n', 'c.yaml'),
    /outputs\[0\]\.options: required/,
  );
  assert.throws(
    () => loadConfigText('outputs:\n  - name: a\n    type: kafka\n', 'c.yaml'),
    /c\.yaml:3: outputs\[0\]\.type: must be one of elasticsearch, file, loki, otlp, syslog, webhook; got "kafka"/,
  );
  const two = (extra: string) =>
    `outputs:\n  - name: a\n    type: file\n    options: {path: /x}\n${extra}\n  - name: a\n    type: file\n    options: {path: /y}\n${extra}\n`;
  assert.throws(() => loadConfigText(two(''), 'c.yaml'), /c\.yaml:6: outputs\[1\]\.name: duplicate/);
  assert.throws(
    () =>
      loadConfigText(
        two('    spool: {dir: /s, maxBytes: 10}').replace(
          '- name: a\n    type: file\n    options: {path: /y}',
          '- name: b\n    type: file\n    options: {path: /y}',
        ),
        'c.yaml',
      ),
    /outputs\[1\]\.spool\.dir: outputs\[0\] spools there too/,
  );
  assert.throws(
    () =>
      loadConfigText(
        'outputs:\n  - name: a\n    type: file\n    options: {path: /x}\n    queue: {maxRecords: -1}\n',
        'c.yaml',
      ),
    /queue\.maxRecords: must be >= 1/,
  );
  assert.throws(() => loadConfigText('outputs: [\n', 'c.yaml'), /c\.yaml:\d+: flow sequence/);
});

test('the flag form: TYPE:KEY=VALUE,... checked by the same schema', () => {
  const f = parseOutputFlag(
    'file:path=/var/log/peregrine/events.json,maxBytes=1048576,compress=false',
    new Set(),
  );
  assert.deepEqual(f, {
    name: 'file',
    type: 'file',
    options: { path: '/var/log/peregrine/events.json', maxBytes: 1048576, compress: false },
  });
  assert.equal(parseOutputFlag('file:path=/b', new Set(['file'])).name, 'file-2');
  assert.throws(() => parseOutputFlag('file:pth=/b', new Set()), /options\.pth: unknown field/);
  assert.throws(() => parseOutputFlag('webhook', new Set()), /want TYPE:KEY=VALUE/);
});

test('docs/config.schema.json is the published copy of the schema (npm run schema writes it)', () => {
  const published = JSON.parse(readFileSync(join(root, 'docs', 'config.schema.json'), 'utf8'));
  assert.deepEqual(published, configSchema());
});

test('docs/outputs.md: its YAML examples load, and it (with docs/outputs-remote.md) documents every field of the schema', () => {
  const doc = readFileSync(join(root, 'docs', 'outputs.md'), 'utf8');
  const remote = readFileSync(join(root, 'docs', 'outputs-remote.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0);
  for (const b of blocks) assert.ok(loadConfigText(b, 'docs/outputs.md').outputs.length > 0);
  const fields = new Set<string>();
  const walk = (s: unknown): void => {
    if (s === null || typeof s !== 'object') return;
    const props = (s as { properties?: Record<string, unknown> }).properties;
    if (props !== undefined) for (const k of Object.keys(props)) fields.add(k);
    for (const v of Object.values(s)) walk(v);
  };
  walk(configSchema());
  const missing = [...fields].filter((f) => !doc.includes(`\`${f}\``) && !remote.includes(`\`${f}\``));
  assert.deepEqual(missing, [], 'fields without a `name` in docs/outputs.md or docs/outputs-remote.md');
});
