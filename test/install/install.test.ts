// SPDX-License-Identifier: Apache-2.0
// The release the way an operator uses it: `npm run release`'s tarball unpacked,
// installed with install.sh into a scratch root, the unit checked by
// systemd-analyze, the installed agent run (no clang on PATH) until it reports a
// real exec, then uninstall.sh leaving nothing behind.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { kernelTest, root, waitUntil } from '../kernel/helpers.js';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const name = `peregrine-${pkg.version}-linux-${process.arch}`;
const tarball = join(root, 'build', 'release', `${name}.tar.gz`);
// What the release is built from: a change to any of these makes the tarball stale.
const inputs = [
  'src',
  'bpf',
  'native',
  'bin',
  'policies',
  'rules',
  'proto',
  'deploy',
  'docs/install.md',
  'scripts/release.sh',
  'package.json',
  'package-lock.json',
];
const prefix = '/opt/peregrine-test';
// A PATH without clang's usual homes beyond /usr/bin: the tree must not need it (nothing compiles).
const PATH = '/usr/bin:/bin';

function newestMtime(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(path)) m = Math.max(m, newestMtime(join(path, e)));
  return m;
}

/** Builds the release unless a tarball newer than every input exists (a release takes a minute). */
function ensureRelease(): void {
  if (existsSync(tarball)) {
    const built = statSync(tarball).mtimeMs;
    if (inputs.every((p) => !existsSync(join(root, p)) || newestMtime(join(root, p)) <= built)) return;
  }
  execFileSync('sh', [join(root, 'scripts', 'release.sh')], { cwd: root, stdio: 'ignore', timeout: 900_000 });
}

/** Every path under dir, relative, sorted (symlinks not followed). */
function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p));
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

function sh(script: string, args: string[], env: NodeJS.ProcessEnv = {}): { code: number; stderr: string } {
  const r = spawnSync('sh', [script, ...args], { encoding: 'utf8', env: { PATH, ...env }, timeout: 120_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

const until = (what: string, pred: () => boolean, timeoutMs = 60_000): Promise<void> =>
  waitUntil(what, pred, timeoutMs);

interface Agent {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Runs `peregrine run ARGS` from an agent tree with only PATH and the given env. */
function startAgent(script: string, args: string[], env: NodeJS.ProcessEnv): Agent {
  const child = spawn(process.execPath, [script, 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH, ...env },
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Waits for the exec of /bin/true carrying `marker` in its argv among the agent's JSON lines. */
async function sawExec(agent: Agent, marker: string): Promise<void> {
  const seen = (): boolean =>
    agent
      .stdout()
      .split('\n')
      .some(
        (l) => l.includes(marker) && l.includes('"kind":"process.exec"') && /"binary":"[^"]*\/true"/.test(l),
      );
  const end = Date.now() + 30_000;
  // Re-spawn until seen: the first exec may race the last attach.
  while (!seen()) {
    if (Date.now() > end)
      throw new Error(`no process.exec of /bin/true ${marker}; stderr: ${agent.stderr()}`);
    execFileSync('/bin/true', [marker]);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The mapped files of a process: which addon it really loaded. */
function mappedFiles(pid: number): string {
  return readFileSync(`/proc/${pid}/maps`, 'utf8');
}

describe('release install', kernelTest, () => {
  let work: string;
  let unpacked: string;
  let destdir: string;
  let pinRoot: string;

  before(() => {
    ensureRelease();
    work = mkdtempSync(join(tmpdir(), 'pg-install-'));
    execFileSync('tar', ['-xzf', tarball, '-C', work]);
    unpacked = join(work, name);
    destdir = join(work, 'root');
    mkdirSync(destdir);
    // The agent runs with --keep-enforcing as the unit does: its pins go to a
    // private bpffs directory so a real agent's state is never touched.
    pinRoot = `/sys/fs/bpf/peregrine-install-test-${process.pid}`;
  });

  after(() => {
    spawnSync(process.execPath, [join(unpacked, 'bin', 'peregrine.js'), 'cleanup'], {
      env: { PATH, PEREGRINE_PIN_ROOT: pinRoot },
    });
    rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds the agent, objects, addon and packages, and no build sources', () => {
    const files = listTree(unpacked);
    for (const f of [
      'bin/peregrine.js',
      'dist/src/cli/main.js',
      'build/bpf/process.bpf.o',
      'build/Release/peregrine_native.node',
      'policies/default.yaml',
      'rules/peregrine_rules.yaml',
      'proto/cri/runtime.proto',
      'node_modules/yaml/package.json',
      'deploy/systemd/peregrine.service',
      'install.sh',
      'uninstall.sh',
      'package.json',
      'package-lock.json',
    ]) {
      assert.ok(files.includes(f), `missing ${f}`);
    }
    const ours = files.filter((f) => !f.startsWith('node_modules/'));
    assert.deepEqual(
      ours.filter((f) => /\.(c|h|ts|gyp)$|\.test\.js$|\.map$/.test(f) || f.startsWith('dist/test')),
      [],
    );
    // Every kernel object the build makes ships.
    const built = readdirSync(join(root, 'build', 'bpf')).filter((f) => f.endsWith('.bpf.o'));
    assert.deepEqual(readdirSync(join(unpacked, 'build', 'bpf')).sort(), built.sort());
    // Production packages only: no typescript, biome or node-gyp.
    for (const dev of ['typescript', '@biomejs', 'node-gyp']) {
      assert.ok(!existsSync(join(unpacked, 'node_modules', dev)), `dev package ${dev} shipped`);
    }
    assert.equal(existsSync(join(unpacked, 'binding.gyp')), false);
  });

  test('the unpacked tree runs with no compiler, loading its own objects and addon', async () => {
    const before = listTree(unpacked);
    // Prove the objects come from this tree: one moved away degrades exactly its sensor.
    const moved = join(work, 'kernel.bpf.o');
    renameSync(join(unpacked, 'build', 'bpf', 'kernel.bpf.o'), moved);
    const sock = join(work, 'tree.sock');
    const agent = startAgent(join(unpacked, 'bin', 'peregrine.js'), ['--socket', sock, '--no-rules'], {});
    try {
      await until(
        'the startup line',
        () => /peregrine: running on/.test(agent.stderr()) || agent.child.exitCode !== null,
      );
      assert.match(agent.stderr(), /peregrine: running on/, agent.stderr());
      assert.match(agent.stderr(), /degraded: kernel sensor not loaded/);
      assert.ok(agent.stderr().includes(join(unpacked, 'build', 'bpf', 'kernel.bpf.o')), agent.stderr());
      assert.ok(
        mappedFiles(agent.child.pid ?? 0).includes(
          join(unpacked, 'build', 'Release', 'peregrine_native.node'),
        ),
      );
      await sawExec(agent, `tree-${process.pid}`);
    } finally {
      agent.child.kill('SIGINT');
      await agent.exited;
      renameSync(moved, join(unpacked, 'build', 'bpf', 'kernel.bpf.o'));
    }
    // Nothing was built or written into the tree.
    assert.deepEqual(listTree(unpacked), before);
  });

  test('install, verify the unit, run the installed agent, uninstall: nothing left', async () => {
    const empty = listTree(destdir);
    const install = join(unpacked, 'install.sh');
    let r = sh(install, ['--root', destdir, '--prefix', prefix]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /install: systemd: skipped \(--root\)/);
    const target = join(destdir, prefix);
    const unit = join(destdir, 'etc/systemd/system/peregrine.service');
    const link = join(destdir, 'usr/local/bin/peregrine');
    assert.equal(lstatSync(link).isSymbolicLink(), true);
    assert.equal(
      readFileSync(unit, 'utf8').match(/^ExecStart=.*$/m)?.[0],
      `ExecStart=${execFileSync('sh', ['-c', 'command -v node'], { env: { PATH }, encoding: 'utf8' }).trim()} ${prefix}/bin/peregrine.js run --keep-enforcing --watch --policy /etc/peregrine/policies --rules /etc/peregrine/rules`,
    );
    assert.ok(existsSync(join(destdir, 'etc/peregrine/policies/default.yaml')));
    assert.ok(existsSync(join(destdir, 'etc/peregrine/rules/peregrine_rules.yaml')));

    // Every path the install created is in its manifest, and nothing else is.
    const manifest = readFileSync(join(target, 'install-manifest'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.slice(l.indexOf(' ') + 1).slice(1));
    assert.deepEqual([...manifest].sort(), listTree(destdir));

    // Idempotent: a second run succeeds and records the same paths.
    r = sh(install, ['--root', destdir, '--prefix', prefix]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      readFileSync(join(target, 'install-manifest'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => l.slice(l.indexOf(' ') + 2))
        .sort(),
      listTree(destdir),
    );

    // The unit as installed. Its command (node) exists in the real root, the agent
    // path is an argument, so systemd-analyze verifies the installed file as is;
    // `--root DESTDIR` would not work: the scratch root has no node and no
    // sysinit.target. verify exits 0 even on bad directives, so stderr must be empty.
    const v = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    if (v.error === undefined) {
      assert.equal(v.status, 0, v.stderr);
      assert.equal(v.stderr.trim(), '');
    }

    // The installed agent, as the unit runs it, config from the scratch /etc.
    const sock = join(work, 'installed.sock');
    const agent = startAgent(
      join(target, 'bin', 'peregrine.js'),
      [
        '--keep-enforcing',
        '--watch',
        '--policy',
        join(destdir, 'etc/peregrine/policies'),
        '--rules',
        join(destdir, 'etc/peregrine/rules'),
        '--socket',
        sock,
      ],
      { PEREGRINE_PIN_ROOT: pinRoot },
    );
    try {
      await until(
        'the startup line',
        () => /peregrine: running on/.test(agent.stderr()) || agent.child.exitCode !== null,
      );
      assert.match(agent.stderr(), /peregrine: running on/, agent.stderr());
      assert.ok(
        mappedFiles(agent.child.pid ?? 0).includes(join(target, 'build', 'Release', 'peregrine_native.node')),
      );
      await sawExec(agent, `installed-${process.pid}`);
    } finally {
      agent.child.kill('SIGINT');
    }
    assert.equal(await agent.exited, 0, agent.stderr());

    // Uninstall (with --purge: the seeded config goes too) drops the pins and every path.
    r = sh(join(target, 'uninstall.sh'), ['--root', destdir, '--purge'], { PEREGRINE_PIN_ROOT: pinRoot });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /uninstall: pins: /);
    assert.deepEqual(listTree(destdir), empty);
    assert.equal(existsSync(pinRoot), false, 'pinned state left behind');
    // Idempotent: nothing to do the second time.
    r = sh(join(unpacked, 'uninstall.sh'), ['--root', destdir, '--prefix', prefix]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nothing to do/);
  });

  test("an operator's config is never overwritten, and uninstall keeps /etc/peregrine without --purge", () => {
    const dest = join(work, 'root2');
    const mine = join(dest, 'etc/peregrine/policies/mine.yaml');
    mkdirSync(join(dest, 'etc/peregrine/policies'), { recursive: true });
    writeFileSync(mine, '# mine\n');
    let r = sh(join(unpacked, 'install.sh'), ['--root', dest, '--prefix', prefix]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /config: \/etc\/peregrine\/policies exists, left as it is/);
    assert.deepEqual(readdirSync(join(dest, 'etc/peregrine/policies')), ['mine.yaml']);
    assert.ok(existsSync(join(dest, 'etc/peregrine/rules/peregrine_rules.yaml')));
    // An existing prefix that is not an install is refused, untouched.
    const foreign = join(dest, 'opt/foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'keep'), 'x');
    r = sh(join(unpacked, 'install.sh'), ['--root', dest, '--prefix', '/opt/foreign']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /not installed by install\.sh/);
    assert.deepEqual(readdirSync(foreign), ['keep']);

    r = sh(join(dest, prefix, 'uninstall.sh'), ['--root', dest], { PEREGRINE_PIN_ROOT: pinRoot });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(mine, 'utf8'), '# mine\n');
    assert.ok(
      existsSync(join(dest, 'etc/peregrine/rules/peregrine_rules.yaml')),
      'seeded config kept without --purge',
    );
    assert.equal(existsSync(join(dest, prefix)), false);
    assert.equal(existsSync(join(dest, 'usr/local/bin/peregrine')), false);
    assert.equal(existsSync(join(dest, 'etc/systemd')), false);
  });
});
