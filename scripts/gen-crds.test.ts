// SPDX-License-Identifier: Apache-2.0
// The generated CRDs are valid CustomResourceDefinitions (kubernetes-models, the official OpenAPI
// schemas), structural, committed as generated; every shipped policy validates against their schema
// and loads with the loader; bad policies are refused by both. No API server runs here: the CRD's
// schema is checked with ajv, emulating the API server's strict field validation (see strictFields).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { parse, parseAllDocuments } from 'yaml';
import { PolicyError } from '../src/policy/errors.js';
import { loadPolicyPath, loadPolicyText } from '../src/policy/load.js';
import { packageRoot } from '../src/sensors/paths.js';
import { CRD_DIRS, crdObject, GROUP, KINDS, renderCrds } from './gen-crds.js';

type Node = Record<string, unknown>;
const root = packageRoot();
const crdDir = join(root, 'deploy', 'kubernetes', 'crds');

/**
 * kubectl (1.27+) asks the API server for strict field validation: a field the
 * structural schema does not declare is an error, not silently pruned. ajv
 * gets the same by closing every declared object; metadata stays open because
 * the API server validates ObjectMeta itself.
 */
function strictFields(node: Node, atRoot = true, isMetadata = false): Node {
  const out: Node = { ...node };
  if (out.properties !== undefined) {
    const props: Record<string, Node> = {};
    for (const [k, v] of Object.entries(out.properties as Record<string, Node>)) {
      props[k] = strictFields(v, false, atRoot && k === 'metadata');
    }
    out.properties = props;
    if (!isMetadata && out['x-kubernetes-preserve-unknown-fields'] !== true) out.additionalProperties = false;
  }
  if (typeof out.items === 'object') out.items = strictFields(out.items as Node, false);
  if (typeof out.additionalProperties === 'object')
    out.additionalProperties = strictFields(out.additionalProperties as Node, false);
  return out;
}

function crdValidator(kind: string): ValidateFunction {
  const crd = parse(readFileSync(join(crdDir, `${kind}.${GROUP}.yaml`), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: true, formats: { int64: true, 'date-time': true } });
  ajv.addVocabulary(['x-kubernetes-list-type', 'x-kubernetes-list-map-keys']);
  return ajv.compile(strictFields(crd.spec.versions[0].schema.openAPIV3Schema as Node));
}

/** A policy file's documents as Kubernetes objects of `kind` in namespace `ns` (none for cluster scope). */
function asObjects(text: string, kind: string, ns?: string): Node[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Node | null)
    .filter((d): d is Node => d !== null)
    .map((d) => ({
      ...d,
      kind,
      metadata: { ...(d.metadata as Node), ...(ns === undefined ? {} : { namespace: ns }) },
    }));
}

function walk(node: Node, at: string, visit: (n: Node, at: string) => void): void {
  visit(node, at);
  for (const [k, v] of Object.entries((node.properties as Record<string, Node> | undefined) ?? {})) {
    walk(v, `${at}.${k}`, visit);
  }
  if (typeof node.items === 'object') walk(node.items as Node, `${at}[]`, visit);
  if (typeof node.additionalProperties === 'object')
    walk(node.additionalProperties as Node, `${at}{}`, visit);
}

const policyFiles = [
  ...readdirSync(join(root, 'examples', 'policies'))
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(root, 'examples', 'policies', f)),
  join(root, 'policies', 'default.yaml'),
];

describe('generated CRDs', () => {
  test('the committed files are what the generator writes (gen-crds --check)', () => {
    const want = renderCrds();
    assert.deepEqual([...want.keys()].sort(), [
      'clusterpolicies.peregrine.dev.yaml',
      'policies.peregrine.dev.yaml',
    ]);
    for (const [name, text] of want) {
      // The plain manifests and the Helm chart carry the same files.
      for (const d of CRD_DIRS)
        assert.equal(
          readFileSync(join(root, d, name), 'utf8'),
          text,
          `${d}/${name} is stale: run npm run gen:crds`,
        );
      assert.match(text, /^# SPDX-License-Identifier: Apache-2.0\n.*DO NOT EDIT/);
      assert.match(text, /scripts\/gen-crds\.ts/);
    }
  });

  test('each is a valid apiextensions.k8s.io/v1 CustomResourceDefinition', () => {
    for (const k of KINDS) {
      const obj = parse(readFileSync(join(crdDir, `${k.plural}.${GROUP}.yaml`), 'utf8'));
      assert.doesNotThrow(() => new CustomResourceDefinition(obj).validate(), k.kind);
      assert.equal(obj.metadata.name, `${obj.spec.names.plural}.${obj.spec.group}`);
      assert.equal(obj.spec.scope, k.kind === 'Policy' ? 'Namespaced' : 'Cluster');
      assert.deepEqual(obj.spec.versions[0].subresources, { status: {} });
    }
  });

  test('a wrong CRD is refused by the validator (it does check)', () => {
    const bad = crdObject(KINDS[0]) as { spec: { scope: unknown } };
    bad.spec.scope = 3;
    // biome-ignore lint/suspicious/noExplicitAny: deliberately ill-typed input
    assert.throws(() => new CustomResourceDefinition(bad as any).validate(), /scope must be string/);
  });

  test('the schema is structural: every node typed, nothing open, no keywords beyond the subset', () => {
    const allowed = new Set([
      'type',
      'description',
      'properties',
      'required',
      'items',
      'additionalProperties',
      'enum',
      'minItems',
      'minLength',
      'maxLength',
      'pattern',
      'minimum',
      'maximum',
      'minProperties',
      'format',
      'x-kubernetes-list-type',
      'x-kubernetes-list-map-keys',
    ]);
    for (const k of KINDS) {
      const crd = crdObject(k) as { spec: { versions: Array<{ schema: { openAPIV3Schema: Node } }> } };
      walk(crd.spec.versions[0].schema.openAPIV3Schema, '$', (n, at) => {
        assert.equal(typeof n.type, 'string', `${at} has no type`);
        assert.notEqual(
          n.additionalProperties,
          false,
          `${at}: additionalProperties: false is forbidden in v1`,
        );
        assert.ok(!(n.properties && n.additionalProperties), `${at}: properties and additionalProperties`);
        for (const key of Object.keys(n)) assert.ok(allowed.has(key), `${at}: keyword ${key}`);
      });
    }
  });
});

describe('shipped policies against the CRD and the loader', () => {
  for (const file of policyFiles) {
    test(`${file.slice(root.length + 1)}: valid as a Policy and a ClusterPolicy, and loads`, () => {
      const text = readFileSync(file, 'utf8');
      const loaded = loadPolicyPath(file);
      for (const [kind, ns] of [
        ['policies', 'peregrine'],
        ['clusterpolicies', undefined],
      ] as const) {
        const validate = crdValidator(kind);
        const objs = asObjects(text, kind === 'policies' ? 'Policy' : 'ClusterPolicy', ns);
        assert.equal(objs.length, loaded.length);
        for (const o of objs) assert.ok(validate(o), `${kind}: ${JSON.stringify(validate.errors)}`);
      }
    });
  }
});

const GOOD = `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: no-curl
spec:
  mode: enforce
  rules:
    - name: deny-connect
      kinds: [network.connect]
      match:
        binaries:
          in: [curl]
        ports:
          in: [443]
      action: deny
`;

/** What the loader says (file:line: field: reason) and where the CRD schema objects (an instancePath). */
const BAD: Array<{ name: string; from: string; to: string; loader: RegExp; crd: string }> = [
  {
    name: 'unknown field',
    from: '      action: deny',
    to: '      actoin: deny',
    loader: /^bad\.yaml:15: spec\.rules\[0\]\.actoin: unknown field \(did you mean "action"\?\)/,
    crd: '/spec/rules/0',
  },
  {
    name: 'wrong type',
    from: '          in: [443]',
    to: '          in: [https]',
    loader: /^bad\.yaml:14: spec\.rules\[0\]\.match\.ports\.in\[0\]: must be an integer, got "https"/,
    crd: '/spec/rules/0/match/ports/in/0',
  },
  {
    name: 'missing required field',
    from: '      kinds: [network.connect]\n',
    to: '',
    loader: /^bad\.yaml:8: spec\.rules\[0\]\.kinds: required field missing/,
    crd: '/spec/rules/0',
  },
  {
    name: 'value outside the enum',
    from: '  mode: enforce',
    to: '  mode: enforcing',
    loader: /^bad\.yaml:6: spec\.mode: must be one of enforce, monitor; got "enforcing"/,
    crd: '/spec/mode',
  },
  {
    name: 'empty list',
    from: '          in: [curl]',
    to: '          in: []',
    loader: /^bad\.yaml:12: spec\.rules\[0\]\.match\.binaries\.in: must not be empty/,
    crd: '/spec/rules/0/match/binaries/in',
  },
  {
    name: 'name that is not a DNS label',
    from: '  name: no-curl',
    to: '  name: No_Curl',
    loader: /^bad\.yaml:4: metadata\.name: must be a DNS-1123 label/,
    crd: '/metadata/name',
  },
];

describe('bad policies are refused by the loader and the CRD alike', () => {
  test('the good base validates in both', () => {
    assert.equal(loadPolicyText(GOOD, 'good.yaml').length, 1);
    const validate = crdValidator('policies');
    assert.ok(validate(asObjects(GOOD, 'Policy', 'default')[0]), JSON.stringify(validate.errors));
  });
  for (const c of BAD) {
    test(c.name, () => {
      const text = GOOD.replace(c.from, c.to);
      assert.notEqual(text, GOOD);
      assert.throws(
        () => loadPolicyText(text, 'bad.yaml'),
        (e: unknown) => e instanceof PolicyError && c.loader.test(e.message),
      );
      for (const kind of ['policies', 'clusterpolicies']) {
        const validate = crdValidator(kind);
        const obj = asObjects(text, kind === 'policies' ? 'Policy' : 'ClusterPolicy', 'default')[0];
        if (kind === 'clusterpolicies') delete (obj.metadata as Node).namespace;
        assert.equal(validate(obj), false, `${kind} accepted ${c.name}`);
        const paths = (validate.errors ?? []).map((e) => e.instancePath);
        assert.ok(paths.includes(c.crd), `${kind}: errors at ${paths.join(', ')}, want ${c.crd}`);
      }
    });
  }
});
