// SPDX-License-Identifier: Apache-2.0
// The Helm chart deploy/helm/peregrine, rendered by a real helm (from the npm layer package, see
// tools.ts): lint, every rendered object valid against the official schemas, the same agent pod as
// deploy/kubernetes, values (config, rules, policies, modes, ServiceMonitor) turned into the right
// arguments and ConfigMaps, and bad values refused with a message. No API server runs here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { loadPolicyText } from '../../src/policy/load.js';
import { loadRules } from '../../src/rules/loader.js';
import { packageRoot } from '../../src/sensors/paths.js';
import { type KubeTools, kubeTools } from './tools.js';

// biome-ignore lint/suspicious/noExplicitAny: objects read from YAML, checked by the validators
type Obj = any;

const root = packageRoot();
const chart = join(root, 'deploy', 'helm', 'peregrine');
const plainDir = join(root, 'deploy', 'kubernetes');
const exampleValues = join(root, 'examples', 'helm', 'values-monitor.yaml');

const MODELS: Record<string, (o: Obj) => { validate(): void }> = {
  'v1/ServiceAccount': (o) => new ServiceAccount(o),
  'v1/Service': (o) => new Service(o),
  'v1/ConfigMap': (o) => new ConfigMap(o),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) => new ClusterRoleBinding(o),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (o) => new CustomResourceDefinition(o),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => new ServiceMonitor(o),
};

const found = kubeTools();
const tools: KubeTools | undefined = typeof found === 'string' ? undefined : found;
const skip = typeof found === 'string' ? found : false;

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  if (tools === undefined) throw new Error('no helm');
  return spawnSync(tools.helm, args, { encoding: 'utf8', env: { ...process.env, HELM_CACHE_HOME: tmp } });
}

/** `helm template` of the chart as release `name` in namespace `ns`; the objects it renders. */
function render(extra: string[] = [], name = 'peregrine', ns = 'peregrine'): Obj[] {
  const r = helm(['template', name, chart, '--namespace', ns, '--include-crds', ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o !== null);
}

function one(objs: Obj[], kind: string, name?: string): Obj {
  const m = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(m.length, 1, `one ${kind} ${name ?? ''}`);
  return m[0];
}

function plain(kind: string): Obj {
  for (const f of [
    'daemonset.yaml',
    'rbac.yaml',
    'service.yaml',
    join('monitoring', 'servicemonitor.yaml'),
  ]) {
    for (const d of parseAllDocuments(readFileSync(join(plainDir, f), 'utf8'))) {
      const o = d.toJS() as Obj;
      if (o.kind === kind) return o;
    }
  }
  throw new Error(`no ${kind} in deploy/kubernetes`);
}

function validateAll(objs: Obj[]): void {
  for (const o of objs) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    assert.ok(model, `no validator for ${o.apiVersion} ${o.kind}`);
    assert.doesNotThrow(() => model(o).validate(), `${o.kind} ${o.metadata?.name}`);
  }
}

function argsOf(objs: Obj[]): string[] {
  return one(objs, 'DaemonSet').spec.template.spec.containers[0].args;
}

let tmp = '';
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'peregrine-helm-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('Helm chart deploy/helm/peregrine', { skip }, () => {
  test('helm runs (from the npm layer package)', () => {
    const r = helm(['version', '--short']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^v\d+\.\d+\.\d+/);
  });

  test('helm lint --strict passes with the default values and with the example values', () => {
    for (const extra of [[], ['--values', exampleValues]]) {
      const r = helm(['lint', '--strict', chart, ...extra]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  test('the default values render valid objects: the CRDs, RBAC, the DaemonSet and the metrics Service', () => {
    const objs = render();
    validateAll(objs);
    assert.deepEqual(objs.map((o) => o.kind).sort(), [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'CustomResourceDefinition',
      'DaemonSet',
      'Service',
      'ServiceAccount',
    ]);
    assert.deepEqual(argsOf(objs), ['run', '--keep-enforcing', '--kubernetes']);
  });

  test('the CRDs are the generated files of deploy/kubernetes/crds, byte for byte', () => {
    const names = readdirSync(join(chart, 'crds')).sort();
    assert.deepEqual(names, readdirSync(join(plainDir, 'crds')).sort());
    for (const n of names)
      assert.equal(
        readFileSync(join(chart, 'crds', n), 'utf8'),
        readFileSync(join(plainDir, 'crds', n), 'utf8'),
      );
  });

  test('with the default values the agent pod is the one of deploy/kubernetes/daemonset.yaml', () => {
    const objs = render();
    const ds = one(objs, 'DaemonSet');
    const want = plain('DaemonSet');
    assert.equal(ds.metadata.name, want.metadata.name);
    assert.equal(ds.metadata.namespace, want.metadata.namespace);
    // Same image, command, args, env, ports, security context, probe, resources, mounts and
    // volumes, host PIDs, tolerations and priority class; only labels differ (Helm's own).
    assert.deepEqual(ds.spec.template.spec, want.spec.template.spec);
    assert.deepEqual(ds.spec.updateStrategy, want.spec.updateStrategy);
    for (const [k, v] of Object.entries(ds.spec.selector.matchLabels))
      assert.equal(ds.spec.template.metadata.labels[k], v, `pod label ${k}`);
    assert.deepEqual(one(objs, 'ClusterRole').rules, plain('ClusterRole').rules);
    const svc = one(objs, 'Service');
    assert.deepEqual(svc.spec.ports, plain('Service').spec.ports);
    for (const [k, v] of Object.entries(svc.spec.selector))
      assert.equal(ds.spec.template.metadata.labels[k], v, `Service selects the pods: ${k}`);
    const binding = one(objs, 'ClusterRoleBinding');
    const sa = one(objs, 'ServiceAccount');
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'peregrine' },
    ]);
    assert.equal(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
  });

  test('another release name and namespace: every name and namespace follows', () => {
    const objs = render([], 'edge', 'security');
    const ds = one(objs, 'DaemonSet');
    assert.equal(ds.metadata.name, 'edge-peregrine');
    for (const o of objs.filter(
      (x) => x.kind !== 'CustomResourceDefinition' && !x.kind.startsWith('Cluster'),
    ))
      assert.equal(o.metadata.namespace, 'security', `${o.kind} namespace`);
    assert.equal(one(objs, 'ClusterRoleBinding').subjects[0].namespace, 'security');
    assert.equal(ds.spec.template.metadata.labels['app.kubernetes.io/instance'], 'edge');
  });

  test('the example values: config file, extra policies and rules, monitor default, ServiceMonitor', () => {
    const values = parse(readFileSync(exampleValues, 'utf8'));
    const objs = render(['--values', exampleValues]);
    validateAll(objs);
    const ds = one(objs, 'DaemonSet');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(c.image, 'registry.example.com/security/peregrine:0.1.0');
    assert.deepEqual(c.args, [
      'run',
      '--keep-enforcing',
      '--kubernetes',
      '--config',
      '/etc/peregrine/config.yaml',
      '--default-mode',
      'monitor',
      '--policy',
      '/opt/peregrine/policies',
      '--policy',
      '/etc/peregrine/policies',
      '--rules',
      '/opt/peregrine/rules',
      '--rules',
      '/etc/peregrine/rules',
      '--watch',
    ]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    // Each ConfigMap is mounted where its argument points.
    const mounts = new Map(c.volumeMounts.map((m: Obj) => [m.mountPath, m]));
    const cmOf = (path: string) => {
      const m = mounts.get(path) as Obj;
      assert.ok(m, `${path} mounted`);
      const v = pod.volumes.find((x: Obj) => x.name === m.name);
      return { cm: one(objs, 'ConfigMap', v.configMap.name), mount: m };
    };
    const config = cmOf('/etc/peregrine/config.yaml');
    assert.equal(config.mount.subPath, 'config.yaml');
    assert.deepEqual(parse(config.cm.data['config.yaml']), values.config);
    const pols = cmOf('/etc/peregrine/policies').cm;
    assert.deepEqual(Object.keys(pols.data), ['no-shells-in-web.yaml']);
    // The files are what the agent loads: the policy and the rules pass their loaders.
    for (const [name, text] of Object.entries(pols.data)) {
      const [p] = loadPolicyText(text as string, name, { defaultMode: 'monitor' });
      assert.equal(p.spec.mode, 'monitor', 'the default mode applies to a policy that does not set one');
    }
    const rules = cmOf('/etc/peregrine/rules').cm;
    const set = loadRules([
      {
        path: 'peregrine_rules.yaml',
        text: readFileSync(join(root, 'rules', 'peregrine_rules.yaml'), 'utf8'),
      },
      ...Object.entries(rules.data).map(([path, text]) => ({ path, text: text as string })),
    ]);
    assert.ok(set.rules().some((r) => r.name === 'Package manager in a container'));
    // The config checksum rolls the pods when the file changes.
    assert.match(ds.spec.template.metadata.annotations['checksum/config'], /^[0-9a-f]{64}$/);
    const sm = one(objs, 'ServiceMonitor');
    const svc = one(objs, 'Service');
    assert.equal(sm.metadata.labels.release, 'prometheus');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      assert.equal(svc.metadata.labels[k], v, `ServiceMonitor selects the Service: ${k}`);
    assert.deepEqual(sm.spec.namespaceSelector.matchNames, ['peregrine']);
    assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
  });

  test('no default policy, no default rules, no files: only the cluster policies, no rules', () => {
    const objs = render([
      '--set',
      'policies.default=false',
      '--set',
      'rules.default=false',
      '--set',
      'keepEnforcing=false',
    ]);
    validateAll(objs);
    assert.deepEqual(argsOf(objs), [
      'run',
      '--kubernetes',
      '--policy',
      '/etc/peregrine/policies',
      '--no-rules',
    ]);
    // An empty ConfigMap: the directory exists and holds no policy.
    const cm = one(objs, 'ConfigMap');
    assert.equal(cm.data, undefined);
  });

  test('bad values are refused with a message naming the value', () => {
    const cases: Array<[string[], RegExp]> = [
      [
        ['--set', 'policies.defaultMode=audit'],
        /\/policies\/defaultMode': value must be one of '', 'enforce', 'monitor'/,
      ],
      [
        ['--set-json', 'rules.files={"notes.txt":"x"}'],
        /rules\.files: "notes\.txt": file names end in \.yaml/,
      ],
      [['--set-json', 'policies.files={"a b.yaml":"x"}'], /policies\.files: "a b\.yaml"/],
      [
        ['--set', 'metrics.service.enabled=false', '--set', 'metrics.serviceMonitor.enabled=true'],
        /metrics\.serviceMonitor\.enabled needs metrics\.service\.enabled/,
      ],
    ];
    for (const [extra, message] of cases) {
      const r = helm(['template', 'peregrine', chart, ...extra]);
      assert.notEqual(r.status, 0, extra.join(' '));
      assert.match(r.stderr, message);
    }
  });

  test('a values file with an unknown key or a wrong type is refused by the values schema', () => {
    const bad = join(tmp, 'bad.yaml');
    for (const [text, message] of [
      ['keepEnforcng: true\n', /keepEnforcng/],
      ['policies:\n  default: "yes"\n', /policies\.default|policies\/default/],
    ] as const) {
      writeFileSync(bad, text);
      const r = helm(['template', 'peregrine', chart, '--values', bad]);
      assert.notEqual(r.status, 0, text);
      assert.match(r.stderr, message);
    }
  });
});
