// SPDX-License-Identifier: Apache-2.0
// The attack scenarios: each performs ONE attacker behaviour with ordinary tools, safely, and names the rule and ATT&CK technique it must trigger.
import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/** One alert a scenario must raise. `comm` is the proc.name of the process the alert's source_event names. */
export interface Expect {
  rule: string;
  priority: string;
  technique: string;
  comm: string;
}

export interface Tools {
  /** The compiled test/scenarios/helper.c (modes: ptrace, capset, setuid, userns, bpf, module). */
  helper: string;
  /** A local HTTP server serving /install.sh (a harmless script). */
  httpPort: number;
  /** A local TCP listener on every address that accepts and later closes connections. */
  tcpPort: number;
  /** A non-loopback address of this host (undefined when it has none). */
  hostIp: string | undefined;
  /** An image `docker run` can start (undefined when docker is unusable). */
  dockerImage: string | undefined;
}

export interface RunResult {
  pid: number;
  code: number | null;
  stderr: string;
}

export interface ScenarioContext {
  /** The scenario's own directory (a realpath): every process it starts runs here, so events name it by cwd. */
  dir: string;
  tools: Tools;
  /** Unique suffix for names the scenario creates outside `dir`. */
  tag: string;
  /** Runs a program to completion in `dir`; `env` is added to the environment. */
  run(file: string, args: string[], env?: Record<string, string>): Promise<RunResult>;
  /** `/bin/sh -c script` in `dir`. */
  sh(script: string, env?: Record<string, string>): Promise<RunResult>;
  /** Registers an undo step; steps run last-in first-out after the scenario, even when it fails. */
  cleanup(fn: () => void): void;
}

export interface Scenario {
  name: string;
  /** What the scenario does, in one line. */
  does: string;
  expect: Expect[];
  /** Why the scenario cannot run here, or undefined. */
  skip?(tools: Tools): string | undefined;
  run(ctx: ScenarioContext): Promise<void>;
}

export const PYTHON = '/usr/bin/python3';
const PY_COMM = (() => {
  try {
    return realpathSync(PYTHON).split('/').pop()?.slice(0, 15) ?? 'python3';
  } catch {
    return 'python3';
  }
})();
const SH_COMM = realpathSync('/bin/sh').split('/').pop() ?? 'sh';

export function spawnIn(
  dir: string,
  file: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: dir,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ pid: child.pid ?? -1, code, stderr }));
  });
}

/** Creates `path` (and missing parents) for the scenario, removing on cleanup only what it created. */
function ensureDir(ctx: ScenarioContext, path: string, mode = 0o700): void {
  if (existsSync(path)) return;
  mkdirSync(path, { mode });
  ctx.cleanup(() => rmdirSync(path));
}

/** Writes a file the scenario owns, removed on cleanup. The file must not exist. */
function ownFile(ctx: ScenarioContext, path: string, text: string, mode = 0o600): void {
  if (existsSync(path)) throw new Error(`${path} exists: refusing to touch it`);
  writeFileSync(path, text, { mode, flag: 'wx' });
  ctx.cleanup(() => rmSync(path, { force: true }));
}

/** A copy of a system binary inside `dir` under `name`. */
function copyBin(dir: string, from: string, name: string): string {
  const to = join(dir, name);
  copyFileSync(from, to);
  chmodSync(to, 0o755);
  return to;
}

const ok = (r: RunResult, what: string): void => {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim()}`);
};

function helperComm(tools: Tools): string {
  return (tools.helper.split('/').pop() ?? '').slice(0, 15);
}

const A = (rule: string, priority: string, technique: string, comm: string): Expect => ({
  rule,
  priority,
  technique,
  comm,
});

export const SCENARIOS: Scenario[] = [
  // --- Persistence / writes to system locations --------------------------------
  {
    name: 'write-below-etc',
    does: 'a shell redirect creates /etc/peregrine-scenario-<tag>',
    expect: [A('Write below etc', 'WARNING', 'T1543', SH_COMM)],
    async run(ctx) {
      const f = `/etc/peregrine-scenario-${ctx.tag}`;
      ctx.cleanup(() => rmSync(f, { force: true }));
      ok(await ctx.sh(`echo backdoor=1 > ${f}`), 'sh');
    },
  },
  {
    name: 'write-below-binary-dir',
    does: 'cp plants a binary as /usr/local/bin/peregrine-scenario-<tag>',
    expect: [A('Write below binary dir', 'ERROR', 'T1554', 'cp')],
    async run(ctx) {
      const f = `/usr/local/bin/peregrine-scenario-${ctx.tag}`;
      ctx.cleanup(() => rmSync(f, { force: true }));
      ok(await ctx.run('cp', ['/bin/true', f]), 'cp');
    },
  },
  {
    name: 'cron-job',
    does: 'a shell writes a job to /etc/cron.d/peregrine-scenario-<tag>',
    expect: [A('Cron job written', 'WARNING', 'T1053.003', SH_COMM)],
    async run(ctx) {
      const f = `/etc/cron.d/peregrine-scenario-${ctx.tag}`;
      ctx.cleanup(() => rmSync(f, { force: true }));
      ok(await ctx.sh(`echo '# * * * * * root true' > ${f}`), 'sh');
    },
  },
  {
    name: 'systemd-unit',
    does: 'cp installs /etc/systemd/system/peregrine-scenario-<tag>.service (never enabled)',
    expect: [A('Systemd unit written', 'WARNING', 'T1543.002', 'cp')],
    async run(ctx) {
      const unit = join(ctx.dir, 'backdoor.service');
      writeFileSync(unit, '[Service]\nExecStart=/bin/true\n');
      const f = `/etc/systemd/system/peregrine-scenario-${ctx.tag}.service`;
      ctx.cleanup(() => rmSync(f, { force: true }));
      ok(await ctx.run('cp', [unit, f]), 'cp');
    },
  },
  {
    name: 'bashrc-append',
    does: "a shell appends a command to a (temporary) HOME's .bashrc",
    expect: [A('Shell startup file modified', 'WARNING', 'T1546.004', SH_COMM)],
    async run(ctx) {
      const home = join(ctx.dir, 'home');
      mkdirSync(home);
      ok(await ctx.sh('echo "nohup $HOME/.x >/dev/null 2>&1 &" >> "$HOME/.bashrc"', { HOME: home }), 'sh');
    },
  },
  {
    name: 'profile-d-script',
    does: 'tee writes /etc/profile.d/peregrine-scenario-<tag>.sh',
    expect: [A('Shell startup file modified', 'WARNING', 'T1546.004', 'tee')],
    async run(ctx) {
      const f = `/etc/profile.d/peregrine-scenario-${ctx.tag}.sh`;
      ctx.cleanup(() => rmSync(f, { force: true }));
      ok(await ctx.run('tee', [f]), 'tee');
    },
  },
  {
    name: 'authorized-keys',
    does: "a shell appends a key to a (temporary) HOME's ~/.ssh/authorized_keys",
    expect: [A('SSH authorized_keys modified', 'WARNING', 'T1098.004', SH_COMM)],
    async run(ctx) {
      const home = join(ctx.dir, 'home');
      mkdirSync(join(home, '.ssh'), { recursive: true });
      ok(
        await ctx.sh(
          'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPeregrineScenario x@y" >> "$HOME/.ssh/authorized_keys"',
          {
            HOME: home,
          },
        ),
        'sh',
      );
    },
  },
  {
    name: 'useradd',
    does: 'useradd --prefix adds an account to a copy of the account files in the scenario dir',
    expect: [A('User or group created', 'WARNING', 'T1136.001', 'useradd')],
    async run(ctx) {
      const etc = join(ctx.dir, 'root', 'etc');
      mkdirSync(etc, { recursive: true });
      for (const f of ['passwd', 'group', 'shadow', 'gshadow']) copyFileSync(`/etc/${f}`, join(etc, f));
      ok(
        await ctx.run('useradd', ['--prefix', join(ctx.dir, 'root'), `pgscn${ctx.tag}`.slice(0, 30)]),
        'useradd',
      );
    },
  },
  {
    name: 'groupadd',
    does: 'groupadd --prefix adds a group to a copy of the group files in the scenario dir',
    expect: [A('User or group created', 'WARNING', 'T1136.001', 'groupadd')],
    async run(ctx) {
      const etc = join(ctx.dir, 'root', 'etc');
      mkdirSync(etc, { recursive: true });
      for (const f of ['passwd', 'group', 'shadow', 'gshadow']) copyFileSync(`/etc/${f}`, join(etc, f));
      ok(
        await ctx.run('groupadd', ['--prefix', join(ctx.dir, 'root'), `pgscn${ctx.tag}`.slice(0, 30)]),
        'groupadd',
      );
    },
  },
  {
    name: 'passwd-open-for-write',
    does: 'python opens /etc/passwd for appending (and writes nothing)',
    expect: [A('Account database written directly', 'ERROR', 'T1136.001', PY_COMM)],
    async run(ctx) {
      ok(await ctx.run(PYTHON, ['-c', "open('/etc/passwd', 'a').close()"]), 'python');
    },
  },

  // --- Credential access --------------------------------------------------------
  {
    name: 'read-shadow',
    does: 'cat reads /etc/shadow',
    expect: [A('Read shadow file by untrusted program', 'WARNING', 'T1003.008', 'cat')],
    async run(ctx) {
      ok(await ctx.run('cat', ['/etc/shadow']), 'cat');
    },
  },
  {
    name: 'read-ssh-private-key',
    does: 'cat reads /root/.ssh/id_peregrine_scenario_<tag> (a file the scenario creates)',
    expect: [A('Read SSH private key by untrusted program', 'WARNING', 'T1552.004', 'cat')],
    async run(ctx) {
      ensureDir(ctx, '/root/.ssh');
      const key = `/root/.ssh/id_peregrine_scenario_${ctx.tag}`;
      ownFile(
        ctx,
        key,
        '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n',
      );
      ok(await ctx.run('cat', [key]), 'cat');
    },
  },
  {
    name: 'read-cloud-credentials',
    does: 'cat reads /root/.aws/credentials (created for the scenario when absent)',
    expect: [A('Read cloud credentials by untrusted program', 'WARNING', 'T1552.001', 'cat')],
    async run(ctx) {
      ensureDir(ctx, '/root/.aws');
      const f = '/root/.aws/credentials';
      if (!existsSync(f)) ownFile(ctx, f, '[default]\naws_access_key_id = AKIAPEREGRINESCENARIO\n');
      ok(await ctx.run('cat', [f]), 'cat');
    },
  },

  // --- Execution: shells, reverse shells, remote execution ----------------------
  {
    name: 'shell-under-server',
    does: 'a process named nginx (a copy of dash) runs `sh -c true`',
    expect: [A('Shell spawned by server process', 'WARNING', 'T1059.004', SH_COMM)],
    async run(ctx) {
      const nginx = copyBin(ctx.dir, realpathSync('/bin/sh'), 'nginx');
      ok(await ctx.run(nginx, ['-c', 'sh -c true; :']), 'nginx');
    },
  },
  {
    name: 'reverse-shell-dev-tcp',
    does: 'bash -c "exec 3<>/dev/tcp/127.0.0.1/PORT" to a local listener',
    expect: [A('Reverse shell', 'CRITICAL', 'T1059.004', 'bash')],
    async run(ctx) {
      ok(
        await ctx.run('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${ctx.tools.tcpPort}; echo id >&3`]),
        'bash',
      );
    },
  },
  {
    name: 'reverse-shell-connect',
    does: "bash runs a script that opens /dev/tcp to this host's non-loopback address (no /dev/tcp in argv)",
    expect: [A('Reverse shell', 'CRITICAL', 'T1059.004', 'bash')],
    skip: (t) => (t.hostIp === undefined ? 'no non-loopback IPv4 address on this host' : undefined),
    async run(ctx) {
      const script = join(ctx.dir, 'rs.sh');
      writeFileSync(script, `exec 3<>/dev/tcp/${ctx.tools.hostIp}/${ctx.tools.tcpPort}\necho id >&3\n`);
      ok(await ctx.run('bash', [script]), 'bash');
    },
  },
  {
    name: 'netcat-exec',
    does: 'nc -e /bin/true to a local listener',
    expect: [A('Netcat or socat remote execution', 'CRITICAL', 'T1059.004', 'nc.traditional')],
    skip: () =>
      existsSync('/bin/nc.traditional') ? undefined : 'nc.traditional (netcat-traditional) not installed',
    async run(ctx) {
      ok(
        await ctx.run('/bin/nc.traditional', [
          '-q',
          '0',
          '-e',
          '/bin/true',
          '127.0.0.1',
          `${ctx.tools.tcpPort}`,
        ]),
        'nc',
      );
    },
  },
  {
    name: 'socat-exec',
    does: 'socat TCP:127.0.0.1:PORT EXEC:/bin/true',
    expect: [A('Netcat or socat remote execution', 'CRITICAL', 'T1059.004', 'socat')],
    skip: () => (existsSync('/usr/bin/socat') ? undefined : 'socat not installed'),
    async run(ctx) {
      ok(await ctx.run('socat', [`TCP:127.0.0.1:${ctx.tools.tcpPort}`, 'EXEC:/bin/true']), 'socat');
    },
  },
  {
    name: 'socat-shell',
    does: 'socat SYSTEM: runs a shell on the connection',
    expect: [A('Netcat or socat remote execution', 'CRITICAL', 'T1059.004', SH_COMM)],
    skip: () => (existsSync('/usr/bin/socat') ? undefined : 'socat not installed'),
    async run(ctx) {
      ok(await ctx.run('socat', [`TCP:127.0.0.1:${ctx.tools.tcpPort}`, 'SYSTEM:true; true']), 'socat');
    },
  },
  {
    name: 'curl-pipe-sh',
    does: 'curl http://127.0.0.1:PORT/install.sh | sh (a local server)',
    expect: [A('Download piped to shell', 'WARNING', 'T1105', SH_COMM)],
    async run(ctx) {
      ok(await ctx.sh(`curl -fsS http://127.0.0.1:${ctx.tools.httpPort}/install.sh | sh`), 'sh');
    },
  },
  {
    name: 'wget-command-substitution',
    does: 'bash -c "$(wget -qO- http://127.0.0.1:PORT/install.sh)"',
    expect: [A('Download piped to shell', 'WARNING', 'T1105', 'bash')],
    async run(ctx) {
      ok(
        await ctx.run('bash', [
          '-c',
          `bash -c "$(wget -qO- http://127.0.0.1:${ctx.tools.httpPort}/install.sh)"; :`,
        ]),
        'bash',
      );
    },
  },

  // --- Privilege escalation -----------------------------------------------------
  {
    name: 'user-namespace',
    does: 'unshare(CLONE_NEWUSER) from the C helper',
    expect: [A('User namespace created', 'WARNING', 'T1068', '<helper>')],
    async run(ctx) {
      ok(await ctx.run(ctx.tools.helper, ['userns']), 'helper userns');
    },
  },
  {
    name: 'capset-file-caps',
    does: 'a copy of the helper given file capabilities (setcap cap_setuid,cap_sys_admin+p) runs as nobody and raises them with capset',
    expect: [A('Capabilities gained by non-root process', 'WARNING', 'T1548', 'capbin')],
    skip: () =>
      existsSync('/usr/sbin/setcap') || existsSync('/sbin/setcap') ? undefined : 'setcap not installed',
    async run(ctx) {
      const bin = copyBin(ctx.dir, ctx.tools.helper, 'capbin');
      chmodSync(ctx.dir, 0o755);
      ok(await ctx.run('setcap', ['cap_setuid,cap_sys_admin+p', bin]), 'setcap');
      ok(
        await ctx.run('setpriv', [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--inh-caps=-all',
          bin,
          'raise',
        ]),
        'setpriv capbin raise',
      );
    },
  },
  {
    name: 'setuid-root-from-nobody',
    does: 'the helper as nobody with CAP_SETUID calls setuid(0)',
    expect: [A('Setuid to root by non-root process', 'CRITICAL', 'T1548.001', '<helper>')],
    async run(ctx) {
      ok(await ctx.run(ctx.tools.helper, ['setuid']), 'helper setuid');
    },
  },
  {
    name: 'setuid-bit',
    does: 'chmod u+s on a copy of /bin/true in the scenario dir',
    expect: [A('Setuid or setgid bit set on file', 'WARNING', 'T1548.001', 'chmod')],
    async run(ctx) {
      const f = copyBin(ctx.dir, '/bin/true', 'rootshell');
      ok(await ctx.run('chmod', ['u+s', f]), 'chmod');
    },
  },
  {
    name: 'ptrace-attach',
    does: 'the helper PTRACE_ATTACHes to a child sleep',
    expect: [A('PTRACE attach to process', 'WARNING', 'T1055.008', '<helper>')],
    async run(ctx) {
      ok(await ctx.run(ctx.tools.helper, ['ptrace']), 'helper ptrace');
    },
  },
  {
    name: 'symlink-to-shadow',
    does: 'ln -s /etc/shadow in the scenario dir',
    expect: [A('Symlink or hardlink over sensitive file', 'WARNING', 'T1548', 'ln')],
    async run(ctx) {
      ok(await ctx.run('ln', ['-s', '/etc/shadow', join(ctx.dir, 'shadow')]), 'ln');
    },
  },
  {
    name: 'hardlink-to-shadow',
    does: 'ln /etc/shadow in the scenario dir (same filesystem), removed after',
    expect: [A('Symlink or hardlink over sensitive file', 'WARNING', 'T1548', 'ln')],
    async run(ctx) {
      const link = join(ctx.dir, 'shadow-hard');
      ctx.cleanup(() => rmSync(link, { force: true }));
      ok(await ctx.run('ln', ['/etc/shadow', link]), 'ln');
    },
  },

  // --- Kernel ---------------------------------------------------------------------
  {
    name: 'kernel-module-load',
    does: 'finit_module() of a file that is not a module (the kernel refuses it)',
    expect: [A('Kernel module loaded', 'WARNING', 'T1547.006', '<helper>')],
    skip: () =>
      existsSync('/proc/modules')
        ? undefined
        : 'kernel built without module support (no /proc/modules, no finit_module tracepoint)',
    async run(ctx) {
      const f = join(ctx.dir, 'rootkit.ko');
      writeFileSync(f, 'not an ELF module\n');
      ok(await ctx.run(ctx.tools.helper, ['module', f]), 'helper module');
    },
  },
  {
    name: 'bpf-prog-load',
    does: 'bpf(BPF_PROG_LOAD) of a two-instruction socket filter from the helper',
    expect: [A('BPF program loaded by unexpected process', 'WARNING', 'T1014', '<helper>')],
    async run(ctx) {
      ok(await ctx.run(ctx.tools.helper, ['bpf']), 'helper bpf');
    },
  },

  // --- Execution from unusual places ----------------------------------------------
  {
    name: 'exec-from-tmp',
    does: 'runs a copy of /bin/true from the scenario dir under /tmp',
    expect: [A('Execution from temporary directory', 'WARNING', 'T1204.002', 'dropper')],
    async run(ctx) {
      ok(await ctx.run(copyBin(ctx.dir, '/bin/true', 'dropper'), []), 'dropper');
    },
  },
  {
    name: 'exec-from-dev-shm',
    does: 'runs a copy of /bin/true from /dev/shm',
    expect: [A('Execution from temporary directory', 'WARNING', 'T1204.002', 'shmdropper')],
    async run(ctx) {
      const shm = mkdtempSync('/dev/shm/pg-scn-');
      ctx.cleanup(() => rmSync(shm, { recursive: true, force: true }));
      ok(await ctx.run(copyBin(shm, '/bin/true', 'shmdropper'), []), 'shmdropper');
    },
  },
  {
    name: 'memfd-exec',
    does: 'python writes /bin/true into memfd_create() and execs /proc/self/fd/N',
    expect: [A('Fileless execution', 'CRITICAL', 'T1620', '<memfd>')],
    async run(ctx) {
      const py = [
        'import os',
        "fd = os.memfd_create('payload', 0)",
        "os.write(fd, open('/bin/true', 'rb').read())",
        "os.execv(f'/proc/self/fd/{fd}', ['payload'])",
      ].join('\n');
      ok(await ctx.run(PYTHON, ['-c', py]), 'python memfd');
    },
  },

  // --- Defense evasion: clearing traces ---------------------------------------------
  {
    name: 'truncate-log',
    does: 'truncate -s 0 /var/log/peregrine-scenario-<tag>.log',
    expect: [A('Clear log files', 'WARNING', 'T1070.002', 'truncate')],
    async run(ctx) {
      const f = `/var/log/peregrine-scenario-${ctx.tag}.log`;
      ownFile(ctx, f, 'Nov 23 sshd[1]: Accepted password for root\n', 0o640);
      ok(await ctx.run('truncate', ['-s', '0', f]), 'truncate');
    },
  },
  {
    name: 'delete-log',
    does: 'rm /var/log/peregrine-scenario-<tag>.log',
    expect: [A('Clear log files', 'WARNING', 'T1070.002', 'rm')],
    async run(ctx) {
      const f = `/var/log/peregrine-scenario-${ctx.tag}.log`;
      ownFile(ctx, f, 'Nov 23 sshd[1]: Accepted password for root\n', 0o640);
      ok(await ctx.run('rm', ['-f', f]), 'rm');
    },
  },
  {
    name: 'delete-shell-history',
    does: 'rm ~/.bash_history in a temporary HOME',
    expect: [A('Clear shell history', 'WARNING', 'T1070.003', 'rm')],
    async run(ctx) {
      const home = join(ctx.dir, 'home');
      mkdirSync(home);
      writeFileSync(join(home, '.bash_history'), 'cat /etc/shadow\n');
      ok(await ctx.sh('rm -f "$HOME/.bash_history"; :', { HOME: home }), 'sh');
    },
  },
  {
    name: 'history-to-dev-null',
    does: 'ln -sf /dev/null ~/.bash_history in a temporary HOME',
    expect: [A('Clear shell history', 'WARNING', 'T1070.003', 'ln')],
    async run(ctx) {
      const home = join(ctx.dir, 'home');
      mkdirSync(home);
      writeFileSync(join(home, '.bash_history'), 'cat /etc/shadow\n');
      ok(await ctx.sh('ln -sf /dev/null "$HOME/.bash_history"; :', { HOME: home }), 'sh');
    },
  },

  // --- Container escape -------------------------------------------------------------
  {
    name: 'release-agent-open',
    does: 'python opens a cgroup v1 release_agent for writing (and writes nothing)',
    expect: [A('Container escape via release_agent', 'CRITICAL', 'T1611', PY_COMM)],
    skip: () => (releaseAgent() === undefined ? 'no cgroup v1 release_agent on this host' : undefined),
    async run(ctx) {
      const py = `import os; os.close(os.open(${JSON.stringify(releaseAgent())}, os.O_WRONLY))`;
      ok(await ctx.run(PYTHON, ['-c', py]), 'python');
    },
  },
  {
    name: 'core-pattern-open',
    does: 'python opens /proc/sys/kernel/core_pattern for writing (and writes nothing)',
    expect: [A('Kernel tunable written for escape', 'ERROR', 'T1611', PY_COMM)],
    async run(ctx) {
      const before = readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
      ok(
        await ctx.run(PYTHON, [
          '-c',
          "import os; os.close(os.open('/proc/sys/kernel/core_pattern', os.O_WRONLY))",
        ]),
        'python',
      );
      if (readFileSync('/proc/sys/kernel/core_pattern', 'utf8') !== before)
        throw new Error('core_pattern changed');
    },
  },
  {
    name: 'container-mounts-host-disk',
    does: "a privileged container mounts the host's root block device read-only, then unmounts it",
    expect: [A('Host filesystem mounted from container', 'CRITICAL', 'T1611', 'mount')],
    skip: (t) =>
      t.dockerImage === undefined
        ? 'docker, a local busybox/alpine image, or privileged containers are not available'
        : undefined,
    async run(ctx) {
      const dev = rootDevice();
      if (dev === undefined) throw new Error('root block device not found');
      ok(
        await ctx.run('docker', [
          'run',
          '--rm',
          '--privileged',
          '--network',
          'none',
          String(ctx.tools.dockerImage),
          'sh',
          '-c',
          `mkdir -p /host && mount -o ro ${dev} /host && umount /host`,
        ]),
        'docker run',
      );
    },
  },

  // --- Discovery and impact -----------------------------------------------------------
  {
    name: 'recon-burst',
    does: 'a shell runs id, whoami, uname -a and hostname in a row',
    expect: [
      A('Discovery command executed', 'NOTICE', 'T1082', 'id'),
      A('Discovery command executed', 'NOTICE', 'T1082', 'whoami'),
      A('Discovery command executed', 'NOTICE', 'T1082', 'uname'),
      A('Discovery command executed', 'NOTICE', 'T1082', 'hostname'),
    ],
    async run(ctx) {
      ok(await ctx.sh('id; whoami; uname -a; hostname; :'), 'sh');
    },
  },
  {
    name: 'miner-binary',
    does: 'runs a copy of /bin/true named xmrig',
    expect: [A('Crypto miner executed', 'CRITICAL', 'T1496', 'xmrig')],
    async run(ctx) {
      ok(await ctx.run(copyBin(ctx.dir, '/bin/true', 'xmrig'), []), 'xmrig');
    },
  },
  {
    name: 'miner-stratum-args',
    does: 'runs /bin/true with a stratum+tcp:// pool URL and --donate-level',
    expect: [A('Crypto miner executed', 'CRITICAL', 'T1496', 'true')],
    async run(ctx) {
      ok(
        await ctx.run('/bin/true', [
          '-o',
          'stratum+tcp://pool.example.invalid:3333',
          '-u',
          'wallet',
          '--donate-level',
          '1',
        ]),
        'true',
      );
    },
  },
  {
    name: 'mining-pool-port',
    does: 'python connects (0.3 s timeout) to 198.51.100.7:3333, a documentation address',
    expect: [A('Connection to mining pool port', 'WARNING', 'T1496', PY_COMM)],
    async run(ctx) {
      const py = [
        'import socket',
        's = socket.socket()',
        's.settimeout(0.3)',
        'try:',
        "    s.connect(('198.51.100.7', 3333))",
        'except OSError:',
        '    pass',
      ].join('\n');
      ok(await ctx.run(PYTHON, ['-c', py]), 'python');
    },
  },
];

/** A cgroup v1 hierarchy's release_agent, if any. */
export function releaseAgent(): string | undefined {
  for (const c of [
    'cpu',
    'memory',
    'pids',
    'blkio',
    'devices',
    'freezer',
    'cpuset',
    'perf_event',
    'net_cls',
  ]) {
    const p = `/sys/fs/cgroup/${c}/release_agent`;
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The block device mounted at / (from /proc/self/mounts). */
function rootDevice(): string | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [dev, dir] = line.split(' ');
    if (dir === '/' && dev?.startsWith('/dev/')) return dev;
  }
  return undefined;
}

/** The proc.name an expectation names once the tools are known. */
export function expectedComm(e: Expect, tools: Tools): string {
  return e.comm === '<helper>' ? helperComm(tools) : e.comm;
}
