// SPDX-License-Identifier: Apache-2.0
// Unit tests of the container glue: selector semantics and keys, policy scoping, the events filter, the listing, the cgroup watcher.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { formatContainers } from '../../src/cli/containers.js';
import type { ParsedCgroup } from '../../src/container/cgroup.js';
import {
  ContainerEnricher,
  containerFilter,
  imageRepository,
  matchSelector,
  NO_CGROUP,
  scopePolicies,
  selectorLabels,
} from '../../src/container/enrich.js';
import type { Metadata, MetadataSource } from '../../src/container/source.js';
import { CgroupWatcher } from '../../src/container/watch.js';
import type { EventContext } from '../../src/events/encode.js';
import type { ContainerInfo, PeregrineEvent, PodInfo } from '../../src/events/types.js';
import { compileFilter, type RuleSlot } from '../../src/policy/compile.js';
import type { Policy } from '../../src/policy/types.js';
import type { ProcessCache, ProcessEntry } from '../../src/process/cache.js';

const c: ContainerInfo = {
  id: 'a'.repeat(64),
  name: 'app',
  image: 'docker.io/library/nginx:1.25',
  image_id: 'sha256:00',
  runtime: 'containerd',
  labels: { 'io.kubernetes.container.name': 'app', team: 'x' },
};
const pod: PodInfo = { namespace: 'shop', name: 'web-1', uid: 'u-1', labels: { app: 'web' } };

test('imageRepository drops tag and digest, keeps registry ports', () => {
  assert.equal(imageRepository('docker.io/library/nginx:1.25'), 'docker.io/library/nginx');
  assert.equal(imageRepository('localhost:5000/x/y'), 'localhost:5000/x/y');
  assert.equal(imageRepository('localhost:5000/x/y:t@sha256:ab'), 'localhost:5000/x/y');
  assert.equal(imageRepository('busybox'), 'busybox');
});

test('selector labels: own, pod, and the reserved keys', () => {
  const l = selectorLabels(c, pod);
  assert.equal(l.team, 'x');
  assert.equal(l.app, 'web');
  assert.equal(l['peregrine.dev/container-name'], 'app');
  assert.equal(l['peregrine.dev/image'], 'docker.io/library/nginx:1.25');
  assert.equal(l['peregrine.dev/image-repository'], 'docker.io/library/nginx');
  assert.equal(l['peregrine.dev/runtime'], 'containerd');
  assert.equal(l['io.kubernetes.pod.namespace'], 'shop');
  assert.equal(l['io.kubernetes.pod.name'], 'web-1');
  assert.equal(
    selectorLabels({ ...c, name: '', image: '' }, undefined)['peregrine.dev/container-name'],
    undefined,
  );
});

test('matchSelector: Kubernetes semantics', () => {
  const l = selectorLabels(c, pod);
  assert.equal(matchSelector({}, l), true);
  assert.equal(
    matchSelector({ matchLabels: { app: 'web', 'io.kubernetes.pod.namespace': 'shop' } }, l),
    true,
  );
  assert.equal(matchSelector({ matchLabels: { app: 'db' } }, l), false);
  const ex = (operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist', key: string, values?: string[]) =>
    matchSelector({ matchExpressions: [{ key, operator, values }] }, l);
  assert.equal(ex('In', 'peregrine.dev/image-repository', ['docker.io/library/nginx']), true);
  assert.equal(ex('In', 'app', ['db']), false);
  assert.equal(ex('NotIn', 'app', ['db']), true);
  assert.equal(ex('NotIn', 'absent', ['x']), true, 'NotIn matches an absent key');
  assert.equal(ex('Exists', 'team'), true);
  assert.equal(ex('Exists', 'absent'), false);
  assert.equal(ex('DoesNotExist', 'absent'), true);
  assert.equal(ex('DoesNotExist', 'team'), false);
});

const selPolicy = (cgroupIds?: { in?: number[]; notIn?: number[] }): Policy => ({
  apiVersion: 'peregrine.dev/v1alpha1',
  kind: 'Policy',
  metadata: { name: 'scoped' },
  spec: {
    mode: 'monitor',
    selector: { matchLabels: { app: 'web' } },
    rules: [
      {
        name: 'r',
        kinds: ['file.open'],
        match: { paths: { prefix: ['/etc/'] }, ...(cgroupIds !== undefined ? { cgroupIds } : {}) },
        action: 'audit',
      },
    ],
  },
  source: { file: 't' },
});

test('scopePolicies: selector policies get the cgroup ids; nothing selected = the id no cgroup has', () => {
  const plain: Policy = {
    ...selPolicy(),
    metadata: { name: 'plain' },
    spec: { ...selPolicy().spec, selector: undefined },
  };
  const [s, p] = scopePolicies([selPolicy(), plain], () => [7, 9]);
  assert.deepEqual(s.spec.rules[0].match.cgroupIds, { in: [7, 9] });
  assert.equal(p, plain, 'policies without a selector are untouched');
  const [none] = scopePolicies([selPolicy()], () => []);
  assert.deepEqual(none.spec.rules[0].match.cgroupIds, { in: [NO_CGROUP] });
  const [both] = scopePolicies([selPolicy({ in: [9, 11], notIn: [3] })], () => [7, 9]);
  assert.deepEqual(
    both.spec.rules[0].match.cgroupIds,
    { in: [9], notIn: [3] },
    "intersected with the rule's own in",
  );
  // compiled: the cgroup dimension is constrained, with exactly the selected ids allowed
  const img = compileFilter(scopePolicies([selPolicy()], () => []));
  const cg = img.values.filter((v) => v.dim === 7);
  assert.deepEqual(
    cg.map((v) => v.value),
    [0n],
  );
});

test('containerFilter: name, id, id prefix; pod NS/NAME or NAME', () => {
  const ev = (container?: ContainerInfo, p?: PodInfo) => ({ container, pod: p }) as unknown as PeregrineEvent;
  assert.equal(containerFilter(null, null), undefined);
  const byName = containerFilter('app', null);
  assert.equal(byName?.(ev(c)), true);
  assert.equal(byName?.(ev(undefined)), false);
  assert.equal(containerFilter('aaaaaa', null)?.(ev(c)), true);
  assert.equal(containerFilter('aaa', null)?.(ev(c)), false, 'prefixes shorter than 6 do not match');
  assert.equal(containerFilter(null, 'shop/web-1')?.(ev(c, pod)), true);
  assert.equal(containerFilter(null, 'other/web-1')?.(ev(c, pod)), false);
  assert.equal(containerFilter(null, 'web-1')?.(ev(c, pod)), true);
  assert.equal(containerFilter('app', 'shop/web-1')?.(ev(c, undefined)), false);
});

test('formatContainers: one aligned line per container', () => {
  const text = formatContainers([
    { cgroup_id: 5, cgroup: '/x', container: c, pod, pending: false, events: 12, policies: ['scoped'] },
    {
      cgroup_id: 6,
      cgroup: '/y',
      container: { ...c, id: 'b'.repeat(64), name: '', image: '' },
      pending: true,
      events: 0,
      policies: [],
    },
  ]);
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^CONTAINER\s+NAME\s+IMAGE\s+RUNTIME\s+POD\s+EVENTS\s+POLICIES$/);
  assert.match(
    lines[1],
    /^a{12}\s+app\s+docker\.io\/library\/nginx:1\.25\s+containerd\s+shop\/web-1\s+12\s+scoped$/,
  );
  assert.match(lines[2], /^b{12}\s+-\s+\(looking up\)\s+containerd\s+-\s+0\s+-$/);
});

test('CgroupWatcher: reports directories at start, new ones (also nested, made at once) and removals', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-cgw-'));
  mkdirSync(join(root, 'old'));
  const created: string[] = [];
  const removed: string[] = [];
  const w = new CgroupWatcher(root, {
    created: (p, id) => {
      created.push(p);
      assert.equal(id, statSync(root + p).ino);
    },
    removed: (p) => removed.push(p),
  });
  try {
    w.start();
    assert.deepEqual(created, ['/old']);
    mkdirSync(join(root, 'kubepods', 'pod1', 'c1'), { recursive: true });
    const until = Date.now() + 3000;
    while (!created.includes('/kubepods/pod1/c1') && Date.now() < until)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(created, ['/old', '/kubepods', '/kubepods/pod1', '/kubepods/pod1/c1']);
    rmdirSync(join(root, 'kubepods', 'pod1', 'c1'));
    while (!removed.includes('/kubepods/pod1/c1') && Date.now() < until + 3000)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(removed, ['/kubepods/pod1/c1']);
    assert.equal(w.stats().watches, 4);
  } finally {
    w.close();
    rmSync(root, { recursive: true, force: true });
  }
});

/** A docker source that answers only when the test opens its gate. */
class GatedSource implements MetadataSource {
  readonly name = 'docker';
  open: (labels: Record<string, string> | null) => void = () => undefined;
  private readonly answer = new Promise<Record<string, string> | null>((resolve) => {
    this.open = resolve;
  });
  async lookup(key: ParsedCgroup): Promise<Metadata | null> {
    const labels = await this.answer;
    if (labels === null) return null;
    const container = {
      id: key.containerId,
      name: 'late',
      image: 'img:1',
      image_id: '',
      runtime: 'docker',
      labels,
    };
    return { container, initPid: 10 };
  }
  close(): void {}
}

async function until(what: string, f: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function heldScenario(labels: Record<string, string> | 'never', holdMs = 3000) {
  const root = mkdtempSync(join(tmpdir(), 'pg-enr-'));
  mkdirSync(join(root, 'docker'));
  const source = new GatedSource();
  const released: PeregrineEvent[] = [];
  let reapplies = 0;
  const cache = { parentOf: () => undefined } as unknown as ProcessCache;
  const enr = new ContainerEnricher(
    { cache, reapply: () => reapplies++, release: (ev) => released.push(ev) },
    {
      resolver: { cgroupRoot: root, sources: { docker: source }, refreshIntervalMs: 0 },
      holdMs,
      startWaitMs: 0,
    },
  );
  await enr.start();
  const policy = selPolicy();
  enr.scope([policy]);
  const id = 'c'.repeat(64);
  mkdirSync(join(root, 'docker', id));
  const cgid = statSync(join(root, 'docker', id)).ino;
  // The watcher's mkdir notice re-applies with the new (pending) container in the kernel set.
  await until('reapply on mkdir', () => reapplies === 1);
  const scoped = enr.scope([policy]);
  assert.deepEqual(scoped[0].spec.rules[0].match.cgroupIds, { in: [cgid] }, 'pending containers are covered');
  const img = compileFilter(scoped);
  enr.wrap(img);
  const info = { pid: 10, cgroup: { id: cgid, name: id } };
  const entry = { pid: 10, info } as unknown as ProcessEntry;
  const ev = { kind: 'file.open', process: info, policy: { name: 'scoped' } } as unknown as PeregrineEvent;
  const ctx = { process: entry } as EventContext;
  const slots: RuleSlot[] = img.slots;
  assert.equal(enr.enrich(ev, ctx, slots), true, 'held while the lookup runs');
  assert.equal(ev.container?.id, id, 'the id is there already');
  return { enr, source, released, ev, img, root, reapplies: () => reapplies, labels, cgid };
}

test('held events: released with metadata once the lookup answers; selector decides in user space', async () => {
  const s = await heldScenario({ app: 'web' });
  try {
    s.source.open({ app: 'web' });
    await until('release', () => s.released.length === 1);
    assert.equal(s.released[0], s.ev);
    assert.equal(s.ev.container?.name, 'late');
    assert.equal(s.img.slots[0].userCheck?.(s.ev), true);
    const st = s.enr.stats();
    assert.equal(st.held, 1);
    assert.equal(st.held_timeouts, 0);
    assert.equal(s.enr.list()[0].policies.join(), 'scoped');
  } finally {
    s.enr.close();
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('held events: a container whose labels do not match leaves the kernel set and fails the user check', async () => {
  const s = await heldScenario({ app: 'db' });
  try {
    s.source.open({ app: 'db' });
    await until('release', () => s.released.length === 1);
    assert.equal(s.img.slots[0].userCheck?.(s.ev), false);
    await until('reapply without it', () => s.reapplies() === 2);
    const scoped = s.enr.scope([selPolicy()]);
    assert.deepEqual(scoped[0].spec.rules[0].match.cgroupIds, { in: [NO_CGROUP] });
  } finally {
    s.enr.close();
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('held events: bounded wait when the runtime never answers (counted)', async () => {
  const s = await heldScenario('never', 150);
  try {
    const t0 = performance.now();
    await until('release by timeout', () => s.released.length === 1);
    assert.ok(performance.now() - t0 >= 100);
    assert.equal(s.ev.container?.name, '', 'decided on the id only');
    assert.equal(s.img.slots[0].userCheck?.(s.ev), false);
    assert.equal(s.enr.stats().held_timeouts, 1);
  } finally {
    s.enr.close();
    rmSync(s.root, { recursive: true, force: true });
  }
});

test('a namespaced Kubernetes Policy covers a container only once its pod is known to be in its namespace', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pg-enr-'));
  mkdirSync(join(root, 'docker'));
  const source = new GatedSource();
  let reapplies = 0;
  const cache = { parentOf: () => undefined } as unknown as ProcessCache;
  const enr = new ContainerEnricher(
    { cache, reapply: () => reapplies++, release: () => undefined },
    {
      resolver: { cgroupRoot: root, sources: { docker: source }, refreshIntervalMs: 0 },
      startWaitMs: 0,
    },
  );
  try {
    await enr.start();
    // What src/k8s/policies.ts makes of Policy "scoped" in namespace team-a.
    const nsPolicy = (ns: string): Policy => {
      const p = selPolicy();
      return {
        ...p,
        metadata: { name: `${ns}/scoped`, namespace: ns },
        spec: {
          ...p.spec,
          selector: {
            matchLabels: { app: 'web' },
            matchExpressions: [{ key: 'io.kubernetes.pod.namespace', operator: 'In', values: [ns] }],
          },
        },
      };
    };
    const policies = [nsPolicy('team-a'), nsPolicy('team-b'), selPolicy()];
    enr.scope(policies);
    const id = 'd'.repeat(64);
    mkdirSync(join(root, 'docker', id));
    const cgid = statSync(join(root, 'docker', id)).ino;
    await until('reapply on mkdir', () => reapplies === 1);
    let scoped = enr.scope(policies);
    const ids = (i: number) => scoped[i].spec.rules[0].match.cgroupIds?.in;
    // Pending: the node-wide selector policy covers it (decided in user space); the namespaced
    // ones do not, since the container may belong to any namespace.
    assert.deepEqual(ids(0), [NO_CGROUP]);
    assert.deepEqual(ids(1), [NO_CGROUP]);
    assert.deepEqual(ids(2), [cgid]);
    source.open({ app: 'web', 'io.kubernetes.pod.namespace': 'team-a' });
    await until('reapply with the metadata', () => reapplies === 2);
    scoped = enr.scope(policies);
    assert.deepEqual(ids(0), [cgid], "team-a's policy covers team-a's pod");
    assert.deepEqual(ids(1), [NO_CGROUP], "team-b's policy never does");
    assert.deepEqual(ids(2), [cgid]);
  } finally {
    enr.close();
    rmSync(root, { recursive: true, force: true });
  }
});
