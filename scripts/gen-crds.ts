// SPDX-License-Identifier: Apache-2.0
// Generates the Kubernetes CustomResourceDefinitions of Policy and ClusterPolicy from the JSON
// Schema the policy loader validates with (src/policy/schema.ts), so the API server and the loader
// agree on the shape of a policy; written to deploy/kubernetes/crds and the Helm chart's crds/.
// `--check` exits 1 when a committed file differs.
//
//   node dist/scripts/gen-crds.js [--check] [--out DIR]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { API_VERSION, policySchema } from '../src/policy/schema.js';
import { packageRoot } from '../src/sensors/paths.js';

export const GROUP = API_VERSION.split('/')[0];
export const VERSION = API_VERSION.split('/')[1];

type Schema = Record<string, unknown>;

/** Keywords a structural apiextensions.k8s.io/v1 schema accepts that schema.ts uses, copied as they are. */
const COPIED = new Set([
  'type',
  'required',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'pattern',
  'minimum',
  'maximum',
  'minProperties',
  'maxProperties',
  'description',
  'format',
]);

/**
 * Rewrites one node of the loader's draft-07 schema as a structural schema:
 * every node typed, `const` as a one-value `enum`, no `additionalProperties: false`
 * (apiextensions/v1 forbids it; the API server prunes unknown fields instead and
 * kubectl's strict field validation, the default since 1.27, rejects them).
 * A keyword this function does not know fails the generator, so schema.ts
 * cannot grow a constraint the CRD silently drops.
 */
export function toStructural(node: Schema, at = '$'): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    switch (key) {
      case 'properties': {
        const props: Record<string, Schema> = {};
        for (const [name, sub] of Object.entries(value as Record<string, Schema>)) {
          props[name] = toStructural(sub, `${at}.${name}`);
        }
        out.properties = props;
        break;
      }
      case 'items':
        out.items = toStructural(value as Schema, `${at}[]`);
        break;
      case 'additionalProperties':
        if (value === false) break;
        out.additionalProperties = toStructural(value as Schema, `${at}{}`);
        break;
      case 'const':
        out.enum = [value];
        break;
      case 'enum':
        out.enum = [...(value as unknown[])];
        break;
      // Loader-only: its message text, and label-key syntax the API server has no
      // keyword for (the loader checks keys and reports them with file and line).
      case 'errorReason':
      case 'propertyNames':
      case '$schema':
      case '$id':
      case 'title':
        break;
      default:
        if (!COPIED.has(key)) throw new Error(`${at}: keyword "${key}" has no CRD equivalent`);
        out[key] = value;
    }
  }
  if (out.type === undefined) {
    const values = out.enum as unknown[] | undefined;
    if (values === undefined) throw new Error(`${at}: node has neither type nor enum`);
    const types = new Set(values.map((v) => (Number.isInteger(v) ? 'integer' : typeof v)));
    if (types.size !== 1) throw new Error(`${at}: enum mixes types ${[...types].join(', ')}`);
    out.type = [...types][0];
  }
  // Integers above int32 (cgroup ids) need int64 in clients generated from the CRD.
  if (out.type === 'integer' && typeof out.maximum === 'number' && out.maximum > 2 ** 31 - 1) {
    out.format = 'int64';
  }
  return { type: out.type, ...out };
}

const ruleStatus = {
  type: 'object',
  required: ['name', 'state'],
  properties: {
    name: { type: 'string' },
    state: { type: 'string', enum: ['enforced', 'monitor', 'degraded', 'unsupported', 'audit'] },
    text: { type: 'string', description: 'One line, e.g. "enforced (cgroup/connect4, cgroup/connect6)".' },
  },
};

/**
 * The attestation an agent writes: one entry per node, because every node's
 * kernel decides for itself what it can enforce. A map-list keyed by node lets
 * each agent server-side-apply its own entry without touching the others'.
 */
export const statusSchema: Schema = {
  type: 'object',
  description: "What each node's agent does with this policy on its kernel.",
  properties: {
    nodes: {
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['node'],
      items: {
        type: 'object',
        required: ['node', 'state'],
        properties: {
          node: { type: 'string' },
          observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
          state: {
            type: 'string',
            description: "The policy's worst rule state, or rejected when the agent refused it.",
            enum: ['enforced', 'monitor', 'degraded', 'unsupported', 'audit', 'rejected'],
          },
          message: { type: 'string', description: 'Why the policy was rejected (the loader message).' },
          rules: { type: 'array', items: ruleStatus },
          lastUpdateTime: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
};

/** The openAPIV3Schema of both kinds: the loader's spec, Kubernetes' own metadata, and the status. */
export function openApiSchema(): Schema {
  const policy = policySchema as unknown as Schema;
  const props = policy.properties as Record<string, Schema>;
  const meta = (props.metadata.properties as Record<string, Schema>).name;
  return {
    type: 'object',
    description: 'A Peregrine policy: what to watch and what the kernel does about it (docs/policies.md).',
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      // At the root only name restrictions are allowed; the API server validates the rest of
      // ObjectMeta. The loader's limit (a DNS label) is kept so a name it refuses is refused here.
      metadata: { type: 'object', properties: { name: toStructural(meta, '$.metadata.name') } },
      spec: toStructural(props.spec, '$.spec'),
      status: statusSchema,
    },
  };
}

export interface CrdKind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
}

export const KINDS: CrdKind[] = [
  { kind: 'Policy', plural: 'policies', singular: 'policy', shortNames: ['pgpol'], scope: 'Namespaced' },
  {
    kind: 'ClusterPolicy',
    plural: 'clusterpolicies',
    singular: 'clusterpolicy',
    shortNames: ['pgcpol'],
    scope: 'Cluster',
  },
];

export function crdObject(k: CrdKind): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'peregrine', 'app.kubernetes.io/component': 'crd' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
        categories: ['peregrine'],
      },
      scope: k.scope,
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: { openAPIV3Schema: openApiSchema() },
        },
      ],
    },
  };
}

/**
 * Where the CRDs are written: the plain manifests, and the Helm chart's crds/ (Helm installs that
 * directory before the templates). Both get the same text, so the two installs cannot disagree.
 */
export const CRD_DIRS = [join('deploy', 'kubernetes', 'crds'), join('deploy', 'helm', 'peregrine', 'crds')];

/** File name → text of every generated CRD. */
export function renderCrds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of KINDS) {
    const head = [
      '# SPDX-License-Identifier: Apache-2.0',
      '# Code generated by scripts/gen-crds.ts from src/policy/schema.ts. DO NOT EDIT.',
      '# Regenerate with `npm run gen:crds`; `npm run check` fails when this file drifts.',
    ].join('\n');
    out.set(`${k.plural}.${GROUP}.yaml`, `${head}\n${stringify(crdObject(k), { lineWidth: 0 })}`);
  }
  return out;
}

function main(argv: string[]): number {
  let check = false;
  let dirs = CRD_DIRS.map((d) => join(packageRoot(), d));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') check = true;
    else if (a === '--out') dirs = [argv[++i]];
    else {
      process.stdout.write('usage: gen-crds [--check] [--out DIR]\n');
      return a === '-h' || a === '--help' ? 0 : 2;
    }
  }
  let stale = 0;
  const files = [...renderCrds()].flatMap(([name, text]) => dirs.map((d) => [join(d, name), text]));
  for (const [file, text] of files) {
    const rel = relative(packageRoot(), file);
    if (check) {
      const have = existsSync(file) ? readFileSync(file, 'utf8') : '';
      if (have !== text) {
        process.stderr.write(
          `gen-crds: ${rel} differs from src/policy/schema.ts; run \`npm run gen:crds\`\n`,
        );
        stale++;
      }
      continue;
    }
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`gen-crds: wrote ${rel}\n`);
  }
  if (check && stale === 0) process.stdout.write('gen-crds: CRDs are up to date\n');
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-crds: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
