// SPDX-License-Identifier: Apache-2.0
// The Kubernetes manifests under deploy/kubernetes: every object valid against the official OpenAPI
// schemas (kubernetes-models; the Prometheus Operator's for the ServiceMonitor), and consistent with
// each other, the systemd unit and the CRDs. No API server runs here; kubectl (tools.ts) renders
// the kustomization offline.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { packageRoot } from '../../src/sensors/paths.js';
import { kubeTools } from './tools.js';

// biome-ignore lint/suspicious/noExplicitAny: objects read from YAML, checked by the validators
type Obj = any;

const root = packageRoot();
const dir = join(root, 'deploy', 'kubernetes');

/** The validating model of each kind the manifests use; a kind not here fails the test. */
const MODELS: Record<string, (o: Obj) => { validate(): void }> = {
  'v1/Namespace': (o) => new Namespace(o),
  'v1/ServiceAccount': (o) => new ServiceAccount(o),
  'v1/Service': (o) => new Service(o),
  'apps/v1/DaemonSet': (o) => new DaemonSet(o),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) => new ClusterRoleBinding(o),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': (o) => new CustomResourceDefinition(o),
  'monitoring.coreos.com/v1/ServiceMonitor': (o) => new ServiceMonitor(o),
};

function yamlFiles(d: string): string[] {
  return readdirSync(d)
    .sort()
    .flatMap((n) => {
      const p = join(d, n);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return n.endsWith('.yaml') && n !== 'kustomization.yaml' ? [p] : [];
    });
}

const files = yamlFiles(dir);
const objects: Array<{ file: string; obj: Obj }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(file, 'utf8')).map((d) => ({ file: relative(dir, file), obj: d.toJS() })),
);

function one(kind: string): Obj {
  const found = objects.filter((o) => o.obj.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0].obj;
}

describe('deploy/kubernetes manifests', () => {
  test('every object validates against its official schema', () => {
    assert.ok(objects.length >= 9, `found ${objects.length} objects`);
    for (const { file, obj } of objects) {
      const model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      assert.ok(model, `${file}: no validator for ${obj.apiVersion} ${obj.kind}`);
      assert.doesNotThrow(() => model(obj).validate(), `${file}: ${obj.kind} ${obj.metadata?.name}`);
    }
  });

  test('the validator refuses a broken DaemonSet (it does check)', () => {
    const ds = structuredClone(one('DaemonSet'));
    ds.spec.template.spec.containers[0].securityContext.capabilities.add = 'BPF';
    ds.spec.template.spec.hostPID = 'yes';
    assert.throws(() => new DaemonSet(ds).validate(), /capabilities\/add must be array/);
  });

  test('every file carries the SPDX header', () => {
    for (const f of [...files, join(dir, 'kustomization.yaml')]) {
      assert.match(readFileSync(f, 'utf8'), /^# SPDX-License-Identifier: Apache-2\.0\n/, f);
    }
  });

  test('the DaemonSet has exactly the capabilities the systemd unit grants', () => {
    const unit = readFileSync(join(root, 'deploy', 'systemd', 'peregrine.service'), 'utf8');
    const bounding = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1].split(/\s+/) ?? [];
    const sc = one('DaemonSet').spec.template.spec.containers[0].securityContext;
    assert.deepEqual(
      sc.capabilities.add.map((c: string) => `CAP_${c}`).sort(),
      bounding.sort(),
      'capabilities differ from the unit',
    );
    assert.deepEqual(sc.capabilities.drop, ['ALL']);
    assert.equal(sc.privileged, false);
  });

  test('the DaemonSet runs on every node with host PIDs, the host mounts and a liveness probe', () => {
    const pod = one('DaemonSet').spec.template.spec;
    assert.equal(pod.hostPID, true);
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    const c = pod.containers[0];
    const mounts = new Map(c.volumeMounts.map((m: Obj) => [m.mountPath, m.name]));
    const hostPaths = new Map(
      pod.volumes.filter((v: Obj) => v.hostPath).map((v: Obj) => [v.name, v.hostPath.path]),
    );
    for (const p of [
      '/sys/fs/bpf',
      '/sys/kernel/btf',
      '/sys/fs/cgroup',
      '/run/containerd',
      '/var/run/crio',
      '/run/peregrine',
    ]) {
      assert.equal(hostPaths.get(mounts.get(p)), p, `${p} is the host's`);
    }
    for (const m of c.volumeMounts)
      assert.ok(
        pod.volumes.some((v: Obj) => v.name === m.name),
        m.name,
      );
    assert.deepEqual(c.livenessProbe.exec.command.slice(-2), ['policy', 'list']);
    assert.ok(c.args.includes('--kubernetes'), 'the agent applies the cluster policies');
    assert.equal(
      c.env.find((e: Obj) => e.name === 'NODE_NAME')?.valueFrom.fieldRef.fieldPath,
      'spec.nodeName',
    );
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
  });

  test('RBAC: the agent account reads both CRDs, writes only their status, reads pods and namespaces', () => {
    const ds = one('DaemonSet');
    const sa = one('ServiceAccount');
    const binding = one('ClusterRoleBinding');
    const role = one('ClusterRole');
    assert.equal(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
    assert.equal(binding.roleRef.name, role.metadata.name);
    const can = (group: string, resource: string, verb: string) =>
      role.rules.some(
        (r: Obj) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    const crds = objects.filter((o) => o.obj.kind === 'CustomResourceDefinition').map((o) => o.obj.spec);
    assert.equal(crds.length, 2);
    for (const crd of crds) {
      for (const v of ['get', 'list', 'watch'])
        assert.ok(can(crd.group, crd.names.plural, v), `${v} ${crd.names.plural}`);
      for (const v of ['update', 'patch'])
        assert.ok(can(crd.group, `${crd.names.plural}/status`, v), `${v} status`);
      assert.ok(!can(crd.group, crd.names.plural, 'update'), 'the agent never edits a policy');
    }
    for (const r of ['pods', 'namespaces'])
      for (const v of ['get', 'list', 'watch']) assert.ok(can('', r, v), `${v} ${r}`);
  });

  test('the metrics Service and ServiceMonitor point at the DaemonSet port named metrics', () => {
    const ds = one('DaemonSet');
    const svc = one('Service');
    const sm = one('ServiceMonitor');
    const podLabels = ds.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(podLabels[k], v, `selector ${k}`);
    const port = ds.spec.template.spec.containers[0].ports.find((p: Obj) => p.name === 'metrics');
    assert.equal(svc.spec.ports[0].targetPort, port.name);
    assert.equal(svc.spec.ports[0].port, port.containerPort);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
      assert.equal(svc.metadata.labels[k], v);
    assert.deepEqual(sm.spec.namespaceSelector.matchNames, [svc.metadata.namespace]);
    assert.equal(sm.spec.endpoints[0].port, svc.spec.ports[0].name);
    assert.equal(sm.spec.endpoints[0].path, '/metrics');
  });

  test('the kustomization lists every manifest but the ServiceMonitor, and kubectl renders it offline', (t) => {
    const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
    const want = files.map((f) => relative(dir, f)).filter((f) => !f.startsWith('monitoring/'));
    assert.deepEqual([...k.resources].sort(), want.sort());
    // kubectl from the npm layer package (tools.ts), else one on PATH.
    const tools = kubeTools();
    const kubectl = typeof tools === 'string' ? 'kubectl' : tools.kubectl;
    const r = spawnSync(kubectl, ['kustomize', dir], { encoding: 'utf8' });
    if (r.error !== undefined) {
      t.skip(`kubectl not available: ${typeof tools === 'string' ? tools : r.error.message}`);
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    const rendered = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj);
    assert.equal(rendered.length, objects.filter((o) => !o.file.startsWith('monitoring/')).length);
  });
});
