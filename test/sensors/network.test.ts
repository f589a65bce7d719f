// SPDX-License-Identifier: Apache-2.0
// The network sensor against the real kernel: python3 sockets on loopback
// (v4, v6, unix, UDP) under real policies, exact events, kernel-side filtering.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { EventKind, NetworkInfo, PeregrineEvent } from '../../src/events/types.js';
import { openHandles } from '../../src/kernel/index.js';
import type { Policy, RuleMatch } from '../../src/policy/types.js';
import { findPython, kernelTest, sleep } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

/** The real python binary (not a pyenv shim script): what the kernel reports as the process's binary. */

const PYTHON = findPython();
const skip = kernelTest.skip || (PYTHON === undefined ? 'python3 not found' : false);

function policy(name: string, kinds: EventKind[], match: RuleMatch = {}): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    // Only the test's python: other processes on the host never reach user space.
    spec: {
      mode: 'monitor',
      rules: [
        { name: 'r', kinds, match: { binaries: { in: [PYTHON as string] }, ...match }, action: 'audit' },
      ],
    },
    source: { file: 'network.test.ts' },
  };
}

const ALL: EventKind[] = [
  'network.connect',
  'network.accept',
  'network.bind',
  'network.listen',
  'network.send',
];

/** Server and client in one python process; prints JSON with the ports and the accepted fd. */
const TCP = `
import json, os, socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
host = sys.argv[2]
srv = socket.socket(fam, socket.SOCK_STREAM)
srv.bind((host, 0))
srv.listen(4)
port = srv.getsockname()[1]
cli = socket.socket(fam, socket.SOCK_STREAM)
cli.connect((host, port))
conn, peer = srv.accept()
print(json.dumps({"pid": os.getpid(), "port": port, "cport": cli.getsockname()[1], "fd": conn.fileno()}))
`;

interface TcpRun {
  pid: number;
  port: number;
  cport: number;
  fd: number;
}

async function python(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(PYTHON as string, ['-c', script, ...args], {
    encoding: 'utf8',
  });
  return stdout;
}

function net(
  family: NetworkInfo['family'],
  protocol: string,
  local: [string, number],
  remote: [string, number],
): NetworkInfo {
  return {
    family,
    protocol,
    local_address: local[0],
    local_port: local[1],
    remote_address: remote[0],
    remote_port: remote[1],
  };
}

describe('network sensor', { skip }, () => {
  let a: RecordingAgent;
  let scratch: string;

  const of = (pid: number, kind: EventKind) => (e: PeregrineEvent) =>
    e.kind === kind && e.process.pid === pid;
  const counters = () => a.agent.stats().sensors.network as Record<string, number>;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'pg-net-'));
    a = await startAgent({ policies: [policy('net-all', ALL)] });
  });

  after(async () => {
    await a?.stop();
    rmSync(scratch, { recursive: true, force: true });
    assert.equal(openHandles().total, 0, 'every kernel handle is closed after stop');
  });

  for (const [v, host, any] of [
    ['4', '127.0.0.1', '0.0.0.0'],
    ['6', '::1', '::'],
  ] as const) {
    test(`TCP over ${host}: bind, listen, connect, accept with both ends from the kernel socket`, async () => {
      a.agent.applyPolicies([policy('net-all', ALL)]);
      const r = JSON.parse(await python(TCP, v, host)) as TcpRun;
      const family = v === '4' ? 'inet' : 'inet6';
      const bind = await a.waitFor(of(r.pid, 'network.bind'), 5000, 'bind');
      const listen = await a.waitFor(of(r.pid, 'network.listen'), 5000, 'listen');
      const connect = await a.waitFor(of(r.pid, 'network.connect'), 5000, 'connect');
      const accept = await a.waitFor(of(r.pid, 'network.accept'), 5000, 'accept');

      assert.deepEqual(bind.network, net(family, 'tcp', [host, r.port], [any, 0]));
      assert.equal(bind.return_code, 0);
      assert.deepEqual(listen.network, net(family, 'tcp', [host, r.port], [any, 0]));
      assert.equal(listen.return_code, 0);
      assert.deepEqual(connect.network, net(family, 'tcp', [host, r.cport], [host, r.port]));
      assert.equal(connect.return_code, 0);
      assert.deepEqual(accept.network, net(family, 'tcp', [host, r.port], [host, r.cport]));
      assert.equal(accept.return_code, r.fd, 'accept returns the new fd');
      for (const ev of [bind, listen, connect, accept]) {
        assert.equal(ev.process.binary, PYTHON);
        assert.equal(ev.process.pid, r.pid);
        assert.equal(ev.parent?.pid, process.pid);
        assert.deepEqual(ev.policy, { name: 'net-all', names: ['net-all'] });
      }
    });
  }

  test('a UDP send to 127.0.0.1:53 gives one network.send per peer (no server needed)', async () => {
    a.agent.applyPolicies([policy('dns', ['network.send'], { ports: { in: [53] } })]);
    const out = await python(`
import json, os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"\\x12\\x34", ("127.0.0.1", 53))
s.sendto(b"\\x12\\x35", ("127.0.0.1", 53))
s.sendto(b"\\x12\\x36", ("127.0.0.1", 5353))
print(json.dumps({"pid": os.getpid(), "port": s.getsockname()[1]}))
`);
    const r = JSON.parse(out) as { pid: number; port: number };
    const send = await a.waitFor(of(r.pid, 'network.send'), 5000, 'send');
    assert.deepEqual(send.network, net('inet', 'udp', ['0.0.0.0', r.port], ['127.0.0.1', 53]));
    assert.equal(send.return_code, 2, 'sendto returns the bytes sent');
    assert.equal(send.process.binary, PYTHON);
    assert.deepEqual(send.policy, { name: 'dns', names: ['dns'] });
    await sleep(200);
    const sends = a.events.filter(of(r.pid, 'network.send'));
    assert.equal(sends.length, 1, 'the repeated peer and port 5353 (not in the rule) give no record');
  });

  test('a connect to a port not in the rule yields no record; the kernel counts it filtered', async () => {
    a.agent.applyPolicies([
      policy('ssh-only', ['network.connect'], { ports: { in: [22] } }),
      policy('binds', ['network.bind']),
    ]);
    const before = counters();
    const r = JSON.parse(await python(TCP, '4', '127.0.0.1')) as TcpRun;
    // The bind came before the connect in the same thread; once it is here, a connect record would be too.
    await a.waitFor(of(r.pid, 'network.bind'), 5000, 'bind');
    await sleep(100);
    assert.equal(a.events.filter(of(r.pid, 'network.connect')).length, 0);
    const now = counters();
    assert.ok(
      now.kernel_filtered_sock > before.kernel_filtered_sock,
      `filtered_sock ${before.kernel_filtered_sock} → ${now.kernel_filtered_sock}`,
    );
  });

  test('a CIDR rule (127.0.0.0/8) matches a v4 connect and not a v6 one', async () => {
    a.agent.applyPolicies([
      policy('loopback4', ['network.connect'], { addresses: { in: ['127.0.0.0/8'] } }),
      policy('binds', ['network.bind']),
    ]);
    const v4 = JSON.parse(await python(TCP, '4', '127.0.0.1')) as TcpRun;
    const c4 = await a.waitFor(of(v4.pid, 'network.connect'), 5000, 'v4 connect');
    assert.deepEqual(c4.network, net('inet', 'tcp', ['127.0.0.1', v4.cport], ['127.0.0.1', v4.port]));
    assert.deepEqual(c4.policy, { name: 'loopback4', names: ['loopback4'] });

    const before = counters();
    const v6 = JSON.parse(await python(TCP, '6', '::1')) as TcpRun;
    await a.waitFor(of(v6.pid, 'network.bind'), 5000, 'v6 bind');
    await sleep(100);
    assert.equal(a.events.filter(of(v6.pid, 'network.connect')).length, 0, 'no v6 connect record');
    const now = counters();
    assert.ok(now.kernel_filtered_sock > before.kernel_filtered_sock);
    assert.equal(now.kernel_drops, 0);
  });

  test('unix stream sockets: the path from the kernel, on bind, listen, connect and accept', async () => {
    a.agent.applyPolicies([policy('net-all', ALL)]);
    const path = join(scratch, 'pg.sock');
    const out = await python(
      `
import json, os, socket, sys
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1])
srv.listen(1)
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(sys.argv[1])
conn, _ = srv.accept()
print(json.dumps({"pid": os.getpid()}))
`,
      path,
    );
    const { pid } = JSON.parse(out) as { pid: number };
    const bind = await a.waitFor(of(pid, 'network.bind'), 5000, 'bind');
    const listen = await a.waitFor(of(pid, 'network.listen'), 5000, 'listen');
    const connect = await a.waitFor(of(pid, 'network.connect'), 5000, 'connect');
    const accept = await a.waitFor(of(pid, 'network.accept'), 5000, 'accept');
    assert.deepEqual(bind.network, net('unix', 'stream', [path, 0], ['', 0]));
    assert.deepEqual(listen.network, net('unix', 'stream', [path, 0], ['', 0]));
    assert.deepEqual(connect.network, net('unix', 'stream', ['', 0], [path, 0]));
    assert.deepEqual(accept.network, net('unix', 'stream', [path, 0], ['', 0]));
  });

  test('a failed connect reports the errno and the address the caller asked for', async () => {
    a.agent.applyPolicies([policy('net-all', ALL)]);
    // Port 1 on loopback: nothing listens, the kernel answers RST → ECONNREFUSED.
    const out = await python(`
import errno, json, os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(("127.0.0.1", 1))
    code = 0
except OSError as e:
    code = e.errno
print(json.dumps({"pid": os.getpid(), "errno": code}))
`);
    const r = JSON.parse(out) as { pid: number; errno: number };
    assert.equal(r.errno, 111);
    const ev = await a.waitFor(of(r.pid, 'network.connect'), 5000, 'connect');
    assert.equal(ev.return_code, -111);
    assert.equal(ev.network?.remote_address, '127.0.0.1');
    assert.equal(ev.network?.remote_port, 1);
  });
});
