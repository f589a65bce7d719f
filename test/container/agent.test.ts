// SPDX-License-Identifier: Apache-2.0
// Real-runtime suite through the real agent: container/pod on live events, exec'd shells, Falco container fields, selector scoping in the kernel.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../../src/api/control.js';
import { formatCounters } from '../../src/cli/status.js';
import type { ContainerListing } from '../../src/container/enrich.js';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';
import { type PolicyObject, toPolicy } from '../../src/k8s/policies.js';
import type { Policy } from '../../src/policy/types.js';
import { loadRules } from '../../src/rules/index.js';
import { type RecordingAgent, run as runProc, startAgent } from '../process/agent.js';
import { PY, RECIPE, run, setupRecipe, teardownRecipe, tryRun } from './recipe.js';

const prepared = setupRecipe();
const skip = 'skip' in prepared ? prepared.skip : false;
const env: NodeJS.ProcessEnv = 'env' in prepared ? { ...process.env, ...prepared.env } : process.env;
const IMG = env.IMG_BUSYBOX ?? 'localhost/peregrine-busybox:latest';
const KPOD = env.KPOD ?? join(RECIPE, 'cri', 'kpod.py');

/** The CLI entry point (bin/peregrine.js), from dist/test/container/. */
const CLI = fileURLToPath(new URL('../../../bin/peregrine.js', import.meta.url));

const sfx = Math.random().toString(16).slice(2, 8);

const RULES = `
- rule: pg test pod exec
  desc: an exec in the test pod, with every container field in the output
  condition: >
    evt.type in (execve, execveat) and k8s.ns.name = pgag and k8s.pod.label[app] = web-${sfx}
    and container.image.repository = localhost/peregrine-busybox and proc.args contains rulemark
  output: >
    cid=%container.id name=%container.name repo=%container.image.repository
    tag=%container.image.tag ns=%k8s.ns.name pod=%k8s.pod.name app=%k8s.pod.label[app]
  priority: WARNING
`;

function policy(name: string, selector: Record<string, unknown>, prefix: string): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: {
      mode: 'monitor',
      selector,
      rules: [
        { name: 'opens', kinds: ['file.open'], match: { paths: { prefix: [prefix] } }, action: 'audit' },
      ],
    },
    source: { file: 'test' },
  };
}

/** Runs a command without blocking the event loop: the in-process agent must keep reading the kernel meanwhile. */
function runAsync(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: 60_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout.trim()),
    );
  });
}

const argsAre = (ev: PeregrineEvent, ...args: string[]) =>
  ev.process.args.length === args.length && args.every((a, i) => ev.process.args[i] === a);

describe('containers through the real agent', { skip }, () => {
  const started = { ctr: [] as string[], pods: [] as string[], podman: [] as string[] };
  const alerts: Alert[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'pg-ctr-agent-'));
  const socket = join(dir, 'agent.sock');
  let a: RecordingAgent;
  const measured: string[] = [];

  before(async () => {
    a = await startAgent({
      socket,
      rules: loadRules([{ path: 'container-test.yaml', text: RULES }]),
      onAlert: (al) => alerts.push(al),
    });
  });

  after(async () => {
    await a?.stop();
    for (const id of started.ctr) tryRun('ctr', ['task', 'kill', '-s', 'KILL', id], env);
    for (const id of started.pods) tryRun(PY, [KPOD, 'rm', id], env);
    for (const id of started.podman) tryRun('podman', ['rm', '-f', '-t', '0', id], env);
    for (const id of started.ctr) {
      tryRun('ctr', ['task', 'rm', '-f', id], env);
      tryRun('ctr', ['container', 'rm', id], env);
    }
    teardownRecipe(env);
    rmSync(dir, { recursive: true, force: true });
    if (measured.length > 0)
      process.stdout.write(`# measured:\n${measured.map((m) => `#   ${m}`).join('\n')}\n`);
  });

  // podman first (see runtimes.test.ts: its /run/netns bind would shadow a CRI pod's netns).
  let podmanId = '';
  test('podman: live events carry the container; init children are in the init tree, `podman exec` is not', async () => {
    const name = `pg-ag-pm-${sfx}`;
    podmanId = run(
      'podman',
      ['run', '-d', '--name', name, '--label', 'app=pm', IMG, 'sh', '-c', 'sleep 1; exec sleep 600'],
      env,
    );
    started.podman.push(podmanId);
    const ev = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.container?.id === podmanId && argsAre(e, 'sleep', '600'),
      15_000,
      'podman init exec',
    );
    assert.equal(ev.container?.name, name);
    assert.equal(ev.container?.image, IMG);
    assert.match(ev.container?.image_id ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(ev.container?.runtime, 'podman');
    assert.equal(ev.container?.labels.app, 'pm');
    assert.equal(ev.pod, undefined);
    assert.equal(ev.process.in_container_init_tree, true);
    const child = await a.waitFor(
      (e) => e.kind === 'process.exit' && e.container?.id === podmanId && argsAre(e, 'sleep', '1'),
      5000,
      'sleep 1 exit',
    );
    assert.equal(child.process.in_container_init_tree, true, 'a child of the init');
    run('podman', ['exec', '-d', podmanId, 'sleep', '597'], env);
    const ex = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.container?.id === podmanId && argsAre(e, 'sleep', '597'),
      10_000,
      'podman exec',
    );
    assert.equal(ex.container?.name, name);
    assert.equal(ex.process.in_container_init_tree, false);
  });

  let ctrId = '';
  test('containerd (ctr): live events carry the container; `ctr task exec` is attributed, not in the init tree', async () => {
    ctrId = `pg-ag-ct-${sfx}`;
    run('ctr', ['run', '-d', '--label', 'app=ct', IMG, ctrId, 'sh', '-c', 'sleep 1; exec sleep 600'], env);
    started.ctr.push(ctrId);
    const ev = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.container?.id === ctrId && argsAre(e, 'sleep', '600'),
      15_000,
      'ctr init exec',
    );
    assert.equal(ev.container?.name, ctrId);
    assert.equal(ev.container?.image, IMG);
    assert.equal(ev.container?.runtime, 'containerd');
    assert.equal(ev.container?.labels.app, 'ct');
    assert.equal(ev.process.in_container_init_tree, true);
    run('ctr', ['task', 'exec', '--exec-id', `x${sfx}`, ctrId, 'sh', '-c', 'echo; sleep 0'], env);
    const ex = await a.waitFor(
      (e) =>
        e.kind === 'process.exec' && e.container?.id === ctrId && argsAre(e, 'sh', '-c', 'echo; sleep 0'),
      10_000,
      'ctr task exec',
    );
    assert.equal(ex.process.in_container_init_tree, false);
    const host = a.events.find((e) => e.kind === 'process.exec' && e.process.cgroup.id === 1);
    assert.ok(host !== undefined, 'host execs seen');
    assert.equal(host.container, undefined);
    assert.equal(host.pod, undefined);
    assert.equal(host.process.in_container_init_tree, undefined);
  });

  let pod = { sandbox: '', uid: '', cid: '' };
  test('CRI pod: live events carry container and pod; an exec through the shim is not in the init tree; Falco fields', async () => {
    const out = JSON.parse(
      run(
        PY,
        [
          KPOD,
          'run',
          '-n',
          'pgag',
          '-p',
          `web-${sfx}`,
          '--label',
          `app=web-${sfx}`,
          '-c',
          `app=${IMG},sh,-c,sleep 1; exec sleep 600`,
        ],
        env,
      ),
    ) as { pod_sandbox_id: string; pod_uid: string; containers: { id: string }[] };
    started.pods.push(out.pod_sandbox_id);
    pod = { sandbox: out.pod_sandbox_id, uid: out.pod_uid, cid: out.containers[0].id };
    const ev = await a.waitFor(
      (e) => e.kind === 'process.exec' && e.container?.id === pod.cid && argsAre(e, 'sleep', '600'),
      15_000,
      'CRI init exec',
    );
    assert.equal(ev.container?.name, 'app');
    assert.equal(ev.container?.image, IMG);
    assert.equal(ev.container?.runtime, 'containerd');
    assert.deepEqual(ev.pod, {
      namespace: 'pgag',
      name: `web-${sfx}`,
      uid: pod.uid,
      labels: { app: `web-${sfx}`, 'peregrine.test': '1' },
    });
    assert.equal(ev.process.in_container_init_tree, true);
    // crictl exec = CRI Exec → the shim's runc exec; kpod has no exec, ctr drives the same shim.
    run(
      'ctr',
      ['-n', 'k8s.io', 'task', 'exec', '--exec-id', `r${sfx}`, pod.cid, 'sh', '-c', 'echo rulemark'],
      env,
    );
    const ex = await a.waitFor(
      (e) =>
        e.kind === 'process.exec' && e.container?.id === pod.cid && argsAre(e, 'sh', '-c', 'echo rulemark'),
      10_000,
      'exec in the pod',
    );
    assert.equal(ex.pod?.name, `web-${sfx}`);
    assert.equal(ex.process.in_container_init_tree, false);
    const deadline = Date.now() + 5000;
    while (!alerts.some((al) => al.rule === 'pg test pod exec') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const al = alerts.find((x) => x.rule === 'pg test pod exec');
    assert.ok(al !== undefined, 'the rule on container/k8s fields fired');
    const o = al.output;
    assert.match(o, new RegExp(`cid=${pod.cid.slice(0, 12)} `));
    assert.match(o, / name=app /);
    assert.match(o, / repo=localhost\/peregrine-busybox /);
    assert.match(o, / tag=latest /);
    assert.match(o, / ns=pgag /);
    assert.match(o, new RegExp(` pod=web-${sfx} `));
    assert.match(o, new RegExp(` app=web-${sfx}`));
  });

  test('a policy scoped to a pod label fires for that pod, not for a sibling container or the host', async () => {
    a.agent.applyPolicy(policy('pg-scoped', { matchLabels: { app: `web-${sfx}` } }, '/tmp/pgscope'));
    const list = (await controlRequest(socket, 'GET', '/v1/containers')) as ContainerListing[];
    const row = list.find((r) => r.container.id === pod.cid);
    assert.deepEqual(row?.policies, ['pg-scoped'], 'the pod container is in the kernel set');
    assert.deepEqual(list.find((r) => r.container.id === ctrId)?.policies, []);
    const t0 = a.events.length;
    run('ctr', ['task', 'exec', '--exec-id', `s${sfx}`, ctrId, 'sh', '-c', 'echo > /tmp/pgscope-sib'], env);
    writeFileSync('/tmp/pgscope-host', 'x');
    run(
      'ctr',
      [
        '-n',
        'k8s.io',
        'task',
        'exec',
        '--exec-id',
        `s${sfx}`,
        pod.cid,
        'sh',
        '-c',
        'echo > /tmp/pgscope-pod',
      ],
      env,
    );
    const hit = await a.waitFor(
      (e) => e.kind === 'file.open' && e.file?.path === '/tmp/pgscope-pod',
      10_000,
      'the pod open',
    );
    assert.deepEqual(hit.policy?.names ?? [hit.policy?.name], ['pg-scoped']);
    assert.equal(hit.pod?.name, `web-${sfx}`);
    await new Promise((r) => setTimeout(r, 300));
    const others = a.events
      .slice(t0)
      .filter((e) => e.file?.path === '/tmp/pgscope-sib' || e.file?.path === '/tmp/pgscope-host');
    assert.deepEqual(others, [], 'no event for the sibling container or the host');
    rmSync('/tmp/pgscope-host', { force: true });
  });

  test('a selector that matches nothing selects nothing', async () => {
    a.agent.applyPolicy(policy('pg-none', { matchLabels: { app: `nothing-${sfx}` } }, '/tmp/pgnone'));
    writeFileSync('/tmp/pgnone-host', 'x');
    run('ctr', ['task', 'exec', '--exec-id', `n${sfx}`, ctrId, 'sh', '-c', 'echo > /tmp/pgnone-c'], env);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(
      a.events.filter((e) => e.file?.path?.startsWith('/tmp/pgnone') === true).length,
      0,
      'no open selected',
    );
    assert.equal(a.agent.stats().events.user_filtered >= 0, true);
    rmSync('/tmp/pgnone-host', { force: true });
    a.agent.deletePolicy('pg-none');
  });

  test("a namespaced Kubernetes Policy acts on its namespace's pod only, not another namespace's", async () => {
    // What `run --kubernetes` makes of the same Policy in the pod's namespace and in another one.
    const obj = (ns: string): PolicyObject => ({
      apiVersion: 'peregrine.dev/v1alpha1',
      kind: 'Policy',
      metadata: { name: `nsp-${sfx}`, namespace: ns, generation: 1 },
      spec: {
        mode: 'monitor',
        rules: [{ name: 'opens', kinds: ['file.open'], match: { paths: { prefix: ['/tmp/pgnsp'] } } }],
      },
    });
    const mine = toPolicy(obj('pgag'));
    const theirs = toPolicy(obj(`other-${sfx}`));
    a.agent.applyPolicy(mine);
    a.agent.applyPolicy(theirs);
    try {
      const list = (await controlRequest(socket, 'GET', '/v1/containers')) as ContainerListing[];
      // Other tests' policies may cover these containers too: look at this test's two only.
      const ours = (id: string) =>
        list.find((r) => r.container.id === id)?.policies.filter((n) => n.endsWith(`/nsp-${sfx}`));
      assert.deepEqual(ours(pod.cid), [`pgag/nsp-${sfx}`], "the pod is in its namespace's set only");
      assert.deepEqual(ours(ctrId), [], 'a container outside any pod is in neither');
      const t0 = a.events.length;
      run('ctr', ['task', 'exec', '--exec-id', `q${sfx}`, ctrId, 'sh', '-c', 'echo > /tmp/pgnsp-sib'], env);
      writeFileSync('/tmp/pgnsp-host', 'x');
      run(
        'ctr',
        [
          '-n',
          'k8s.io',
          'task',
          'exec',
          '--exec-id',
          `q${sfx}`,
          pod.cid,
          'sh',
          '-c',
          'echo > /tmp/pgnsp-pod',
        ],
        env,
      );
      const hit = await a.waitFor(
        (e) => e.kind === 'file.open' && e.file?.path === '/tmp/pgnsp-pod',
        10_000,
        'the pod open',
      );
      assert.deepEqual(hit.policy?.names ?? [hit.policy?.name], [`pgag/nsp-${sfx}`]);
      await new Promise((r) => setTimeout(r, 300));
      const others = a.events
        .slice(t0)
        .filter((e) => e.file?.path === '/tmp/pgnsp-sib' || e.file?.path === '/tmp/pgnsp-host');
      assert.deepEqual(others, [], 'no event for a container outside the namespace or the host');
    } finally {
      rmSync('/tmp/pgnsp-host', { force: true });
      a.agent.deletePolicy(mine.metadata.name);
      a.agent.deletePolicy(theirs.metadata.name);
    }
  });

  test('containers started after the policy are covered from their first exec (ctr and a CRI pod)', async () => {
    a.agent.applyPolicy(policy('pg-late', { matchLabels: { late: `yes-${sfx}` } }, '/tmp/pglate'));
    const id = `pg-ag-late-${sfx}`;
    // The first process's first action after its exec is the open.
    await runAsync('ctr', [
      'run',
      '-d',
      '--label',
      `late=yes-${sfx}`,
      IMG,
      id,
      'sh',
      '-c',
      'echo > /tmp/pglate-ctr; sleep 600',
    ]);
    started.ctr.push(id);
    const hit = await a.waitFor(
      (e) => e.kind === 'file.open' && e.file?.path === '/tmp/pglate-ctr',
      10_000,
      'the late ctr container first open',
    );
    assert.equal(hit.container?.id, id);
    assert.equal(hit.policy?.name, 'pg-late');
    const out = JSON.parse(
      await runAsync(PY, [
        KPOD,
        'run',
        '-n',
        'pgag',
        '-p',
        `late-${sfx}`,
        '--label',
        `late=yes-${sfx}`,
        '-c',
        `app=${IMG},sh,-c,echo > /tmp/pglate-pod; sleep 600`,
      ]),
    ) as { pod_sandbox_id: string; containers: { id: string }[] };
    started.pods.push(out.pod_sandbox_id);
    const pHit = await a.waitFor(
      (e) => e.kind === 'file.open' && e.file?.path === '/tmp/pglate-pod',
      10_000,
      'the late pod first open',
    );
    assert.equal(pHit.container?.id, out.containers[0].id);
    assert.equal(pHit.pod?.name, `late-${sfx}`);
    const s = a.agent.stats().containers;
    assert.ok(s !== undefined);
    measured.push(
      `first execs under selector policies: ${JSON.stringify(s.first_exec)}; held ${s.held}, held timeouts ${s.held_timeouts}`,
    );
    // The guarantee is the kernel's (tp_btf/cgroup_mkdir admits a new cgroup to the scoped
    // rules): both first opens above were reported under pg-late. Whether user space had also
    // re-applied before the first exec is a race it may lose on a loaded machine: measured only.
    assert.ok(s.first_exec.seen >= 2, `first execs seen: ${JSON.stringify(s.first_exec)}`);
    a.agent.deletePolicy('pg-late');
  });

  test('GET /v1/containers lists the running containers with event counts; /v1/events filters by container and pod', async () => {
    const list = (await controlRequest(socket, 'GET', '/v1/containers')) as ContainerListing[];
    const mine = list.find((r) => r.container.id === ctrId);
    assert.ok(mine !== undefined && mine.events > 0, 'ctr container with events');
    assert.ok(list.some((r) => r.pod?.name === `web-${sfx}` && r.container.name === 'app'));
    const got = await new Promise<PeregrineEvent[]>((resolve, reject) => {
      const evs: PeregrineEvent[] = [];
      const req = request({ socketPath: socket, path: `/v1/events?pod=pgag/web-${sfx}` }, (res) => {
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let i = buf.indexOf('\n');
          while (i >= 0) {
            evs.push(JSON.parse(buf.slice(0, i)) as PeregrineEvent);
            buf = buf.slice(i + 1);
            i = buf.indexOf('\n');
          }
          if (evs.some((e) => e.process.args.some((x) => x.includes('podmark')))) {
            req.destroy();
            resolve(evs);
          }
        });
      });
      req.on('error', reject);
      req.end();
      setTimeout(() => {
        run('ctr', ['task', 'exec', '--exec-id', `f${sfx}`, ctrId, 'sh', '-c', 'echo podmark'], env);
        run(
          'ctr',
          ['-n', 'k8s.io', 'task', 'exec', '--exec-id', `f${sfx}`, pod.cid, 'sh', '-c', 'echo podmark'],
          env,
        );
      }, 200);
      setTimeout(() => reject(new Error('no filtered event')), 10_000);
    });
    assert.ok(got.length > 0);
    for (const e of got) assert.equal(e.pod?.name, `web-${sfx}`);
    // The command line, as a user runs it (async: the agent answers from this process).
    const table = await runAsync(process.execPath, [CLI, 'containers', '--socket', socket]);
    assert.match(table, /^CONTAINER\s+NAME\s+IMAGE\s+RUNTIME\s+POD\s+EVENTS\s+POLICIES$/m);
    const podRow = table.split('\n').find((l) => l.startsWith(pod.cid.slice(0, 12)));
    assert.match(podRow ?? '', new RegExp(`\\sapp\\s.*\\scontainerd\\s+pgag/web-${sfx}\\s+[1-9]`));
    assert.ok(table.split('\n').some((l) => l.startsWith(`${ctrId.slice(0, 12)} `)));
  });

  test('runtime sockets down: events still carry the id; the gap is counted and in `peregrine status`', async () => {
    const missing = join(dir, 'no-such.sock');
    const bSocket = join(dir, 'down.sock');
    const b = await startAgent({
      socket: bSocket,
      containers: {
        resolver: { containerdSocket: missing, dockerSocket: missing, podmanSockets: [missing] },
      },
    });
    try {
      await runProc('ctr', ['task', 'exec', '--exec-id', `d${sfx}`, ctrId, 'sh', '-c', 'echo downmark']);
      const ev = await b.waitFor(
        (e) => e.kind === 'process.exec' && argsAre(e, 'sh', '-c', 'echo downmark'),
        10_000,
        'exec with the runtime down',
      );
      assert.equal(ev.container?.id, ctrId);
      assert.equal(ev.container?.name, '');
      await runProc('ctr', ['task', 'exec', '--exec-id', `e${sfx}`, ctrId, 'sh', '-c', 'echo downmark2']);
      await b.waitFor(
        (e) => e.kind === 'process.exec' && argsAre(e, 'sh', '-c', 'echo downmark2'),
        10_000,
        'second exec',
      );
      const s = b.agent.stats();
      const c = s.containers;
      assert.ok(c !== undefined);
      assert.ok(c.id_only >= 2, 'id-only events counted');
      assert.equal(c.resolver.runtimes.containerd.down, true);
      assert.ok(c.resolver.runtimes.containerd.degraded >= 1);
      const text = formatCounters(s);
      assert.match(text, /containers\.id_only {2}\d+/);
      assert.match(text, /containers\.resolver\.runtimes\.containerd\.degraded {2}[1-9]/);
      const status = await runAsync(process.execPath, [CLI, 'status', '--socket', bSocket]);
      assert.match(status, /containers\.id_only {2}[1-9]/);
      assert.match(status, /containers\.resolver\.runtimes\.containerd\.degraded {2}[1-9]/);
      assert.match(status, /containers\.resolver\.runtimes\.containerd\.down {2}true/);
      measured.push(
        `runtime down: id_only ${c.id_only}, containerd ${JSON.stringify(c.resolver.runtimes.containerd)}`,
      );
    } finally {
      await b.stop();
    }
  });

  test('podman still attributed at the end (container listing includes it)', async () => {
    const list = (await controlRequest(socket, 'GET', '/v1/containers')) as ContainerListing[];
    assert.ok(list.some((r) => r.container.id === podmanId && r.container.runtime === 'podman'));
  });
});
