// SPDX-License-Identifier: Apache-2.0
// The JSON Schema of the agent config file (`peregrine run --config FILE`;
// docs/config.schema.json is the published copy). Each top-level section is
// one entry of CONFIG_SECTIONS, independent of the others.
import { API_OPTIONS_SCHEMA } from '../api/http.js';
import { PRIORITIES } from '../sinks/filter.js';
import { OUTPUT_TYPES } from '../sinks/registry.js';

type Schema = Record<string, unknown>;

const positive = { type: 'integer', minimum: 1, maximum: 1e12 };

/** One output; `options` is checked by its type's own schema (the if/then per type). */
function outputSchema(): Schema {
  const types = Object.keys(OUTPUT_TYPES).sort();
  return {
    type: 'object',
    additionalProperties: false,
    required: ['name', 'type'],
    properties: {
      name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
      type: { enum: types },
      filter: {
        type: 'object',
        additionalProperties: false,
        properties: {
          kinds: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[a-z][a-z0-9_.]*$' } },
          alerts: { type: 'boolean' },
          events: { type: 'boolean' },
          minPriority: { enum: [...PRIORITIES] },
          policies: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          namespaces: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        },
      },
      rateLimit: {
        type: 'object',
        additionalProperties: false,
        required: ['perSecond'],
        properties: { perSecond: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 }, burst: positive },
      },
      queue: {
        type: 'object',
        additionalProperties: false,
        properties: { maxRecords: { type: 'integer', minimum: 1, maximum: 10_000_000 } },
      },
      batch: {
        type: 'object',
        additionalProperties: false,
        properties: {
          maxRecords: { type: 'integer', minimum: 1, maximum: 100_000 },
          maxWaitMs: { type: 'integer', minimum: 0, maximum: 3_600_000 },
        },
      },
      retry: {
        type: 'object',
        additionalProperties: false,
        properties: {
          initialMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
          maxMs: { type: 'integer', minimum: 1, maximum: 3_600_000 },
        },
      },
      spool: {
        type: 'object',
        additionalProperties: false,
        required: ['dir', 'maxBytes'],
        properties: {
          dir: { type: 'string', minLength: 1 },
          maxBytes: positive,
          segmentBytes: positive,
        },
      },
      options: { type: 'object' },
    },
    allOf: types.map((t) => {
      const schema = OUTPUT_TYPES[t].schema;
      const needsOptions = Array.isArray(schema.required) && schema.required.length > 0;
      return {
        if: { properties: { type: { const: t } }, required: ['type'] },
        // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then, not a thenable.
        then: { ...(needsOptions ? { required: ['options'] } : {}), properties: { options: schema } },
      };
    }),
  };
}

/** Top-level sections by name: adding one (api:, metrics:) is one entry here. */
export function configSections(): Record<string, Schema> {
  return {
    outputs: { type: 'array', items: outputSchema() },
    api: API_OPTIONS_SCHEMA,
  };
}

export function configSchema(): Schema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: 'https://peregrine.dev/schemas/config.schema.json',
    title: 'Peregrine agent config file',
    type: 'object',
    additionalProperties: false,
    properties: configSections(),
  };
}
