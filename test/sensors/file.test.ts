// SPDX-License-Identifier: Apache-2.0
// The file sensor against the real kernel: ordinary tools act on files under
// a temporary tree, and each action yields its exact event — or, outside what
// the policies watch, nothing in user space and a kernel-side filtered count.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { EventKind, PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import type { Policy } from '../../src/policy/types.js';
import { kernelTest } from '../kernel/helpers.js';
import { type RecordingAgent, run, startAgent } from '../process/agent.js';

const bin = (name: string): string =>
  realpathSync(
    execFileSync('sh', ['-c', `command -v ${name}`])
      .toString()
      .trim(),
  );

const PATH_KINDS: EventKind[] = [
  'file.unlink',
  'file.rename',
  'file.link',
  'file.symlink',
  'file.chmod',
  'file.chown',
  'file.truncate',
  'file.mount',
];

function policy(name: string, rules: Policy['spec']['rules']): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: { mode: 'monitor', rules },
    source: { file: 'file.test.ts' },
  };
}

describe('file sensor', kernelTest, () => {
  let a: RecordingAgent;
  let root: string; // realpath of the scratch tree: what the kernel reports
  let w: string; // opens watched here (any access)
  let wo: string; // opens watched here for writing only
  let other: string; // not watched for opens

  const fileStats = (): Record<string, number> => a.agent.stats().sensors.file as Record<string, number>;

  /** The one event of `kind` from pid, after waiting for it; asserts there is exactly one. */
  async function one(kind: EventKind, pid: number, path?: string): Promise<PeregrineEvent> {
    const pred = (e: PeregrineEvent) =>
      e.kind === kind && e.process.pid === pid && (path === undefined || e.file?.path === path);
    await a.waitFor(pred, 5000, `${kind} of ${pid}`);
    const all = a.events.filter(pred);
    assert.equal(all.length, 1, `exactly one ${kind} of ${pid}: ${JSON.stringify(all)}`);
    return all[0];
  }

  before(async () => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'pg-file-')));
    w = join(root, 'w');
    wo = join(root, 'wo');
    other = join(root, 'other');
    for (const d of [w, wo, other, join(root, 'mnt')]) mkdirSync(d);
    a = await startAgent({
      policies: [
        policy('pg-file-paths', [
          { name: 'tree', kinds: PATH_KINDS, match: { paths: { prefix: [`${root}/`] } }, action: 'audit' },
        ]),
        policy('pg-file-opens', [
          { name: 'w', kinds: ['file.open'], match: { paths: { prefix: [`${w}/`] } }, action: 'audit' },
        ]),
        policy('pg-file-writes', [
          {
            name: 'wo',
            kinds: ['file.open'],
            match: { paths: { prefix: [`${wo}/`] }, access: ['write'] },
            action: 'audit',
          },
        ]),
      ],
    });
  });

  after(async () => {
    await a?.stop();
    try {
      execFileSync('umount', [join(root, 'mnt')], { stdio: 'ignore' });
    } catch {
      // not mounted
    }
    rmSync(root, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  });

  test('an open for writing reports the kernel path, the access asked, the fd and the policy', async () => {
    const sh = bin('sh');
    const child = await run(sh, ['-c', 'echo hi > w/a'], { cwd: root });
    assert.equal(child.code, 0);
    const ev = await one('file.open', child.pid, join(w, 'a'));
    assert.equal(ev.process.binary, sh);
    assert.equal(ev.file?.path_source, 'kernel');
    assert.deepEqual(ev.file?.access, ['write', 'create', 'truncate']);
    assert.equal((ev.file?.flags ?? 0) & 0o1103, 0o1101, 'O_WRONLY|O_CREAT|O_TRUNC');
    assert.equal(ev.file?.mode, 0o666);
    assert.ok((ev.return_code ?? -1) >= 0, 'the new fd');
    assert.deepEqual(ev.policy, { name: 'pg-file-opens', names: ['pg-file-opens'] });

    const cat = bin('cat');
    const reader = await run(cat, [join(w, 'a')]);
    const rd = await one('file.open', reader.pid, join(w, 'a'));
    assert.equal(rd.process.binary, cat);
    assert.deepEqual(rd.file?.access, ['read']);
    assert.equal(rd.file?.mode, undefined);
  });

  test('a failed open reports -errno and the joined user path', async () => {
    const child = await run(bin('cat'), ['missing'], { cwd: w });
    assert.notEqual(child.code, 0);
    const ev = await one('file.open', child.pid, join(w, 'missing'));
    assert.equal(ev.return_code, -2, 'ENOENT');
    assert.equal(ev.file?.path_source, 'user');
  });

  test('a symlink opened by its link name reports the real target path', async () => {
    writeFileSync(join(w, 'target'), 'x');
    symlinkSync(join(w, 'target'), join(other, 'link'));
    const child = await run(bin('cat'), [join(other, 'link')]);
    const ev = await one('file.open', child.pid);
    assert.equal(ev.file?.path, join(w, 'target'));
    assert.equal(ev.file?.path_source, 'kernel');
  });

  test('relative names resolve against the cwd and against a dirfd (openat / unlinkat)', async () => {
    writeFileSync(join(w, 'rel'), 'x');
    writeFileSync(join(w, 'gone'), 'x');
    // The interpreter itself, not a wrapper (pyenv shims are shell scripts).
    const py = execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'])
      .toString()
      .trim();
    const script =
      "import os\nd = os.open('w', os.O_RDONLY)\nfd = os.open('rel', os.O_RDONLY, dir_fd=d)\nos.unlink('gone', dir_fd=d)\n";
    const child = await run(py, ['-c', script], { cwd: root });
    assert.equal(child.code, 0);
    const open = await one('file.open', child.pid, join(w, 'rel'));
    assert.equal(open.process.binary, py);
    assert.deepEqual(open.file?.access, ['read']);
    const unlink = await one('file.unlink', child.pid);
    assert.equal(unlink.file?.path, join(w, 'gone'));
    assert.equal(unlink.file?.path_source, 'user');

    writeFileSync(join(w, 'cwd-rel'), 'x');
    const rm = await run(bin('rm'), ['./cwd-rel'], { cwd: w });
    const ev = await one('file.unlink', rm.pid);
    assert.equal(ev.file?.path, join(w, 'cwd-rel'), 'cwd joined, leading ./ dropped');
    assert.equal(ev.process.binary, bin('rm'));
    assert.deepEqual(ev.policy, { name: 'pg-file-paths', names: ['pg-file-paths'] });
  });

  test('an open outside the watched prefix reaches no user space and counts as filtered in the kernel', async () => {
    writeFileSync(join(other, 'quiet'), 'x');
    const before = fileStats().kernel_filtered;
    const child = await run(bin('cat'), [join(other, 'quiet')]);
    // A later watched open by the same tool proves the consumer caught up.
    const marker = await run(bin('cat'), [join(w, 'a')]);
    await one('file.open', marker.pid, join(w, 'a'));
    assert.equal(a.events.filter((e) => e.process.pid === child.pid && e.kind === 'file.open').length, 0);
    assert.ok(fileStats().kernel_filtered > before, 'kernel filtered counter moved');
  });

  test('a write-only rule ignores reads', async () => {
    const sh = bin('sh');
    const writer = await run(sh, ['-c', 'echo x > wo/f'], { cwd: root });
    const ev = await one('file.open', writer.pid, join(wo, 'f'));
    assert.deepEqual(ev.policy, { name: 'pg-file-writes', names: ['pg-file-writes'] });
    const reader = await run(bin('cat'), [join(wo, 'f')]);
    const marker = await run(bin('cat'), [join(w, 'a')]);
    await one('file.open', marker.pid, join(w, 'a'));
    assert.equal(a.events.filter((e) => e.process.pid === reader.pid && e.kind === 'file.open').length, 0);
  });

  test('mv, ln, ln -s, chmod, chown, truncate and rm yield their exact events', async () => {
    writeFileSync(join(other, 'f'), 'data');
    const mv = await run(bin('mv'), ['f', 'g'], { cwd: other });
    const ren = await one('file.rename', mv.pid);
    assert.equal(ren.file?.path, join(other, 'f'));
    assert.equal(ren.file?.new_path, join(other, 'g'));
    assert.equal(ren.file?.path_source, 'user');

    const ln = await run(bin('ln'), [join(other, 'g'), 'h'], { cwd: other });
    const link = await one('file.link', ln.pid);
    assert.equal(link.file?.path, join(other, 'g'));
    assert.equal(link.file?.new_path, join(other, 'h'));

    const lns = await run(bin('ln'), ['-s', 'g', 's'], { cwd: other });
    const sym = await one('file.symlink', lns.pid);
    assert.equal(sym.file?.path, 'g', 'the target as written');
    assert.equal(sym.file?.new_path, join(other, 's'));

    const chmod = await run(bin('chmod'), ['640', 'g'], { cwd: other });
    const cm = await one('file.chmod', chmod.pid);
    assert.equal(cm.file?.path, join(other, 'g'));
    assert.equal(cm.file?.mode, 0o640);

    const chown = await run(bin('chown'), ['1234:5678', 'g'], { cwd: other });
    const co = await one('file.chown', chown.pid);
    assert.equal(co.file?.path, join(other, 'g'));
    assert.equal(co.file?.uid, 1234);
    assert.equal(co.file?.gid, 5678);

    const tr = await run(bin('truncate'), ['-s', '1', 'g'], { cwd: other });
    const t = await one('file.truncate', tr.pid);
    assert.equal(t.file?.path, join(other, 'g'), 'ftruncate: the fd resolved in the kernel');
    assert.equal(t.file?.path_source, 'kernel');

    const rm = await run(bin('rm'), ['h'], { cwd: other });
    const un = await one('file.unlink', rm.pid);
    assert.equal(un.file?.path, join(other, 'h'));
    assert.equal(un.process.binary, bin('rm'));
  });

  test('a rename into the watched tree matches by its new path', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'pg-file-out-'));
    try {
      writeFileSync(join(outside, 'in'), 'x');
      const mv = await run(bin('mv'), [join(outside, 'in'), join(other, 'moved-in')]);
      const ev = await one('file.rename', mv.pid);
      assert.equal(ev.file?.path, join(realpathSync(outside), 'in'));
      assert.equal(ev.file?.new_path, join(other, 'moved-in'));
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  test('mount of a tmpfs reports target, source and fstype', async () => {
    const mnt = join(root, 'mnt');
    const m = await run(bin('mount'), ['-t', 'tmpfs', 'pg-src', mnt]);
    assert.equal(m.code, 0);
    const ev = await one('file.mount', m.pid);
    assert.equal(ev.file?.path, mnt);
    assert.equal(ev.file?.source, 'pg-src');
    assert.equal(ev.file?.fstype, 'tmpfs');
    assert.equal(ev.process.binary, bin('mount'));
    await run(bin('umount'), [mnt]);
  });
});
