// SPDX-License-Identifier: Apache-2.0
// The Policy resource as written (JSON Schema for its shape), the event kinds it may name, and which
// selectors and actions apply to which kinds. The loader (load.ts) adds the checks a schema cannot say.
import type { EventKind } from '../events/types.js';
import type { RuleMatch } from './types.js';

export const API_VERSION = 'peregrine.dev/v1alpha1';

/** Every event kind a rule may name, in docs/events.md order. */
export const EVENT_KINDS = [
  'process.exec',
  'process.exit',
  'process.fork',
  'file.open',
  'file.unlink',
  'file.rename',
  'file.link',
  'file.symlink',
  'file.chmod',
  'file.chown',
  'file.truncate',
  'file.mount',
  'network.connect',
  'network.accept',
  'network.bind',
  'network.listen',
  'network.send',
  'privilege.setuid',
  'privilege.setgid',
  'privilege.capset',
  'privilege.prctl',
  'namespace.unshare',
  'namespace.setns',
  'process.ptrace',
  'kernel.module_load',
  'kernel.bpf',
  'kernel.kexec',
  'process.memfd_create',
] as const satisfies readonly EventKind[];

// Fails to compile when EventKind grows a kind this list lacks.
type MissingKind = Exclude<EventKind, (typeof EVENT_KINDS)[number]>;
const everyKindListed: [MissingKind] extends [never] ? true : MissingKind = true;
void everyKindListed;

/** Longest path, prefix or glob accepted (PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest file-name suffix or binary base name accepted (NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/**
 * Cap on values in all match lists of one file together. Lists have no
 * per-list limit (a 10,000-entry allow-list is ordinary); this only stops a
 * generated file from exhausting memory in the loader and the kernel maps.
 */
export const MAX_VALUES_PER_FILE = 1_000_000;

const FILE_KINDS: readonly EventKind[] = EVENT_KINDS.filter((k) => k.startsWith('file.'));
const NETWORK_KINDS: readonly EventKind[] = EVENT_KINDS.filter((k) => k.startsWith('network.'));

/** A selector that applies to only some kinds: those kinds, and how the docs say it. */
export interface Applicability {
  kinds: readonly EventKind[];
  says: string;
}

/**
 * Selectors that apply to some kinds only; a rule using one with another kind
 * is an error (it could never match, which is never what the author meant).
 * Selectors not listed (binaries, parentBinaries, args, uids, gids,
 * capabilities, namespaces, cgroupIds) describe the process and apply to every kind.
 */
export const SELECTOR_KINDS: Partial<Record<keyof RuleMatch, Applicability>> = {
  // process.exec: the exec'd binary's path, resolved in the kernel (bpf/enforce.bpf.c: kill rules).
  paths: {
    kinds: [...FILE_KINDS, 'kernel.module_load', 'process.exec'],
    says: 'file.* kinds, kernel.module_load and process.exec',
  },
  access: { kinds: ['file.open'], says: 'file.open' },
  ports: { kinds: NETWORK_KINDS, says: 'network.* kinds' },
  // bind and listen have no remote end: an address selector there would never match.
  addresses: {
    kinds: ['network.connect', 'network.accept', 'network.send'],
    says: 'network.connect, network.accept and network.send',
  },
};

/** Kinds no enforcing action can act on (the process is already gone). */
export const UNENFORCEABLE_KINDS: readonly EventKind[] = ['process.exit'];

// ---------------------------------------------------------------------------
// JSON Schema of the resource as written. `errorReason` is an annotation the
// loader shows instead of ajv's generic text for pattern failures.

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const RULE_NAME = '^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LABEL_NAME =
  '^(([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
const LABEL_VALUE = '^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$';

const nonEmptyString = { type: 'string', minLength: 1 };

function list(items: object): object {
  return { type: 'array', minItems: 1, items };
}

function inNotIn(items: object): object {
  return {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: { in: list(items), notIn: list(items) },
  };
}

const u32 = { type: 'integer', minimum: 0, maximum: 4294967295 };

const matchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    paths: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        exact: list(nonEmptyString),
        prefix: list(nonEmptyString),
        suffix: list(nonEmptyString),
        glob: list(nonEmptyString),
      },
    },
    access: list({ enum: ['read', 'write', 'create', 'truncate'] }),
    binaries: inNotIn(nonEmptyString),
    parentBinaries: inNotIn(nonEmptyString),
    args: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { contains: list(nonEmptyString) },
    },
    uids: inNotIn(u32),
    gids: inNotIn(u32),
    capabilities: list(nonEmptyString),
    namespaces: { enum: ['host', 'container'] },
    ports: inNotIn({ type: 'integer', minimum: 1, maximum: 65535 }),
    addresses: inNotIn(nonEmptyString),
    cgroupIds: inNotIn({ type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  },
};

const ruleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kinds'],
  properties: {
    name: {
      type: 'string',
      maxLength: 63,
      pattern: RULE_NAME,
      errorReason:
        'must be 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit',
    },
    kinds: list({ enum: EVENT_KINDS }),
    match: matchSchema,
    action: { enum: ['audit', 'deny', 'kill', 'signal'] },
    signal: nonEmptyString,
    fallback: { enum: ['kill', 'audit', 'reject'] },
  },
};

const selectorSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    matchLabels: {
      type: 'object',
      propertyNames: { maxLength: 316, pattern: LABEL_NAME },
      additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE },
    },
    matchExpressions: list({
      type: 'object',
      additionalProperties: false,
      required: ['key', 'operator'],
      properties: {
        key: { type: 'string', maxLength: 316, pattern: LABEL_NAME },
        operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
        values: { type: 'array', items: { type: 'string', maxLength: 63 } },
      },
    }),
  },
};

/** JSON Schema (draft-07) of one Policy document as written, before defaults. */
export const policySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://peregrine.dev/schemas/policy-v1alpha1.json',
  title: 'Peregrine Policy',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: API_VERSION },
    kind: { const: 'Policy' },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          maxLength: 63,
          pattern: DNS_LABEL,
          errorReason:
            'must be a DNS-1123 label: at most 63 lowercase letters, digits or "-", starting and ending with a letter or digit',
        },
        labels: {
          type: 'object',
          propertyNames: {
            maxLength: 316,
            pattern: LABEL_NAME,
            errorReason: 'label keys are [prefix/]name, name 1-63 letters, digits, "-", "_" or "."',
          },
          additionalProperties: {
            type: 'string',
            maxLength: 63,
            pattern: LABEL_VALUE,
            errorReason: 'label values are at most 63 letters, digits, "-", "_" or "."',
          },
        },
      },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['rules'],
      properties: {
        mode: { enum: ['enforce', 'monitor'] },
        rules: list(ruleSchema),
        selector: selectorSchema,
        safety: {
          type: 'object',
          additionalProperties: false,
          required: ['maxDenials', 'window'],
          properties: {
            maxDenials: { type: 'integer', minimum: 1, maximum: 1000000 },
            window: {
              type: 'string',
              pattern: '^[1-9][0-9]{0,8}(ms|s|m|h)$',
              errorReason: 'must be a duration like "60s", "5m" or "1h"',
            },
          },
        },
      },
    },
  },
} as const;
