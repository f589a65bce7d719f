// SPDX-License-Identifier: Apache-2.0
// Real-runtime suite: containerd (ctr), a CRI pod (kpod.py), docker and podman started by the
// shared recipe; the resolver must attribute a process of each from the runtimes' own APIs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCgroupPath } from '../../src/container/cgroup.js';
import { findCgroup2Mount, readProcCgroups } from '../../src/container/cgroups.js';
import { ContainerResolver, type ResolveResult } from '../../src/container/resolver.js';

/** The repository root: the first directory above this file with ../shared/containers/setup.sh beside it. */
function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (
      existsSync(join(dir, 'package.json')) &&
      existsSync(join(dir, '..', 'shared', 'containers', 'setup.sh'))
    ) {
      return dir;
    }
    dir = dirname(dir);
  }
  return undefined;
}

const ROOT = repoRoot();
const RECIPE = ROOT !== undefined ? resolvePath(ROOT, '..', 'shared', 'containers') : '';
const PY = '/usr/bin/python3'; // Debian's python, which has grpc (README)

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeout = 120_000): string {
  return execFileSync(cmd, args, {
    env,
    timeout,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

function tryRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  try {
    run(cmd, args, env, 60_000);
  } catch {
    // cleanup: best effort
  }
}

/** Run setup.sh; returns the environment from its env.sh, or a reason to skip. */
function setup(): { env: NodeJS.ProcessEnv } | { skip: string } {
  if (process.platform !== 'linux') return { skip: 'not Linux' };
  if (process.getuid?.() !== 0)
    return { skip: 'needs root: setup.sh installs and starts container runtimes' };
  if (ROOT === undefined) return { skip: '../shared/containers/setup.sh not found beside the repository' };
  const attempt = (): string | undefined => {
    try {
      run(join(RECIPE, 'setup.sh'), [], process.env, 600_000);
      return undefined;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      const out = `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n');
      return out.slice(-3).join(' | ') || e.message;
    }
  };
  let failed = attempt();
  // setup.sh copies /bin/busybox into its rootfs but does not install it (seen on a fresh VM)
  if (failed !== undefined && !existsSync('/bin/busybox')) {
    try {
      run(
        'apt-get',
        ['install', '-y', '-q', 'busybox-static'],
        { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        300_000,
      );
      failed = attempt();
    } catch {
      // keep the first failure as the reason
    }
  }
  if (failed !== undefined) return { skip: `setup.sh failed (packages or network missing?): ${failed}` };
  const state = process.env.PEREGRINE_CTR_STATE ?? '/tmp/peregrine-ctr';
  const dump = run('bash', ['-c', '. "$1" && env -0', '_', join(state, 'env.sh')]);
  const env: NodeJS.ProcessEnv = {};
  for (const kv of dump.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { env };
}

interface Target {
  id: string;
  pid: number;
  path: string;
  cgroupId: number;
  leaf: string;
}

const CG2 = findCgroup2Mount() ?? '/sys/fs/cgroup';

/** The v2 cgroup of a pid, as the kernel would report it to BPF: id = inode of the directory. */
function target(id: string, pid: number): Target {
  const pc = readProcCgroups(pid);
  assert.ok(pc?.v2 !== undefined, `no v2 cgroup line for pid ${pid}`);
  const path = pc.v2;
  return { id, pid, path, cgroupId: statSync(CG2 + path).ino, leaf: path.slice(path.lastIndexOf('/') + 1) };
}

/** Host pids in a cgroup, from cgroup.procs of the v2 directory. */
function procsOf(path: string): number[] {
  return readFileSync(join(CG2, path, 'cgroup.procs'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(Number);
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** Ancestry as the agent sees it: nearest parent first, with v2 cgroup ids (root = host). */
function ancestry(pid: number): { pid: number; cgroupId: number }[] {
  const out: { pid: number; cgroupId: number }[] = [];
  let p = pid;
  for (let i = 0; i < 64 && p > 1; i++) {
    const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (p <= 0) break;
    const v2 = readProcCgroups(p)?.v2 ?? '/';
    out.push({ pid: p, cgroupId: statSync(CG2 + v2).ino });
  }
  return out;
}

async function resolveSettled(
  r: ContainerResolver,
  t: Target,
): Promise<{ first: ResolveResult; done: ResolveResult; ms: number }> {
  const t0 = performance.now();
  const first = r.resolve(t.cgroupId, t.leaf, t.pid);
  await r.settled();
  const ms = performance.now() - t0;
  return { first, done: r.resolve(t.cgroupId, t.leaf, t.pid), ms };
}

async function waitFor<T>(what: string, f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const prepared = setup();
const skip = 'skip' in prepared ? prepared.skip : false;
const env: NodeJS.ProcessEnv = 'env' in prepared ? { ...process.env, ...prepared.env } : process.env;

describe('container attribution on real runtimes', { skip }, () => {
  const sfx = Math.random().toString(16).slice(2, 8);
  const IMG = env.IMG_BUSYBOX ?? 'localhost/peregrine-busybox:latest';
  const KPOD = env.KPOD ?? join(RECIPE, 'cri', 'kpod.py');
  const podmanSockets = [env.PODMAN_SOCK ?? '/run/podman/podman.sock', '/run/podman/podman.sock'];
  const started = {
    ctr: [] as string[],
    ctrK8s: [] as string[],
    pods: [] as string[],
    docker: [] as string[],
    podman: [] as string[],
  };
  let resolver: ContainerResolver;
  const measured: string[] = [];

  before(async () => {
    resolver = new ContainerResolver({ podmanSockets, refreshIntervalMs: 0 });
    await resolver.ready();
  });

  after(() => {
    resolver?.close();
    for (const id of started.ctr) {
      tryRun('ctr', ['task', 'kill', '-s', 'KILL', id], env);
    }
    for (const id of started.ctrK8s) tryRun('ctr', ['-n', 'k8s.io', 'task', 'kill', '-s', 'KILL', id], env);
    for (const id of started.pods) tryRun(PY, [KPOD, 'rm', id], env);
    for (const id of started.docker) tryRun('docker', ['rm', '-f', id], env);
    for (const id of started.podman) tryRun('podman', ['rm', '-f', '-t', '0', id], env);
    for (const id of started.ctr) {
      tryRun('ctr', ['task', 'rm', '-f', id], env);
      tryRun('ctr', ['container', 'rm', id], env);
    }
    for (const id of started.ctrK8s) {
      tryRun('ctr', ['-n', 'k8s.io', 'task', 'rm', '-f', id], env);
      tryRun('ctr', ['-n', 'k8s.io', 'container', 'rm', id], env);
    }
    tryRun(join(RECIPE, 'teardown.sh'), [], env);
    if (measured.length > 0)
      process.stdout.write(`# measured:\n${measured.map((m) => `#   ${m}`).join('\n')}\n`);
  });

  // podman first: its netns code bind-mounts /run/netns onto itself, which would shadow (and
  // make unremovable) a CRI pod netns created before it.
  let podman: Target;
  test('podman: /libpod_parent/libpod-<id> → name, image, labels from the libpod API', async () => {
    const id = run(
      'podman',
      ['run', '-d', '--name', `pg-pm-${sfx}`, '--label', 'app=pm', IMG, 'sleep', '600'],
      env,
    );
    started.podman.push(id);
    const pid = Number(run('podman', ['inspect', '-f', '{{.State.Pid}}', id], env));
    podman = target(id, pid);
    assert.equal(podman.path, `/libpod_parent/libpod-${id}`);
    const { first, done, ms } = await resolveSettled(resolver, podman);
    measured.push(`podman  ${podman.path} v2 id ${podman.cgroupId}; lookup ${ms.toFixed(1)} ms`);
    assert.equal(first.pending, true);
    assert.equal(first.container?.id, id);
    assert.equal(done.pending, false);
    assert.equal(done.container?.id, id);
    assert.equal(done.container?.name, `pg-pm-${sfx}`);
    assert.equal(done.container?.image, IMG);
    assert.match(done.container?.image_id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(done.container?.runtime, 'podman');
    assert.equal(done.container?.labels.app, 'pm');
    assert.equal(done.initPid, pid);
    assert.equal(done.pod, undefined);
  });

  let docker: Target;
  let dockerChild: number;
  test('docker: /docker/<id> → name, image, labels from the Engine API', async () => {
    const id = run(
      'docker',
      [
        'run',
        '-d',
        '--name',
        `pg-dk-${sfx}`,
        '--label',
        'app=dk',
        IMG,
        'sh',
        '-c',
        'sleep 601 & exec sleep 600',
      ],
      env,
    );
    started.docker.push(id);
    const pid = Number(run('docker', ['inspect', '-f', '{{.State.Pid}}', id], env));
    docker = target(id, pid);
    assert.equal(docker.path, `/docker/${id}`);
    const { first, done, ms } = await resolveSettled(resolver, docker);
    measured.push(`docker  ${docker.path} v2 id ${docker.cgroupId}; lookup ${ms.toFixed(1)} ms`);
    assert.equal(first.pending, true);
    assert.equal(done.container?.id, id);
    assert.equal(done.container?.name, `pg-dk-${sfx}`);
    assert.equal(done.container?.image, IMG);
    assert.match(done.container?.image_id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(done.container?.runtime, 'docker');
    assert.equal(done.container?.labels.app, 'dk');
    assert.equal(done.initPid, pid);
    dockerChild = await waitFor('sleep 601', () =>
      procsOf(docker.path).find((p) => cmdline(p) === 'sleep 601'),
    );
  });

  test('docker: a child of init is in the init tree, a `docker exec` process is not', async () => {
    const anc = ancestry(dockerChild);
    assert.equal(anc[0].pid, docker.pid, "the child's parent is the container init");
    assert.equal(resolver.inInitTree({ pid: dockerChild, cgroupId: docker.cgroupId }, anc), true);
    assert.equal(
      resolver.inInitTree({ pid: docker.pid, cgroupId: docker.cgroupId }, ancestry(docker.pid)),
      true,
    );
    run('docker', ['exec', '-d', docker.id, 'sleep', '599'], env);
    const ex = await waitFor('exec sleep 599', () =>
      procsOf(docker.path).find((p) => cmdline(p) === 'sleep 599'),
    );
    const exAnc = ancestry(ex);
    assert.match(cmdline(exAnc[0].pid), /containerd-shim/, "an exec'd process hangs off the shim");
    assert.equal(resolver.inInitTree({ pid: ex, cgroupId: docker.cgroupId }, exAnc), false);
  });

  let ctr: Target;
  test('containerd (ctr run): /default/<id> → image, labels, init pid from containers/tasks/images', async () => {
    const id = `pg-ct-${sfx}`;
    run('ctr', ['run', '-d', '--label', 'app=ct', IMG, id, 'sleep', '600'], env);
    started.ctr.push(id);
    const line = run('ctr', ['task', 'ls'], env)
      .split('\n')
      .find((l) => l.startsWith(`${id} `));
    const pid = Number(line?.split(/\s+/)[1]);
    ctr = target(id, pid);
    assert.equal(ctr.path, `/default/${id}`);
    const { first, done, ms } = await resolveSettled(resolver, ctr);
    measured.push(`ctr     ${ctr.path} v2 id ${ctr.cgroupId}; lookup ${ms.toFixed(1)} ms`);
    assert.equal(first.pending, true);
    assert.equal(done.container?.id, id);
    assert.equal(done.container?.name, id);
    assert.equal(done.container?.image, IMG);
    assert.match(done.container?.image_id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(done.container?.runtime, 'containerd');
    assert.equal(done.container?.labels.app, 'ct');
    assert.equal(done.initPid, pid);
  });

  let cri: Target;
  let sandbox: { id: string; uid: string; pod: string };
  test('CRI pod (kpod → containerd): kubepods path → container and pod from CRI', async () => {
    const pod = `web-${sfx}`;
    const out = JSON.parse(
      run(
        PY,
        [
          KPOD,
          'run',
          '-n',
          'pgtest',
          '-p',
          pod,
          '--label',
          'app=web',
          '--label',
          'tier=front',
          '-c',
          `app=${IMG},sleep,600`,
        ],
        env,
      ),
    ) as { pod_sandbox_id: string; pod_uid: string; containers: { id: string; cgroup: string }[] };
    started.pods.push(out.pod_sandbox_id);
    sandbox = { id: out.pod_sandbox_id, uid: out.pod_uid, pod };
    const cid = out.containers[0].id;
    const info = JSON.parse(run(PY, [KPOD, 'inspect', cid], env)) as { pid: number };
    cri = target(cid, info.pid);
    assert.equal(cri.path, `/kubepods/burstable/pod${out.pod_uid}/${cid}`);
    assert.equal(cri.path, out.containers[0].cgroup);
    const { first, done, ms } = await resolveSettled(resolver, cri);
    measured.push(`cri     ${cri.path} v2 id ${cri.cgroupId}; lookup ${ms.toFixed(1)} ms`);
    assert.equal(first.pending, true);
    assert.equal(first.pod?.uid, out.pod_uid, 'the pod uid is known from the path before the API answers');
    assert.equal(done.container?.id, cid);
    assert.equal(done.container?.name, 'app');
    assert.equal(done.container?.image, IMG);
    assert.match(done.container?.image_id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(done.container?.runtime, 'containerd');
    assert.equal(done.container?.labels['io.kubernetes.container.name'], 'app');
    assert.equal(done.initPid, info.pid);
    assert.deepEqual(done.pod, {
      namespace: 'pgtest',
      name: pod,
      uid: out.pod_uid,
      labels: { app: 'web', tier: 'front', 'peregrine.test': '1' },
    });
  });

  test("CRI pod: the pause container's cgroup (sandbox id) → POD with the pod", async () => {
    const path = `/kubepods/burstable/pod${sandbox.uid}/${sandbox.id}`;
    const pid = procsOf(path)[0];
    const pause = target(sandbox.id, pid);
    assert.equal(pause.path, path);
    const { done } = await resolveSettled(resolver, pause);
    assert.equal(done.container?.id, sandbox.id);
    assert.equal(done.container?.name, 'POD');
    assert.match(done.container?.image ?? '', /pause/);
    assert.equal(done.pod?.name, sandbox.pod);
    assert.equal(done.pod?.namespace, 'pgtest');
    assert.equal(done.initPid, pid);
  });

  test('systemd-driver shape (made with ctr --cgroup): cri-containerd-<id>.scope → containerd k8s.io labels', async () => {
    const uid = '1f2e3d4c-5b6a-4789-9abc-def0' + sfx.padEnd(8, '0');
    const cid = sfx.repeat(11).slice(0, 64);
    const cgroup = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${cid}.scope`;
    run(
      'ctr',
      [
        '-n',
        'k8s.io',
        'run',
        '-d',
        '--label',
        'io.kubernetes.pod.name=fake',
        '--label',
        'io.kubernetes.pod.namespace=fakens',
        '--label',
        `io.kubernetes.pod.uid=${uid}`,
        '--cgroup',
        cgroup,
        IMG,
        cid,
        'sleep',
        '600',
      ],
      env,
    );
    started.ctrK8s.push(cid);
    const pid = await waitFor('systemd-shaped task', () => procsOf(cgroup)[0]);
    const t = target(cid, pid);
    assert.equal(t.path, cgroup);
    const parsed = parseCgroupPath(t.path);
    assert.equal(parsed?.runtime, 'cri-containerd');
    assert.equal(parsed?.podUid, uid);
    assert.equal(parsed?.qos, 'burstable');
    const { done } = await resolveSettled(resolver, t);
    measured.push(`systemd-shape ${t.path} v2 id ${t.cgroupId}`);
    assert.equal(done.container?.id, cid);
    assert.equal(done.container?.image, IMG);
    assert.equal(done.container?.runtime, 'containerd');
    assert.deepEqual(done.pod, { name: 'fake', namespace: 'fakens', uid, labels: {} });
    assert.equal(done.initPid, pid);
  });

  test('every container has its own v2 cgroup id (no runtime left a process at the root)', () => {
    const ids = [podman, docker, ctr, cri].map((t) => t.cgroupId);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.notEqual(id, resolver.index.rootId);
  });

  test('runtime sockets missing: ids still returned, failures and down periods counted', async () => {
    const missing = '/run/peregrine-test-no-such.sock';
    const r = new ContainerResolver({
      containerdSocket: missing,
      dockerSocket: missing,
      podmanSockets: [missing],
      refreshIntervalMs: 0,
      timeoutMs: 3000,
    });
    try {
      await r.ready();
      const t0 = performance.now();
      for (const t of [podman, docker, ctr, cri])
        assert.equal(r.resolve(t.cgroupId, t.leaf, t.pid).pending, true);
      await r.settled();
      measured.push(`all sockets missing: 4 lookups failed in ${(performance.now() - t0).toFixed(1)} ms`);
      for (const t of [podman, docker, ctr, cri]) {
        const x = r.resolve(t.cgroupId, t.leaf, t.pid);
        assert.equal(x.pending, false);
        assert.equal(x.container?.id, t.id);
        assert.equal(x.container?.name, '');
      }
      assert.equal(r.resolve(cri.cgroupId, cri.leaf, cri.pid).pod?.uid, sandbox.uid);
      const s = r.stats().runtimes;
      for (const name of ['podman', 'docker', 'containerd', 'cri']) {
        assert.equal(s[name].unavailable, 1, `${name} unavailable`);
        assert.equal(s[name].downPeriods, 1, `${name} down periods`);
        assert.equal(s[name].down, true);
        assert.ok(s[name].degraded >= 1, `${name} gap counted`);
      }
    } finally {
      r.close();
    }
  });

  test('a removed container is dropped from the cache on the next walk of the cgroup tree', async () => {
    const before = resolver.stats();
    run('docker', ['rm', '-f', docker.id], env);
    started.docker = [];
    await waitFor('docker cgroup removal', () => (existsSync(CG2 + docker.path) ? undefined : true));
    await resolver.refresh();
    const s = resolver.stats();
    assert.equal(s.invalidations, before.invalidations + 1);
    assert.equal(s.containers, before.containers - 1);
  });

  test('hits cost no lookup and little time', () => {
    const n = 200_000;
    const before = resolver.stats();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) resolver.resolve(cri.cgroupId, cri.leaf, cri.pid);
    const ns = ((performance.now() - t0) * 1e6) / n;
    measured.push(`resolve() hit: ${ns.toFixed(0)} ns/call`);
    const s = resolver.stats();
    assert.equal(s.hits - before.hits, n);
    assert.equal(s.runtimes.cri.lookups, before.runtimes.cri.lookups);
  });
});
