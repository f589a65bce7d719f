// SPDX-License-Identifier: Apache-2.0
// From recorded events to the learned policy: rules, scoping, report lines, and a YAML the loader accepts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventKind, PeregrineEvent } from '../events/types.js';
import { loadPolicyText } from '../policy/load.js';
import { buildLearned, type LearnTarget, learningPolicy, Profile, targetMatcher } from './profile.js';
import { policyYaml, reportJson, reportMarkdown } from './render.js';

function ev(kind: EventKind, binary: string, extra: Partial<PeregrineEvent> = {}): PeregrineEvent {
  return {
    time: '2026-12-04T00:00:00.000000000Z',
    node: 'n',
    kind,
    process: {
      exec_id: 'x',
      pid: 10,
      tid: 10,
      ppid: 1,
      uid: 0,
      gid: 0,
      euid: 0,
      egid: 0,
      auid: 4294967295,
      binary,
      args: [binary.split('/').pop() ?? ''],
      cwd: '/',
      tty: '',
      start_time: '',
      parent_exec_id: '',
      flags: [],
      cap: { effective: '00000000a80425fb', permitted: '00000000a80425fb' },
      ns: { pid: 1, mnt: 1, net: 1, user: 1, uts: 1, ipc: 1, cgroup: 1 },
      cgroup: { id: 4242, name: '/docker/abc' },
    },
    container: {
      id: 'abc',
      name: 'web',
      image: 'img',
      image_id: '',
      runtime: 'docker',
      labels: { app: 'web' },
    },
    ...extra,
  } as PeregrineEvent;
}

const open = (path: string, access: Array<'read' | 'write' | 'create'>) =>
  ev('file.open', '/bin/busybox', { file: { path, path_source: 'kernel', access } });
const net = (kind: EventKind, remote: string, rport: number, lport = 0) =>
  ev(kind, '/bin/busybox', {
    network: {
      family: 'inet',
      protocol: 'tcp',
      local_address: '0.0.0.0',
      local_port: lport,
      remote_address: remote,
      remote_port: rport,
    },
  });

function workload(): Profile {
  const p = new Profile();
  for (const e of [
    ev('process.exec', '/bin/busybox'),
    ev('process.exec', '/usr/bin/python3.11'),
    open('/etc/hosts', ['read']),
    open('/usr/lib/python3.11/os.py', ['read']),
    open('/tmp/tmp.a1b2c3d4e5/out', ['write', 'create']),
    ...['a', 'b', 'c', 'd', 'e'].map((n) => open(`/srv/www/${n}.html`, ['read'])),
    net('network.connect', '10.244.0.7', 8080),
    net('network.connect', '10.244.0.9', 8080),
    net('network.connect', '10.244.0.12', 8080),
    net('network.connect', '127.0.0.1', 5432),
    net('network.listen', '', 0, 8000),
    net('network.bind', '', 0, 8000),
    net('network.bind', '', 0, 40001),
  ])
    p.observe(e);
  return p;
}

const opts = (target: LearnTarget) => ({
  name: 'learned-web',
  target,
  durationS: 60,
  ephemeral: [32768, 60999] as [number, number],
});

test('the learned policy: exec allow-list, sensitive reads, system writes, peers, ports, capabilities', () => {
  const { policy } = buildLearned(workload(), opts({ container: 'web' }));
  assert.equal(policy.spec.mode, 'monitor');
  assert.deepEqual(policy.spec.selector, { matchLabels: { 'peregrine.dev/container-name': 'web' } });
  assert.deepEqual(policy.spec.safety, { maxDenials: 10, window: '60s' });
  const rule = (n: string) => policy.spec.rules.find((r) => r.name === n);
  assert.deepEqual(rule('exec')?.match.binaries?.notIn, ['/bin/busybox', '/usr/bin/python3.11']);
  assert.equal(rule('exec')?.action, 'kill');
  assert.ok(rule('sensitive-reads')?.match.paths?.exact?.includes('/etc/shadow'));
  assert.equal(rule('sensitive-reads')?.action, 'kill');
  assert.ok(rule('system-writes')?.match.paths?.prefix?.includes('/etc/'));
  assert.deepEqual(rule('connect-peers')?.match.addresses?.notIn, ['10.244.0.0/24', '127.0.0.0/8']);
  assert.equal(rule('connect-peers')?.action, 'deny');
  assert.deepEqual(rule('connect-ports')?.match.ports?.notIn, [5432, 8080]);
  // 40001 is an ephemeral bind without listen: a client socket, dropped.
  assert.deepEqual(rule('listen')?.match.ports?.notIn, [8000]);
  const caps = rule('capabilities')?.match.capabilities ?? [];
  assert.ok(caps.includes('CAP_SYS_ADMIN'));
  assert.ok(!caps.includes('CAP_CHOWN'), 'a capability held while learning is allowed');
});

test('a system directory the workload wrote to, or a credential it read, is left out and said so', () => {
  const p = workload();
  p.observe(open('/etc/app/state.json', ['write']));
  p.observe(open('/etc/shadow', ['read']));
  const { policy, report } = buildLearned(p, opts({ container: 'web' }));
  const rule = (n: string) => policy.spec.rules.find((r) => r.name === n);
  assert.ok(!rule('system-writes')?.match.paths?.prefix?.includes('/etc/'));
  assert.ok(!rule('sensitive-reads')?.match.paths?.exact?.includes('/etc/shadow'));
  assert.ok(report.notes.some((n) => n.includes('/etc/ left out') && n.includes('/etc/app/state.json')));
  assert.ok(report.notes.some((n) => n.includes('/etc/shadow left out')));
});

test('the report says, per line, what was seen and how it was generalised', () => {
  const { report } = buildLearned(workload(), opts({ container: 'web' }));
  const line = (rule: string, value: string) =>
    report.lines.find((l) => l.rule === rule && l.value === value);
  assert.equal(line('connect-peers', '10.244.0.0/24')?.count, 3);
  assert.match(line('connect-peers', '10.244.0.0/24')?.how ?? '', /3 peers in one \/24/);
  assert.match(line('files-read', '/usr/lib/python3.*/os.py')?.how ?? '', /version "python3.11"/);
  assert.equal(line('files-read', '/srv/www/')?.count, 5);
  assert.match(line('files-written', '/tmp/tmp*/out')?.how ?? '', /temporary name/);
  assert.ok(report.notes.some((n) => n.includes('ephemeral binds dropped') && n.includes('40001')));
  const md = reportMarkdown(report);
  assert.match(md, /\| connect-peers \| addresses\.notIn \| `10\.244\.0\.0\/24` \| 3 \|/);
  assert.equal(JSON.parse(reportJson(report)).policy, 'learned-web');
});

test('the written YAML loads, round-trips to the same policy, and is the same for the same events', () => {
  for (const target of [
    { container: 'web' },
    { selector: { app: 'web' } },
    { cgroup: '/sys/fs/cgroup/x', cgroupId: 4242 },
    { binary: '/usr/bin/python3.11' },
  ] as LearnTarget[]) {
    const a = buildLearned(workload(), opts(target));
    const yaml = policyYaml(a.policy, a.report);
    const [loaded] = loadPolicyText(yaml, 'learned.yaml');
    assert.deepEqual({ ...loaded, source: a.policy.source }, a.policy, JSON.stringify(target));
    const b = buildLearned(workload(), opts(target));
    assert.equal(policyYaml(b.policy, b.report), yaml, 'deterministic');
    assert.match(yaml, /^# Learned by `peregrine learn`/);
    assert.match(yaml, /# files-read \(allow-list for review/);
  }
});

test('scoping: cgroup and binary targets narrow every rule; the learning policy only audits', () => {
  const { policy } = buildLearned(workload(), opts({ binary: '/usr/bin/python3.11' }));
  for (const r of policy.spec.rules) {
    if (r.kinds[0] === 'process.exec')
      assert.deepEqual(r.match.parentBinaries, { in: ['/usr/bin/python3.11'] });
    else assert.deepEqual(r.match.binaries, { in: ['/usr/bin/python3.11'] });
  }
  const cg = buildLearned(workload(), opts({ cgroup: '/x', cgroupId: 77 })).policy;
  for (const r of cg.spec.rules) assert.deepEqual(r.match.cgroupIds, { in: [77] });
  const learning = learningPolicy('learned-web-learning', { container: 'web' });
  assert.ok(learning.spec.rules.every((r) => r.action === 'audit'));
  assert.equal(learning.spec.mode, 'monitor');
});

test('target matchers pick the workload out of a whole node stream', () => {
  const inWeb = ev('process.exec', '/bin/busybox');
  const other = ev('process.exec', '/bin/busybox', { container: undefined });
  assert.ok(targetMatcher({ container: 'web' })(inWeb));
  assert.ok(!targetMatcher({ container: 'web' })(other));
  assert.ok(targetMatcher({ selector: { app: 'web' } })(inWeb));
  assert.ok(!targetMatcher({ selector: { app: 'db' } })(inWeb));
  assert.ok(targetMatcher({ cgroup: '/x', cgroupId: 4242 })(other));
  assert.ok(targetMatcher({ binary: '/bin/busybox' })(other));
});

test("capabilities come from the workload's own binaries, not from a runtime's init acting before the exec", () => {
  const p = workload();
  const init = ev('file.open', '/usr/bin/runc', {
    file: { path: '/proc/1/setgroups', path_source: 'kernel', access: ['read'] },
  });
  init.process.cap.effective = '000001ffffffffff';
  p.observe(init);
  const { policy, report } = buildLearned(p, opts({ container: 'web' }));
  const caps = policy.spec.rules.find((r) => r.name === 'capabilities')?.match.capabilities ?? [];
  assert.ok(caps.includes('CAP_SYS_ADMIN'));
  assert.ok(report.notes.some((n) => n.includes('/usr/bin/runc')));
});
