// SPDX-License-Identifier: Apache-2.0
// The option examples of docs/outputs-remote.md are valid options of the output type their section is about.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { packageRoot } from '../../src/kernel/native.js';
import { elasticsearchOutput } from '../../src/sinks/elasticsearch.js';
import { lokiOutput } from '../../src/sinks/loki.js';
import { otlpOutput } from '../../src/sinks/otlp.js';
import type { OutputType } from '../../src/sinks/transport.js';

const sections: Array<[string, OutputType]> = [
  ['## Loki', lokiOutput],
  ['## OpenTelemetry', otlpOutput],
  ['## Elasticsearch', elasticsearchOutput],
];

test('every JSON example in docs/outputs-remote.md passes its output type schema', () => {
  const md = readFileSync(join(packageRoot(), 'docs', 'outputs-remote.md'), 'utf8');
  const ajv = new Ajv({ allErrors: true, strict: true });
  let type: OutputType | undefined;
  let checked = 0;
  for (const block of md.split(/^```/m).entries()) {
    const [i, text] = block;
    if (i % 2 === 0) {
      for (const line of text.split('\n')) {
        const s = sections.find(([h]) => line.startsWith(h));
        if (s) type = s[1];
      }
      continue;
    }
    if (!text.startsWith('json\n')) continue;
    assert.ok(type, 'example before any output section');
    const validate = ajv.compile(type.schema);
    const options = JSON.parse(text.slice(5));
    assert.ok(
      validate(options),
      `${type.type}: ${JSON.stringify(options)}: ${ajv.errorsText(validate.errors)}`,
    );
    checked++;
  }
  assert.equal(checked, 5);
});
