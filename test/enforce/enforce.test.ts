// SPDX-License-Identifier: Apache-2.0
// Enforcement against the real kernel: cgroup deny of connect and bind for one
// binary (python3) while another (node) goes through, exec kill of a binary
// under /tmp (exit 137, its marker never written), monitor mode counting the
// would-be action, a live enforce↔monitor switch, and this kernel's attestation.
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { probeOnce } from '../../src/enforce/index.js';
import type { PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import { loadPolicyPath } from '../../src/policy/load.js';
import type { Policy, PolicyRule } from '../../src/policy/types.js';
import { findPython, kernelTest, listen, portOf, root, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const PYTHON = findPython();
const skip = kernelTest.skip || (PYTHON === undefined ? 'python3 not found' : false);

function policy(name: string, mode: 'enforce' | 'monitor', rules: PolicyRule[]): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: { mode, rules },
    source: { file: 'enforce.test.ts' },
  };
}

/** python3 connects (or binds) and prints the errno it got, then proves it still runs by printing "alive". */
const PY = `
import errno, socket, sys
op, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    if op == 'connect':
        s.connect(('127.0.0.1', port))
    else:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
print('alive')
`;

async function py(op: 'connect' | 'bind', port: number): Promise<string[]> {
  const { stdout } = await promisify(execFile)(PYTHON as string, ['-c', PY, op, String(port)]);
  return stdout.trim().split('\n');
}

function nodeConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    s.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve('ok');
    });
  });
}

describe('enforcement (cgroup deny, exec kill, monitor, attestation)', { skip }, () => {
  let rec: RecordingAgent;
  let srv: Server;
  let port: number;
  let dir: string;

  const denyConnect = (mode: 'enforce' | 'monitor') =>
    policy('deny-py-connect', mode, [
      {
        name: 'no-connect',
        kinds: ['network.connect'],
        match: {
          binaries: { in: [PYTHON as string] },
          ports: { in: [port] },
          addresses: { in: ['127.0.0.1/32'] },
        },
        action: 'deny',
      },
    ]);

  before(async () => {
    srv = await listen();
    port = portOf(srv);
    dir = mkdtempSync(join(tmpdir(), 'pg-enforce-'));
    rec = await startAgent({ policies: [] });
  });

  after(async () => {
    await rec?.stop();
    srv?.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, `handles left: ${JSON.stringify(openHandles())}`);
  });

  test('deny connect: python3 gets EPERM and keeps running, node connects, one event with the action', async () => {
    rec.agent.applyPolicies([denyConnect('enforce')]);
    assert.deepEqual(await py('connect', port), ['EPERM', 'alive']);
    assert.equal(await nodeConnect(port), 'ok');
    const ev = await rec.waitFor(
      (e) => e.action !== undefined && e.kind === 'network.connect' && e.network?.remote_port === port,
      5000,
      'enforcement event',
    );
    assert.deepEqual(ev.action, { taken: 'deny', backend: 'cgroup/connect4' });
    assert.equal(ev.policy?.name, 'deny-py-connect');
    assert.equal(ev.network?.remote_address, '127.0.0.1');
    await sleep(200);
    // The network sensor's record of the same connect does not repeat the rule.
    const same = rec.events.filter(
      (e) =>
        e.kind === 'network.connect' &&
        e.network?.remote_port === port &&
        e.policy?.names?.includes('deny-py-connect'),
    );
    assert.equal(same.length, 1, `events for the rule: ${JSON.stringify(same)}`);
    const st = rec.agent.policyStatus().find((p) => p.name === 'deny-py-connect');
    assert.equal(st?.rules[0].enforcement, 'enforced (cgroup/connect4, cgroup/connect6, cgroup/sock_create)');
    assert.ok((st?.rules[0].actions?.taken ?? 0) >= 1);
  });

  test('monitor mode: nothing denied, the would-be deny counted and reported; switching back is live', async () => {
    rec.agent.applyPolicies([denyConnect('monitor')]);
    const before = rec.agent.policyStatus()[0].rules[0].actions?.would ?? 0;
    assert.deepEqual(await py('connect', port), ['ok', 'alive']);
    const ev = await rec.waitFor(
      (e) => e.action?.taken === 'none' && e.network?.remote_port === port,
      5000,
      'would-be event',
    );
    assert.deepEqual(ev.action, { taken: 'none', would: 'deny', backend: 'cgroup/connect4' });
    const st = rec.agent.policyStatus()[0];
    assert.match(st.rules[0].enforcement ?? '', /^monitor \(would deny/);
    assert.equal(st.rules[0].actions?.would, before + 1);
    // enforce again: a map update (generation flip), the programs stay attached
    const linksBefore = rec.agent.stats().sensors.enforce as Record<string, number>;
    rec.agent.applyPolicies([denyConnect('enforce')]);
    assert.deepEqual(await py('connect', port), ['EPERM', 'alive']);
    const linksAfter = rec.agent.stats().sensors.enforce as Record<string, number>;
    assert.equal(linksAfter.links, linksBefore.links);
    rec.agent.applyPolicies([]);
    assert.deepEqual(await py('connect', port), ['ok', 'alive']);
  });

  test('deny bind for python3 only', async () => {
    const bport = 20000 + Math.floor(Math.random() * 20000);
    rec.agent.applyPolicies([
      policy('deny-py-bind', 'enforce', [
        {
          name: 'no-bind',
          kinds: ['network.bind'],
          match: { binaries: { in: [PYTHON as string] }, ports: { in: [bport] } },
          action: 'deny',
        },
      ]),
    ]);
    assert.deepEqual(await py('bind', bport), ['EPERM', 'alive']);
    const other = createServer();
    await new Promise<void>((resolve, reject) => {
      other.once('error', reject);
      other.listen(bport, '127.0.0.1', () => resolve());
    });
    other.close();
    const ev = await rec.waitFor(
      (e) => e.kind === 'network.bind' && e.action !== undefined,
      5000,
      'bind event',
    );
    assert.deepEqual(ev.action, { taken: 'deny', backend: 'cgroup/bind4' });
    assert.equal(ev.network?.local_port, bport);
    // slot 0 had other rules before: its counters start again for this one
    assert.deepEqual(rec.agent.policyStatus()[0].rules[0].actions, { taken: 1, would: 0 });
    rec.agent.applyPolicies([]);
  });

  test('kill exec under /tmp: exit by SIGKILL (137 in a shell), the marker never written', async () => {
    const bin = join(dir, 'sh-copy');
    copyFileSync('/bin/sh', bin);
    chmodSync(bin, 0o755);
    const marker = join(dir, 'marker');
    rec.agent.applyPolicies([
      policy('kill-tmp-exec', 'enforce', [
        {
          name: 'tmp-exec',
          kinds: ['process.exec'],
          match: { paths: { prefix: [`${dir}/`] } },
          action: 'kill',
        },
      ]),
    ]);
    const { status } = await new Promise<{ status: number | null }>((resolve) => {
      const c = spawn('/bin/sh', ['-c', `${bin} -c 'echo x > ${marker}'; echo $?`], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
      });
      c.once('exit', () => resolve({ status: Number(out.trim()) }));
    });
    assert.equal(status, 137);
    assert.equal(existsSync(marker), false, 'the killed image ran');
    // Directly: the child dies by SIGKILL.
    const direct = await new Promise<NodeJS.Signals | null>((resolve) => {
      const c = spawn(bin, ['-c', `echo x > ${marker}`], { stdio: 'ignore' });
      c.once('exit', (_code, sig) => resolve(sig));
    });
    assert.equal(direct, 'SIGKILL');
    assert.equal(existsSync(marker), false);
    const ev = await rec.waitFor(
      (e) => e.kind === 'process.exec' && e.action?.taken === 'kill',
      5000,
      'kill event',
    );
    assert.equal(ev.action?.backend, 'tp_btf/sched_process_exec');
    // /bin/sh itself still runs
    const ok = await new Promise<number | null>((resolve) => {
      const c = spawn('/bin/sh', ['-c', 'exit 3'], { stdio: 'ignore' });
      c.once('exit', (code) => resolve(code));
    });
    assert.equal(ok, 3);
    rec.agent.applyPolicies([]);
  });

  test('kill open by access: creating a file under the directory kills python3 before its write; reading there lives', async () => {
    const existing = join(dir, 'existing');
    writeFileSync(existing, 'data');
    const created = join(dir, 'created');
    rec.agent.applyPolicies([
      policy('kill-create', 'enforce', [
        {
          name: 'no-create',
          kinds: ['file.open'],
          match: { paths: { prefix: [`${dir}/`] }, access: ['create'] },
          action: 'kill',
        },
      ]),
    ]);
    const st = rec.agent.policyStatus()[0];
    assert.match(st.rules[0].enforcement ?? '', /^enforced \(.*tracepoint\/syscalls\/sys_exit_openat/);
    // A kill rule left behind would kill this test process at its next create under dir.
    try {
      const open = (path: string, write: boolean): Promise<{ sig: NodeJS.Signals | null; out: string }> =>
        new Promise((resolve) => {
          const py = write
            ? "import os, sys\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)\nos.write(fd, b'written')\nprint('alive')"
            : "import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nos.read(fd, 4)\nprint('alive')";
          const c = spawn(PYTHON as string, ['-c', py, path], { stdio: ['ignore', 'pipe', 'ignore'] });
          let out = '';
          c.stdout.on('data', (d) => {
            out += d;
          });
          c.once('exit', (_code, sig) => resolve({ sig, out: out.trim() }));
        });
      const createdRun = await open(created, true);
      assert.equal(createdRun.sig, 'SIGKILL');
      // The open itself happened (the file exists), but the process never wrote through the fd.
      assert.equal(readFileSync(created, 'utf8'), '');
      assert.deepEqual(await open(existing, false), { sig: null, out: 'alive' });
      const ev = await rec.waitFor(
        (e) => e.kind === 'file.open' && e.action?.taken === 'kill' && e.file?.path === created,
        5000,
        'open kill event',
      );
      assert.equal(ev.action?.backend, 'tracepoint/syscalls/sys_exit_openat');
    } finally {
      rec.agent.applyPolicies([]);
    }
  });

  test('signal action: the new image gets the named signal first (SIGUSR1 terminates it)', async () => {
    const bin = join(dir, 'sh-signal');
    copyFileSync('/bin/sh', bin);
    chmodSync(bin, 0o755);
    rec.agent.applyPolicies([
      policy('signal-tmp-exec', 'enforce', [
        {
          name: 'usr1',
          kinds: ['process.exec'],
          match: { paths: { exact: [bin] } },
          action: 'signal',
          signal: 'SIGUSR1',
        },
      ]),
    ]);
    const sig = await new Promise<NodeJS.Signals | null>((resolve) => {
      const c = spawn(bin, ['-c', `echo x > ${join(dir, 'usr1-marker')}`], { stdio: 'ignore' });
      c.once('exit', (_code, s) => resolve(s));
    });
    assert.equal(sig, 'SIGUSR1');
    assert.equal(existsSync(join(dir, 'usr1-marker')), false);
    const ev = await rec.waitFor((e) => e.action?.taken === 'signal', 5000, 'signal event');
    assert.equal(ev.action?.backend, 'tp_btf/sched_process_exec');
    rec.agent.applyPolicies([]);
  });

  test('examples: curl is cut off the network and exits on its own; node still connects', async () => {
    const [block] = loadPolicyPath(join(root, 'examples', 'policies', 'block-curl-network.yaml'));
    rec.agent.applyPolicies([block]);
    const st = rec.agent.policyStatus()[0];
    assert.match(
      st.rules[0].enforcement ?? '',
      /^enforced \(cgroup\/connect4, cgroup\/connect6, cgroup\/sock_create/,
    );
    const curl = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const c = spawn('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
      c.once('exit', (code, signal) => resolve({ code, signal }));
    });
    // 7: "failed to connect" (socket() itself got EPERM from cgroup/sock_create); not killed.
    assert.equal(curl.signal, null);
    assert.equal(curl.code, 7);
    assert.equal(await nodeConnect(port), 'ok');
    const ev = await rec.waitFor(
      (e) => e.action?.taken === 'deny' && e.process.binary.endsWith('/curl'),
      5000,
    );
    assert.equal(ev.policy?.name, 'block-curl-network');
    // protect-etc-passwd says honestly what it does on this kernel.
    const [passwd] = loadPolicyPath(join(root, 'examples', 'policies', 'protect-etc-passwd.yaml'));
    rec.agent.applyPolicies([passwd]);
    const text = rec.agent.policyStatus()[0].rules[0].enforcement ?? '';
    if ((await probeOnce()).lsm.status === 'supported') assert.equal(text, 'enforced (lsm/file_open)');
    else assert.match(text, /^degraded \(asked deny, doing kill; tracepoint\/syscalls\/sys_exit_openat\)$/);
    rec.agent.applyPolicies([]);
  });

  test('self-protection: a signal aimed at the agent and bpf() on its pin directory raise alerts', async () => {
    // The agent runs in this process: catch SIGINT so the probe signal is harmless.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    try {
      execFileSync('/bin/kill', ['-INT', String(process.pid)]);
      await sleep(300);
      // OBJ_GET of a (missing) path under the pin directory: the attempt is what counts.
      try {
        execFileSync('bpftool', ['map', 'show', 'pinned', '/sys/fs/bpf/peregrine/maps/pg_f_actions'], {
          stdio: 'ignore',
        });
      } catch {
        // no such pin: bpftool fails after the bpf() call
      }
      const deadline = Date.now() + 5000;
      const want = () =>
        rec.alerts.some(
          (a) => a.rule === 'Agent tampering' && /^signal 2 sent to the agent/.test(a.output),
        ) && rec.alerts.some((a) => a.rule === 'Agent tampering' && /^bpf\(\) command 7 /.test(a.output));
      while (!want() && Date.now() < deadline) await sleep(50);
      assert.ok(want(), JSON.stringify(rec.alerts.map((a) => a.output)));
      const sig = rec.alerts.find((a) => /^signal 2/.test(a.output));
      assert.equal(sig?.priority, 'CRITICAL');
      assert.match(sig?.output ?? '', /by kill \(pid \d+\)/);
    } finally {
      process.off('SIGINT', ignore);
    }
  });

  test('attestation matches this kernel: LSM-only denies are never enforced without BPF-LSM', async () => {
    const features = await probeOnce();
    const lsm = features.lsm.status === 'supported';
    const file = (fallback: 'kill' | 'audit' | 'reject'): Policy =>
      policy(`passwd-${fallback}`, 'enforce', [
        {
          name: 'no-write',
          kinds: ['file.open'],
          match: { paths: { exact: [join(dir, 'passwd')] }, access: ['write'] },
          action: 'deny',
          fallback,
        },
      ]);
    if (lsm) {
      rec.agent.applyPolicies([file('reject')]);
      assert.equal(rec.agent.policyStatus()[0].rules[0].enforcement, 'enforced (lsm/file_open)');
      rec.agent.applyPolicies([]);
      return;
    }
    rec.agent.applyPolicies([file('kill')]);
    const st = rec.agent.policyStatus()[0];
    assert.match(
      st.rules[0].enforcement ?? '',
      /^degraded \(asked deny, doing kill; tracepoint\/syscalls\/sys_exit_openat\)$/,
    );
    assert.equal(st.enforcement, 'degraded');
    rec.agent.applyPolicies([file('audit')]);
    assert.match(
      rec.agent.policyStatus()[0].rules[0].enforcement ?? '',
      /^audit \(asked deny: deny on file.open needs BPF-LSM/,
    );
    assert.throws(() => rec.agent.applyPolicies([file('reject')]), /fallback: reject/);
    // a refused policy changes nothing: the previous one stays
    assert.equal(rec.agent.policyStatus()[0].name, 'passwd-audit');
    // the degraded kill really kills the opener before it uses the fd
    rec.agent.applyPolicies([file('kill')]);
    const target = join(dir, 'passwd');
    const r = await new Promise<NodeJS.Signals | null>((resolve) => {
      const c = spawn(PYTHON as string, ['-c', `open(${JSON.stringify(target)}, 'w').write('owned')`], {
        stdio: 'ignore',
      });
      c.once('exit', (_c, sig) => resolve(sig));
    });
    assert.equal(r, 'SIGKILL');
    const ev = await rec.waitFor(
      (e: PeregrineEvent) => e.kind === 'file.open' && e.action?.taken === 'kill' && e.file?.path === target,
      5000,
      `kill event for ${target}`,
    );
    assert.equal(ev.action?.backend, 'tracepoint/syscalls/sys_exit_openat');
    rec.agent.applyPolicies([]);
  });
});
