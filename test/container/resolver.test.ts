// SPDX-License-Identifier: Apache-2.0
// Tests of ContainerResolver's caching, deduplication, limits and failure accounting, with
// scripted metadata sources over a temporary directory tree standing in for the cgroup2 mount.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import type { ParsedCgroup } from '../../src/container/cgroup.js';
import { ContainerResolver, type ContainerResolverOptions } from '../../src/container/resolver.js';
import { type Metadata, type MetadataSource, RuntimeApiError } from '../../src/container/source.js';

const hex = (c: string): string => c.repeat(64).slice(0, 64);
const D1 = hex('d1');
const D2 = hex('d2');
const POD = '955d1146-5e73-46ba-834d-0acfd1f1e02b';
const K1 = hex('a1');

/** A source whose answers the test scripts; records calls and the highest concurrency seen. */
class ScriptedSource implements MetadataSource {
  calls: string[] = [];
  inflight = 0;
  maxInflight = 0;
  gate: Promise<void> = Promise.resolve();
  answer: (key: ParsedCgroup) => Promise<Metadata | null> = async (key) => ({
    container: {
      id: key.containerId,
      name: `n-${key.containerId.slice(0, 4)}`,
      image: 'img',
      image_id: 'sha256:x',
      runtime: this.name,
      labels: { a: 'b' },
    },
    initPid: 4242,
  });
  constructor(readonly name: string) {}
  async lookup(key: ParsedCgroup, signal: AbortSignal): Promise<Metadata | null> {
    this.calls.push(key.containerId);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await this.gate;
      if (signal.aborted) throw new RuntimeApiError(this.name, 'timeout', 'aborted');
      return await this.answer(key);
    } finally {
      this.inflight--;
    }
  }
  close(): void {}
}

let root: string;
let proc: string;
let resolver: ContainerResolver | undefined;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pg-res-cg-'));
  proc = mkdtempSync(join(tmpdir(), 'pg-res-proc-'));
});
afterEach(() => {
  resolver?.close();
  resolver = undefined;
  rmSync(root, { recursive: true, force: true });
  rmSync(proc, { recursive: true, force: true });
});

function cg(path: string): number {
  mkdirSync(join(root, path), { recursive: true });
  return statSync(join(root, path)).ino;
}

function fakeProc(pid: number, v2: string): void {
  mkdirSync(join(proc, String(pid)), { recursive: true });
  writeFileSync(join(proc, String(pid), 'cgroup'), `4:memory:${v2}\n0::${v2}\n`);
}

async function make(sources: ContainerResolverOptions['sources'], extra: ContainerResolverOptions = {}) {
  resolver = new ContainerResolver({
    cgroupRoot: root,
    procRoot: proc,
    refreshIntervalMs: 0,
    minIndexRefreshMs: 0,
    containerdSocket: join(root, 'none.sock'),
    ...extra,
    sources,
  });
  await resolver.ready();
  return resolver;
}

test('a miss answers id-only with pending: true, then the metadata; one lookup per container', async () => {
  const id = cg(`docker/${D1}`);
  const docker = new ScriptedSource('docker');
  const r = await make({ docker });
  const first = r.resolve(id, D1, 100);
  assert.equal(first.pending, true);
  assert.deepEqual(first.container, {
    id: D1,
    name: '',
    image: '',
    image_id: '',
    runtime: 'docker',
    labels: {},
  });
  for (let i = 0; i < 50; i++) assert.equal(r.resolve(id, D1, 100).pending, true);
  await r.settled();
  const later = r.resolve(id, D1, 100);
  assert.equal(later.pending, false);
  assert.equal(later.container?.name, `n-${D1.slice(0, 4)}`);
  assert.equal(later.initPid, 4242);
  assert.equal(r.resolve(id, D1, 100), later, 'a hit returns the cached object, no allocation');
  assert.deepEqual(docker.calls, [D1]);
  const s = r.stats();
  assert.equal(s.resolves, 53);
  assert.equal(s.hits, 2);
  assert.equal(s.misses, 51);
  assert.equal(s.pending, 51);
  assert.equal(s.runtimes.docker.lookups, 1);
  assert.equal(s.runtimes.docker.found, 1);
});

test('a CRI path carries the pod uid while pending and the pod from the runtime after', async () => {
  const id = cg(`kubepods/burstable/pod${POD}/${K1}`);
  const cri = new ScriptedSource('cri');
  cri.answer = async (key) => ({
    container: {
      id: key.containerId,
      name: 'nginx',
      image: 'i',
      image_id: 'sha256:i',
      runtime: 'containerd',
      labels: {},
    },
    pod: { namespace: 'shop', name: 'web-1', uid: POD, labels: { app: 'web' } },
  });
  const r = await make({ cri });
  const p = r.resolve(id, K1, 1);
  assert.equal(p.pending, true);
  assert.deepEqual(p.pod, { namespace: '', name: '', uid: POD, labels: {} });
  await r.settled();
  assert.deepEqual(r.resolve(id, K1, 1).pod, {
    namespace: 'shop',
    name: 'web-1',
    uid: POD,
    labels: { app: 'web' },
  });
});

test('host cgroups, pod parents and conmon are not containers and start no lookup', async () => {
  const rootId = statSync(root).ino;
  const podId = cg(`kubepods/burstable/pod${POD}`);
  const conmon = cg('libpod_parent/conmon');
  const docker = new ScriptedSource('docker');
  const r = await make({ docker });
  for (const [id, name] of [
    [rootId, '/'],
    [podId, `pod${POD}`],
    [conmon, 'conmon'],
  ] as const) {
    assert.deepEqual(r.resolve(id, name, 1), { pending: false });
  }
  assert.equal(r.stats().hits, 3);
  assert.deepEqual(docker.calls, []);
});

test('lookups are bounded by concurrency and all complete', async () => {
  const docker = new ScriptedSource('docker');
  let open!: () => void;
  docker.gate = new Promise((res) => {
    open = res;
  });
  const ids = ['01', '02', '03', '04', '05', '06'].map((c) => [cg(`docker/${hex(c)}`), hex(c)] as const);
  const r = await make({ docker }, { concurrency: 2 });
  for (const [id, name] of ids) r.resolve(id, name, 1);
  await new Promise((res) => setImmediate(res));
  assert.equal(r.stats().inflight, 2);
  assert.equal(r.stats().queued, 4);
  open();
  await r.settled();
  assert.equal(docker.maxInflight, 2);
  assert.equal(docker.calls.length, 6);
  for (const [id, name] of ids) assert.equal(r.resolve(id, name, 1).pending, false);
});

test('a full queue answers id-only and counts the drop; a later call retries', async () => {
  const docker = new ScriptedSource('docker');
  let open!: () => void;
  docker.gate = new Promise((res) => {
    open = res;
  });
  const a = cg(`docker/${D1}`);
  const b = cg(`docker/${D2}`);
  const c = cg(`docker/${hex('c3')}`);
  const r = await make({ docker }, { concurrency: 1, maxQueue: 1 });
  r.resolve(a, D1, 1); // running
  r.resolve(b, D2, 1); // queued
  const dropped = r.resolve(c, hex('c3'), 1);
  assert.equal(dropped.pending, true);
  assert.equal(dropped.container?.id, hex('c3'));
  assert.equal(r.stats().dropped, 1);
  open();
  await r.settled();
  r.resolve(c, hex('c3'), 1);
  await r.settled();
  assert.equal(r.resolve(c, hex('c3'), 1).container?.name, 'n-c3c3');
});

test('a slow runtime times out: id-only, counted, retried after retryAfterMs', async () => {
  const id = cg(`docker/${D1}`);
  const docker = new ScriptedSource('docker');
  docker.gate = new Promise(() => {}); // never answers
  const r = await make({ docker }, { timeoutMs: 30, retryAfterMs: 80 });
  r.resolve(id, D1, 1);
  await r.settled();
  const after = r.resolve(id, D1, 1);
  assert.equal(after.pending, false);
  assert.equal(after.container?.id, D1);
  const s = r.stats().runtimes.docker;
  assert.equal(s.timeouts, 1);
  assert.equal(s.degraded, 1);
  assert.equal(s.downPeriods, 0, 'slow is not down');
  docker.gate = Promise.resolve();
  await new Promise((res) => setTimeout(res, 100));
  assert.equal(r.resolve(id, D1, 1).pending, true, 'retried');
  await r.settled();
  assert.equal(r.resolve(id, D1, 1).container?.image, 'img');
  assert.equal(docker.calls.length, 2);
});

test('a missing docker socket (real DockerSource): ids still returned, down period and gap counted', async () => {
  const id = cg(`docker/${D1}`);
  const r = await make(undefined, { dockerSocket: join(root, 'missing-docker.sock'), retryAfterMs: 60_000 });
  assert.equal(r.resolve(id, D1, 1).pending, true);
  await r.settled();
  for (let i = 0; i < 3; i++) {
    const x = r.resolve(id, D1, 1);
    assert.equal(x.pending, false);
    assert.equal(x.container?.id, D1);
    assert.equal(x.container?.runtime, 'docker');
  }
  const s = r.stats().runtimes.docker;
  assert.equal(s.unavailable, 1);
  assert.equal(s.errors, 1);
  assert.equal(s.downPeriods, 1);
  assert.equal(s.down, true);
  assert.equal(s.degraded, 3);
});

test('"not found": id-only for a certain shape, nothing for a guessed /<ns>/<id> shape', async () => {
  const d = cg(`docker/${D1}`);
  const g = cg('process_api/cd01c5056fdde0abbb4e00ab02b9b26b');
  const docker = new ScriptedSource('docker');
  const containerd = new ScriptedSource('containerd');
  docker.answer = async () => null;
  containerd.answer = async () => null;
  const r = await make({ docker, containerd });
  assert.deepEqual(r.resolve(g, 'cd01c5056fdde0abbb4e00ab02b9b26b', 1), { pending: true });
  r.resolve(d, D1, 1);
  await r.settled();
  assert.deepEqual(r.resolve(g, 'cd01c5056fdde0abbb4e00ab02b9b26b', 1), { pending: false });
  assert.equal(r.resolve(d, D1, 1).container?.id, D1);
  assert.equal(r.stats().runtimes.docker.notFound, 1);
  assert.equal(r.stats().runtimes.containerd.notFound, 1);
});

test('a cgroup created after the last walk is placed through /proc/PID/cgroup, then by the next walk', async () => {
  const docker = new ScriptedSource('docker');
  const r = await make({ docker }, { minIndexRefreshMs: 60_000 });
  const id = cg(`docker/${D2}`); // not indexed yet, and walks are rate limited
  fakeProc(777, `/docker/${D2}`);
  const x = r.resolve(id, D2, 777);
  assert.equal(x.container?.id, D2);
  assert.equal(r.stats().unknownCgroups, 0);
  // a gone process and an unindexed id: the leaf name alone still gives systemd-shaped ids
  const y = cg(`system.slice/docker-${D1}.scope`);
  assert.equal(r.resolve(y, `docker-${D1}.scope`, 999).container?.id, D1);
  // ... and a bare hex leaf gives nothing yet
  const z = cg(`kubepods/pod${POD}/${K1}`);
  assert.deepEqual(r.resolve(z, K1, 999), { pending: true });
  assert.equal(r.stats().unknownCgroups, 1);
  await r.refresh();
  assert.equal(r.resolve(z, K1, 999).container?.id, K1);
});

test("removing a container's cgroup directory drops its cache entries on the next walk", async () => {
  const id = cg(`docker/${D1}`);
  const docker = new ScriptedSource('docker');
  const r = await make({ docker });
  r.resolve(id, D1, 1);
  await r.settled();
  assert.equal(r.stats().containers, 1);
  rmSync(join(root, 'docker', D1), { recursive: true });
  await r.refresh();
  const s = r.stats();
  assert.equal(s.invalidations, 1);
  assert.equal(s.containers, 0);
  assert.equal(s.cgroups, 0);
});

test('the caches stay within maxContainers and maxCgroups', async () => {
  const docker = new ScriptedSource('docker');
  const ids = Array.from({ length: 10 }, (_, i) => {
    const h = hex(i.toString(16).padStart(2, '0'));
    return [cg(`docker/${h}`), h] as const;
  });
  const r = await make({ docker }, { maxContainers: 4, maxCgroups: 6 });
  for (const [id, h] of ids) r.resolve(id, h, 1);
  await r.settled();
  const s = r.stats();
  assert.equal(s.containers, 4);
  assert.equal(s.cgroups, 6);
  assert.ok(s.evictions >= 10);
});

test('inInitTree uses the init pid the runtime reported', async () => {
  const id = cg(`docker/${D1}`);
  const docker = new ScriptedSource('docker');
  const r = await make({ docker });
  assert.equal(r.inInitTree({ pid: 5000, cgroupId: id }, []), undefined, 'unknown container');
  r.resolve(id, D1, 1);
  await r.settled();
  assert.equal(r.inInitTree({ pid: 5000, cgroupId: id }, [{ pid: 4242, cgroupId: id }]), true);
  assert.equal(r.inInitTree({ pid: 5001, cgroupId: id }, [{ pid: 4000, cgroupId: 1 }]), false);
});

test('a cgroup cached while a walk runs is not dropped by that walk', async () => {
  const docker = new ScriptedSource('docker');
  const r = await make({ docker }, { minIndexRefreshMs: 60_000 });
  for (let i = 0; i < 200; i++) cg(`filler/f${i}`); // make the walk take a while
  const walk = r.refresh();
  const id = cg(`docker/${D1}`);
  fakeProc(778, `/docker/${D1}`);
  assert.equal(r.resolve(id, D1, 778).container?.id, D1);
  await walk;
  await r.settled();
  assert.equal(r.stats().invalidations, 0);
  assert.equal(r.resolve(id, D1, 778).pending, false);
  assert.deepEqual(docker.calls, [D1]);
});

test('a runtime socket that accepts but never answers (real Docker and containerd clients): timeouts counted, not down', async () => {
  const sock = join(root, 'silent.sock');
  const conns: Socket[] = [];
  const server = createServer((c) => conns.push(c));
  await new Promise<void>((res) => server.listen(sock, res));
  try {
    const d = cg(`docker/${D1}`);
    const c = cg('default/silent-1');
    const r = await make(undefined, { dockerSocket: sock, containerdSocket: sock, timeoutMs: 200 });
    const t0 = performance.now();
    r.resolve(d, D1, 1);
    r.resolve(c, 'silent-1', 1);
    await r.settled();
    const took = performance.now() - t0;
    assert.ok(took >= 190 && took < 2000, `gave up after ${took} ms`);
    assert.equal(r.resolve(d, D1, 1).container?.id, D1);
    assert.equal(r.resolve(c, 'silent-1', 1).container?.id, 'silent-1');
    const s = r.stats().runtimes;
    assert.equal(s.docker.timeouts, 1);
    assert.equal(s.containerd.timeouts, 1);
    assert.equal(s.docker.downPeriods + s.containerd.downPeriods, 0);
  } finally {
    for (const c of conns) c.destroy();
    await new Promise((res) => server.close(res));
  }
});
