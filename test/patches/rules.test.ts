// SPDX-License-Identifier: Apache-2.0
// The pack's detection rules (patches/rules.yaml) on the shapes of their
// exploits and of the legitimate uses next to them, alone and on top of the
// default ruleset.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ContainerInfo } from '../../src/events/types.js';
import { loadRules } from '../../src/rules/index.js';
import { execEv, hits, load, repoRoot } from '../rules/helpers.js';

const text = readFileSync(join(repoRoot(), 'patches', 'rules.yaml'), 'utf8');
const set = load(text, 'patches/rules.yaml');
const CONTAINER: ContainerInfo = {
  id: 'c0ffee',
  name: 'web',
  image: 'img',
  image_id: '',
  runtime: 'containerd',
  labels: {},
};

const SUDO = 'Virtual patch CVE-2021-3156 sudoedit overflow attempt';
const PWNKIT = 'Virtual patch CVE-2021-4034 pkexec with an empty argv';
const LEAKY = 'Virtual patch CVE-2024-21626 container process working in the host cgroup tree';

test('CVE-2021-3156: sudoedit -s with a backslash argument; not sudoedit FILE, not sudo -s', () => {
  const sudo = (args: string[]) => execEv(args, { proc: { binary: '/usr/bin/sudo' } });
  assert.deepEqual(hits(set, sudo(['sudoedit', '-s', '\\'])), [SUDO]);
  assert.deepEqual(hits(set, sudo(['sudoedit', '-i', 'AAAA\\'])), [SUDO]);
  assert.deepEqual(hits(set, sudo(['sudoedit', '/etc/hosts'])), []);
  assert.deepEqual(hits(set, sudo(['sudo', '-s'])), []);
});

test('CVE-2021-4034: pkexec with an empty argv; not pkexec with a program', () => {
  const pk = (args: string[]) => execEv(args, { proc: { binary: '/usr/bin/pkexec' } });
  assert.deepEqual(hits(set, pk([''])), [PWNKIT]);
  assert.deepEqual(hits(set, pk(['pkexec', '/usr/bin/gparted'])), []);
});

test('CVE-2024-21626: a container process starting in the cgroup tree or a /proc fd; not on the host, not elsewhere', () => {
  const run = (cwd: string, container?: ContainerInfo) => execEv(['sh'], { proc: { cwd }, container });
  assert.deepEqual(hits(set, run('/sys/fs/cgroup/', CONTAINER)), [LEAKY]);
  assert.deepEqual(hits(set, run('/proc/self/fd/7/', CONTAINER)), [LEAKY]);
  assert.deepEqual(hits(set, run('/app/', CONTAINER)), []);
  assert.deepEqual(hits(set, run('/sys/fs/cgroup/')), []);
});

test('the pack rules load on top of the default ruleset', () => {
  const defaults = join(repoRoot(), 'rules', 'peregrine_rules.yaml');
  const both = loadRules([
    { path: defaults, text: readFileSync(defaults, 'utf8') },
    { path: 'patches/rules.yaml', text },
  ]);
  for (const r of [SUDO, PWNKIT, LEAKY])
    assert.ok(
      both.rules().some((x) => x.name === r),
      r,
    );
});
