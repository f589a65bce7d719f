// SPDX-License-Identifier: Apache-2.0
// A sensor object the kernel's verifier rejects does not stop the agent: with
// network.bpf.o (or enforce.bpf.o) replaced by test/fixtures/rejected.bpf.c,
// the agent runs everything else, says in one line what failed and why, and
// attests the rules that needed it unsupported. A rejected process.bpf.o is
// fatal, with one line. Real objects on the real kernel: nothing is mocked.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, type DegradedStatus, type PolicyStatus } from '../../src/agent.js';
import type { Alert, PeregrineEvent } from '../../src/events/types.js';
import type { Policy } from '../../src/policy/types.js';
import { loadRules } from '../../src/rules/index.js';
import { run } from '../process/agent.js';
import { compileBpf, kernelTest, leakGuard, root, waitUntil } from './helpers.js';

const BIN = join(root, 'bin', 'peregrine.js');
// 6.1 and 6.18 word it differently; both name the unchecked map value.
const VERIFIER_REASON = /invalid mem access|map_value_or_null/;
// Under the VM's emulation (about 10x slower) an agent start takes tens of seconds.
const SLOW = { timeout: 600_000 };

const RULES = `- rule: Degraded test connect
  desc: any connect (test/kernel/degraded.test.ts)
  condition: evt.type = connect
  output: connect by %proc.name
  priority: NOTICE
- rule: Degraded test exec
  desc: the test's marker exec
  condition: evt.type = execve and proc.cmdline contains pg-degraded
  output: exec of %proc.cmdline
  priority: NOTICE
`;

const POLICIES = `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: pg-degraded-connect
spec:
  rules:
    - name: connect
      kinds: [network.connect]
---
apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: pg-degraded-exec
spec:
  rules:
    - name: exec
      kinds: [process.exec]
`;

function policy(name: string, rule: Policy['spec']['rules'][number]): Policy {
  return {
    apiVersion: 'peregrine.dev/v1alpha1',
    kind: 'Policy',
    metadata: { name },
    spec: { mode: 'enforce', rules: [rule] },
    source: { file: 'degraded.test.ts' },
  };
}

/** build/bpf/*.bpf.o copied into a new folder, `name`.bpf.o replaced by the object the verifier rejects. */
function objectsWithRejected(name: string): string {
  const rejected = compileBpf(
    join(root, 'test', 'fixtures', 'rejected.bpf.c'),
    join(root, 'build', 'test', 'rejected.bpf.o'),
  );
  const dir = mkdtempSync(join(tmpdir(), `pg-degraded-${name}-`));
  const built = join(root, 'build', 'bpf');
  for (const f of readdirSync(built)) if (f.endsWith('.bpf.o')) copyFileSync(join(built, f), join(dir, f));
  copyFileSync(rejected, join(dir, `${name}.bpf.o`));
  return dir;
}

/** Runs `fn` with the agent's objects taken from `dir` (src/sensors/paths.ts), then restores the default. */
async function withObjects<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  process.env.PEREGRINE_BPF_DIR = dir;
  try {
    return await fn();
  } finally {
    delete process.env.PEREGRINE_BPF_DIR;
  }
}

/** An in-process agent that records its events; `exec` resolves with the exec event of a real command. */
function recordingAgent(opts: ConstructorParameters<typeof Agent>[0]) {
  const events: PeregrineEvent[] = [];
  const alerts: Alert[] = [];
  const seen: DegradedStatus[] = [];
  const agent = new Agent({
    output: 'none',
    socket: false,
    containers: false,
    wakeupBytes: 0,
    pollIntervalMs: 10,
    ...opts,
    onEvent: (ev) => events.push(ev),
    onAlert: (a) => alerts.push(a),
    onDegraded: (s) => seen.push(s),
  });
  const exec = async (marker: string): Promise<PeregrineEvent> => {
    const child = await run('/bin/sh', ['-c', 'true', marker]);
    const end = Date.now() + 60_000;
    for (;;) {
      const ev = events.find((e) => e.kind === 'process.exec' && e.process.pid === child.pid);
      if (ev !== undefined) return ev;
      if (Date.now() > end) throw new Error(`no exec event for pid ${child.pid} (${events.length} events)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { agent, seen, alerts, exec };
}

function rule(list: PolicyStatus[], policyName: string): PolicyStatus['rules'][number] {
  const p = list.find((x) => x.name === policyName);
  assert.ok(p, `policy ${policyName} listed`);
  return p.rules[0];
}

describe('an agent with a sensor object the verifier rejects', kernelTest, () => {
  test(
    'network: the agent runs, names the sensor and the verifier reason, and the network.connect rule is unsupported',
    SLOW,
    async () => {
      const dir = objectsWithRejected('network');
      const guard = leakGuard();
      const rules = loadRules([{ path: 'degraded.yaml', text: RULES }]);
      const { agent, seen, alerts, exec } = recordingAgent({
        rules,
        policies: [
          policy('pg-degraded-connect', {
            name: 'connect',
            kinds: ['network.connect'],
            match: {},
            action: 'audit',
          }),
          policy('pg-degraded-exec', { name: 'exec', kinds: ['process.exec'], match: {}, action: 'audit' }),
        ],
      });
      try {
        await withObjects(dir, async () => {
          const report = await agent.start();
          const failure = report.degraded?.sensors.find((f) => f.sensor === 'network');
          assert.ok(failure, `network listed as degraded: ${JSON.stringify(report.degraded)}`);
          assert.equal(failure.stage, 'load');
          assert.equal(failure.program, 'handle_rejected');
          assert.ok(!failure.reason.includes('\n'), 'one line');
          assert.match(
            failure.reason,
            /^network sensor not loaded: load program handle_rejected: permission denied \(EACCES\): .+ \(hint: .+\)$/,
          );
          assert.match(failure.reason, VERIFIER_REASON);
          assert.ok(failure.kinds.includes('network.connect'));
          assert.ok(seen.length > 0, 'onDegraded told');

          const list = agent.policyStatus();
          const connect = rule(list, 'pg-degraded-connect');
          assert.equal(connect.enforcement, `unsupported (network.connect not observed: ${failure.summary})`);
          assert.equal(list.find((p) => p.name === 'pg-degraded-connect')?.enforcement, 'unsupported');
          assert.equal(rule(list, 'pg-degraded-exec').enforcement, 'audit', 'the exec rule is in force');

          const stats = agent.stats();
          assert.equal(stats.health, 'degraded');
          assert.deepEqual(stats.degraded?.policy_rules, [
            { policy: 'pg-degraded-connect', rule: 'connect', enforcement: connect.enforcement },
          ]);
          assert.equal(stats.degraded?.rules?.blind, 1);
          assert.equal(stats.degraded?.rules?.of, 2);
          assert.deepEqual(stats.degraded?.rules?.names, ['Degraded test connect']);

          // Everything else runs: a real exec is reported, and the detection rule on it fires.
          const ev = await exec('pg-degraded-inproc');
          assert.deepEqual(ev.process.args?.slice(-1), ['pg-degraded-inproc']);
          await until('the exec alert', () =>
            alerts.some(
              (a) => a.rule === 'Degraded test exec' && a.source_event.process.pid === ev.process.pid,
            ),
          );
        });
      } finally {
        await agent.stop();
        rmSync(dir, { recursive: true, force: true });
      }
      guard.check();
    },
  );

  test(
    'enforce: acting rules are unsupported with the reason (not refused), everything else runs',
    SLOW,
    async () => {
      const dir = objectsWithRejected('enforce');
      const guard = leakGuard();
      const { agent, exec } = recordingAgent({
        policies: [
          // fallback defaults to reject: a kernel that cannot kill would refuse it, a failed object must not.
          policy('pg-degraded-kill', {
            name: 'kill',
            kinds: ['process.exec'],
            match: { binaries: { in: ['pg-degraded-none'] } },
            action: 'kill',
          }),
          policy('pg-degraded-exec', { name: 'exec', kinds: ['process.exec'], match: {}, action: 'audit' }),
        ],
      });
      try {
        await withObjects(dir, async () => {
          const report = await agent.start();
          const failure = report.degraded?.sensors.find((f) => f.sensor === 'enforce');
          assert.ok(failure, `enforce listed as degraded: ${JSON.stringify(report.degraded)}`);
          assert.match(failure.reason, /^enforce sensor not loaded: load program handle_rejected: /);
          assert.match(failure.reason, VERIFIER_REASON);
          assert.deepEqual(failure.kinds, [], 'observing sensors are not affected');
          const list = agent.policyStatus();
          assert.equal(rule(list, 'pg-degraded-kill').enforcement, `unsupported (${failure.summary})`);
          assert.equal(rule(list, 'pg-degraded-exec').enforcement, 'audit');
          assert.equal(agent.stats().health, 'degraded');
          await exec('pg-degraded-enforce');
        });
      } finally {
        await agent.stop();
        rmSync(dir, { recursive: true, force: true });
      }
      guard.check();
    },
  );

  test('process: the start fails with one line and leaves nothing open', SLOW, async () => {
    const dir = objectsWithRejected('process');
    const guard = leakGuard();
    try {
      await withObjects(dir, async () => {
        const agent = new Agent({ output: 'none', socket: false, containers: false });
        await assert.rejects(agent.start(), (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.ok(!err.message.includes('\n'), err.message);
          assert.match(err.message, /^process sensor cannot load: /);
          assert.match(err.message, /handle_rejected/);
          return true;
        });
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    guard.check();
  });
});

interface Cli {
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  kill: (signal: NodeJS.Signals) => void;
}

function startCli(args: string[], env: NodeJS.ProcessEnv): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { stdout: () => out, stderr: () => err, exited, kill: (s) => child.kill(s) };
}

/** One CLI command to completion: its exit code and output (a non-zero code is a result here, not an error). */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

const until = (what: string, pred: () => boolean, timeoutMs = 180_000): Promise<void> =>
  waitUntil(what, pred, timeoutMs);

/** Resolves at the agent's startup line; rejects when it exits first or takes longer than 3 minutes. */
function startup(agent: Cli): Promise<void> {
  return new Promise((resolve, reject) => {
    const end = Date.now() + 180_000;
    const timer = setInterval(() => {
      if (agent.stderr().includes('peregrine: running on')) resolve();
      else if (Date.now() > end) reject(new Error(`no startup line after 3 minutes: ${agent.stderr()}`));
      else return;
      clearInterval(timer);
    }, 50);
    void agent.exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`the agent exited ${code}: ${agent.stderr()}`));
    });
  });
}

describe('peregrine run / status with the network object rejected', kernelTest, () => {
  let work: string;
  let objects: string;
  let sock: string;
  let agent: Cli;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pg-degraded-cli-'));
    objects = objectsWithRejected('network');
    sock = join(work, 'control.sock');
    writeFileSync(join(work, 'policies.yaml'), POLICIES);
    writeFileSync(join(work, 'rules.yaml'), RULES);
    const args = ['run', '--output', 'compact', '--socket', sock, '--poll-ms', '10'];
    args.push('--policy', join(work, 'policies.yaml'), '--rules', join(work, 'rules.yaml'));
    agent = startCli(args, { ...process.env, PEREGRINE_BPF_DIR: objects });
    await startup(agent);
  });

  after(async () => {
    agent?.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    rmSync(objects, { recursive: true, force: true });
  });

  test('stderr says which sensor failed and why, which rules are not in force, and the startup line says degraded', () => {
    const lines = agent.stderr().split('\n');
    const sensor = lines.filter((l) => l.startsWith('peregrine: degraded: network sensor'));
    assert.equal(sensor.length, 1, agent.stderr());
    assert.match(
      sensor[0],
      /^peregrine: degraded: network sensor not loaded: load program handle_rejected: permission denied \(EACCES\): .+ \(hint: .+\)$/,
    );
    assert.match(sensor[0], VERIFIER_REASON);
    assert.ok(
      lines.some((l) =>
        l.startsWith(
          'peregrine: degraded: policy pg-degraded-connect, rule connect: not in force: unsupported (network.connect not observed: network sensor not loaded: load program handle_rejected',
        ),
      ),
      agent.stderr(),
    );
    assert.ok(!lines.some((l) => l.includes('policy pg-degraded-exec')), 'the exec rule is in force');
    assert.ok(
      lines.some((l) =>
        l.startsWith('peregrine: degraded: 1 of 2 detection rules cannot see their events (network.connect'),
      ),
      agent.stderr(),
    );
    const startup = lines.find((l) => l.startsWith('peregrine: running on')) ?? '';
    assert.match(
      startup,
      /\(degraded: network sensor not loaded, 1 policy rule not in force, 1 detection rules blind\)/,
    );
  });

  test('status --json lists the failed sensor with its reason and exits 3', SLOW, async () => {
    const res = await cli(['status', '--json', '--socket', sock]);
    assert.equal(res.code, 3, res.stderr);
    const report = JSON.parse(res.stdout) as { agent: { health: string; degraded?: DegradedStatus } };
    assert.equal(report.agent.health, 'degraded');
    const failure = report.agent.degraded?.sensors.find((f) => f.sensor === 'network');
    assert.ok(failure);
    assert.match(failure.reason, /^network sensor not loaded: load program handle_rejected: /);
    assert.match(failure.reason, VERIFIER_REASON);
    const text = await cli(['status', '--socket', sock]);
    assert.equal(text.code, 3);
    assert.match(text.stdout, /DEGRADED/);
    assert.match(text.stdout, /^degraded:\n {2}network sensor not loaded: /m);
  });

  test('policy list attests the network.connect rule unsupported with the reason', SLOW, async () => {
    const res = await cli(['policy', 'list', '--json', '--socket', sock]);
    assert.equal(res.code, 0, res.stderr);
    const list = JSON.parse(res.stdout) as PolicyStatus[];
    assert.match(
      rule(list, 'pg-degraded-connect').enforcement ?? '',
      /^unsupported \(network\.connect not observed: network sensor not loaded: load program handle_rejected/,
    );
    assert.equal(rule(list, 'pg-degraded-exec').enforcement, 'audit');
  });

  test('a real exec is still reported', SLOW, async () => {
    const res = await new Promise<number | null>((resolve) =>
      execFile('/bin/echo', ['pg-degraded-cli-marker'], (err) => resolve(err === null ? 0 : 1)),
    );
    assert.equal(res, 0);
    await until('the exec line', () => agent.stdout().includes('pg-degraded-cli-marker'), 60_000);
    const line = agent
      .stdout()
      .split('\n')
      .find((l) => l.includes('pg-degraded-cli-marker') && l.startsWith('exec'));
    assert.ok(line, agent.stdout().slice(-2000));
  });

  test('SIGTERM ends the degraded run with exit code 3', SLOW, async () => {
    agent.kill('SIGTERM');
    const code = await agent.exited;
    assert.equal(code, 3, agent.stderr().slice(-2000));
    assert.match(agent.stderr(), /peregrine: final counters\ndegraded:\n {2}network sensor not loaded: /);
    assert.match(agent.stderr(), /peregrine: this run was degraded: exit code 3\n$/);
  });
});

describe('peregrine run with the process object rejected', kernelTest, () => {
  test(
    'exits 1 with one line naming the missing features or the verifier reason, no stack trace',
    SLOW,
    async () => {
      const objects = objectsWithRejected('process');
      const work = mkdtempSync(join(tmpdir(), 'pg-degraded-fatal-'));
      try {
        const res = await cli(['run', '--no-rules', '--socket', join(work, 'control.sock')], {
          ...process.env,
          PEREGRINE_BPF_DIR: objects,
        });
        assert.equal(res.code, 1, res.stderr);
        assert.equal(res.stdout, '');
        const lines = res.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, res.stderr);
        // Every probe passes where these tests run, so the verifier's reason is what is left to say.
        assert.match(
          lines[0],
          /^peregrine: process sensor cannot load: (load program handle_rejected: permission denied \(EACCES\): .+ \(hint: .+\)|.*(tp_btf|ring buffer|task iterator) (unsupported|inconclusive) .*)$/,
        );
        if (lines[0].includes('handle_rejected: ')) assert.match(lines[0], VERIFIER_REASON);
      } finally {
        rmSync(objects, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
      }
    },
  );
});
