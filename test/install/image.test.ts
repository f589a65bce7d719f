// SPDX-License-Identifier: Apache-2.0
// The agent as a container image, run the way a node runs it (docs/install.md, "Container
// image"): `npm run image` builds localhost/peregrine:<version> with umoci and loads it into
// podman; the agent runs privileged with --pid=host and the host mounts, reports an exec in
// another container with that container's id, name and image from the runtime's API, and
// answers on its control socket from inside the container and from the host.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setupRecipe, teardownRecipe, tryRun } from '../container/recipe.js';
import { root } from '../kernel/helpers.js';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const IMAGE = `localhost/peregrine:${pkg.version}`;
const NODE = '/usr/local/bin/node';
const CLI = '/opt/peregrine/bin/peregrine.js';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root: runs a privileged container that loads BPF programs';
  if (!have('umoci')) return 'umoci missing (sudo sh ../shared/containers/setup.sh installs it)';
  if (!have('podman')) return 'podman missing (sudo sh ../shared/containers/setup.sh installs it)';
  return undefined;
}

const early = skipReason();
// setup.sh is idempotent (0.3 s when everything runs); it is only called when the test can run.
const prepared = early === undefined ? setupRecipe() : { skip: early };
const skip = 'skip' in prepared ? prepared.skip : false;
const env: NodeJS.ProcessEnv = 'env' in prepared ? { ...process.env, ...prepared.env } : process.env;

const tag = `pg-image-${process.pid}`;
const agentName = `${tag}-agent`;
const workloadName = `${tag}-workload`;
// A distinctive argument: /bin/echo (not sh's builtin) makes a real exec that carries it.
const marker = `peregrine-image-marker-${process.pid}`;

function podman(args: string[], timeout = 60_000): string {
  return execFileSync('podman', args, {
    env,
    timeout,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** `podman logs` of the agent: stdout (events) and stderr (banner, final counters) together. */
function agentLogs(): string {
  const r = spawnSync('podman', ['logs', agentName], { env, encoding: 'utf8', timeout: 30_000 });
  return `${r.stdout}${r.stderr}`;
}

async function waitFor(what: string, ms: number, ok: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}; agent logs:\n${agentLogs().slice(-3000)}`);
}

describe('container image', { skip }, () => {
  let runDir = '';
  let buildMs = 0;

  before(() => {
    runDir = mkdtempSync(join(tmpdir(), 'pg-image-run-'));
    const t0 = Date.now();
    // image.sh reuses a release and an image archive newer than their inputs: seconds when
    // nothing changed, plus the release (about 6 s here, more after a source change) when it did.
    execFileSync('sh', [join(root, 'scripts', 'image.sh')], {
      cwd: root,
      env: { ...env, IMAGE_LOAD: 'podman' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 900_000,
    });
    buildMs = Date.now() - t0;
  });

  after(() => {
    tryRun('podman', ['rm', '-f', '-t', '0', agentName, workloadName], env);
    if (runDir !== '') rmSync(runDir, { recursive: true, force: true });
    // As the container suite does: the runtimes this suite started stop with it.
    teardownRecipe(env);
  });

  test('the image holds the release, node and only what the loader maps, with OCI labels', () => {
    process.stderr.write(`# image build (or reuse) took ${buildMs} ms\n`);
    const cfg = JSON.parse(podman(['image', 'inspect', IMAGE]))[0] as {
      Config: { Entrypoint: string[]; Labels: Record<string, string> };
    };
    assert.deepEqual(cfg.Config.Entrypoint, [NODE, CLI, 'run']);
    assert.equal(cfg.Config.Labels['org.opencontainers.image.version'], pkg.version);
    assert.match(cfg.Config.Labels['org.opencontainers.image.revision'], /^[0-9a-f]{40}$/);
    // The image's own node lists its library directory and proves there is no shell.
    const listing = podman([
      'run',
      '--rm',
      '--entrypoint',
      NODE,
      IMAGE,
      '-e',
      `const fs = require("node:fs");
       const libs = fs.readdirSync("/lib/x86_64-linux-gnu").concat(fs.existsSync("/usr/lib/x86_64-linux-gnu") ? fs.readdirSync("/usr/lib/x86_64-linux-gnu") : []);
       console.log(JSON.stringify({ libs, sh: fs.existsSync("/bin/sh"), addon: fs.existsSync("${'/opt/peregrine/build/Release/peregrine_native.node'}") }));`,
    ]);
    const seen = JSON.parse(listing) as { libs: string[]; sh: boolean; addon: boolean };
    if (process.arch === 'x64') {
      for (const lib of ['libbpf.so.1', 'libelf.so.1', 'libz.so.1', 'libc.so.6', 'libstdc++.so.6'])
        assert.ok(seen.libs.includes(lib), `${lib} in the image: ${seen.libs.join(' ')}`);
    }
    assert.equal(seen.sh, false, 'no shell in the image');
    assert.equal(seen.addon, true);
  });

  test('the agent in the image attributes an exec in another container and answers on its socket', async () => {
    const sock = '/run/peregrine/peregrine.sock';
    podman(
      [
        'run',
        '-d',
        '--name',
        agentName,
        '--privileged',
        '--pid=host',
        '-v',
        '/sys/fs/bpf:/sys/fs/bpf:rw',
        '-v',
        '/sys/kernel/btf:/sys/kernel/btf:ro',
        '-v',
        '/sys/kernel/tracing:/sys/kernel/tracing:rw',
        '-v',
        '/sys/fs/cgroup:/sys/fs/cgroup:rw,rbind',
        '-v',
        '/run/containerd/containerd.sock:/run/containerd/containerd.sock',
        '-v',
        '/var/run/docker.sock:/var/run/docker.sock',
        '-v',
        '/run/podman/podman.sock:/run/podman/podman.sock',
        '-v',
        `${runDir}:/run/peregrine`,
        IMAGE,
        '--output',
        'compact',
        '--socket',
        sock,
      ],
      120_000,
    );
    const t0 = Date.now();
    await waitFor('the agent to start', 60_000, () =>
      /control socket \/run\/peregrine\/peregrine\.sock/.test(agentLogs()),
    );
    process.stderr.write(`# agent in the image ready in ${Date.now() - t0} ms\n`);

    const workloadId = podman([
      'run',
      '-d',
      '--name',
      workloadName,
      env.IMG_BUSYBOX ?? 'localhost/peregrine-busybox:latest',
      'sh',
      '-c',
      `/bin/echo ${marker}; exec sleep 600`,
    ]);
    assert.match(workloadId, /^[0-9a-f]{64}$/);
    // Compact output names the container in brackets: `exec PID [name] /bin/busybox marker`.
    const line = new RegExp(`^exec\\s+\\d+ \\[${workloadName}\\] \\S+ ${marker}`, 'm');
    await waitFor('the workload exec in the agent output', 30_000, () => line.test(agentLogs()));

    // Id, name and image come from podman's API, read by the agent through the mounted socket.
    type Row = { container?: { id: string; name: string; image: string; runtime: string } };
    let rows: Row[] = [];
    await waitFor('the workload in `peregrine containers`', 15_000, () => {
      rows = JSON.parse(
        podman(['exec', agentName, NODE, CLI, 'containers', '--json', '--socket', sock]),
      ) as Row[];
      return rows.some((r) => r.container?.id === workloadId);
    });
    const row = rows.find((r) => r.container?.id === workloadId);
    assert.equal(row?.container?.name, workloadName);
    assert.equal(row?.container?.image, env.IMG_BUSYBOX ?? 'localhost/peregrine-busybox:latest');
    assert.equal(row?.container?.runtime, 'podman');
    // The agent sees itself as a container too: its own cgroup is attributed to its own name.
    assert.ok(rows.some((r) => r.container?.name === agentName && r.container.image === IMAGE));

    // `peregrine status` from the host, through the socket in the mounted directory.
    const st = spawnSync(
      process.execPath,
      [join(root, 'bin', 'peregrine.js'), 'status', '--json', '--socket', join(runDir, 'peregrine.sock')],
      { encoding: 'utf8', timeout: 30_000 },
    );
    // 0, or 3 when the agent runs degraded (a sensor this kernel lacks): both mean it answered.
    assert.ok(st.status === 0 || st.status === 3, `status exited ${st.status}: ${st.stderr}`);
    const status = JSON.parse(st.stdout) as { agent: { uptime_s?: number } | null };
    assert.ok(status.agent !== null, `status --json has the running agent: ${st.stdout.slice(0, 400)}`);

    // podman stop sends the image's stop signal (SIGTERM): the agent detaches and exits 0.
    podman(['stop', '-t', '20', agentName], 60_000);
    assert.equal(podman(['inspect', '--format', '{{.State.ExitCode}}', agentName]), '0');
    assert.match(agentLogs(), /health\s+ok/);
  });
});
