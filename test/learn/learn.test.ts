// SPDX-License-Identifier: Apache-2.0
// Least privilege from observation on a real container: learn a workload through the agent, replay it
// in monitor mode with no would-be action, promote, see an attack in that container killed (and
// nothing outside it), then drive the safety net until the policy rolls itself back to monitor.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PolicyStatus } from '../../src/agent.js';
import { controlRequest } from '../../src/api/control.js';
import { learnCommand } from '../../src/cli/learn.js';
import { policyCommand } from '../../src/cli/policy.js';
import { formatEnforcement } from '../../src/cli/status.js';
import { loadPolicyText } from '../../src/policy/load.js';
import { run, setupRecipe, tryRun } from '../container/recipe.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const prepared = setupRecipe();
let skip: string | false = 'skip' in prepared ? prepared.skip : false;
const env: NodeJS.ProcessEnv = 'env' in prepared ? { ...process.env, ...prepared.env } : process.env;
const IMG = env.IMG_BUSYBOX ?? 'localhost/peregrine-busybox:latest';
if (skip === false) {
  try {
    run('docker', ['info', '--format', '{{.ServerVersion}}'], env, 20_000);
  } catch {
    skip = 'docker from the container recipe is not answering';
  }
}

const sfx = Math.random().toString(16).slice(2, 8);
const NAME = `pg-learn-${sfx}`;
const POLICY = `learned-${NAME}`;

/**
 * The workload: reads its config, lists a directory, writes a scratch file,
 * serves one request on :8080 and makes it, all with busybox applets.
 */
const WORKLOAD = [
  'cat /etc/hosts /etc/passwd >/dev/null',
  'ls /usr >/dev/null',
  'echo hi > /tmp/out.$$',
  '(nc -l -p 8080 >/dev/null &)',
  'sleep 0.3',
  'echo ping | nc 127.0.0.1 8080',
  'rm -f /tmp/out.$$',
  'echo done',
].join('; ');

/** `docker exec` without blocking the event loop (the in-process agent keeps reading the kernel). */
function exec(script: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('docker', ['exec', NAME, 'sh', '-c', script], { env, timeout: 30_000 }, (err, stdout) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, out: stdout.trim() });
    });
  });
}

function host(file: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (err) =>
      resolve(err === null ? 0 : typeof err.code === 'number' ? err.code : -1),
    );
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('peregrine learn on a real container, monitor → promote → rollback', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-learn-'));
  const socket = join(dir, 'agent.sock');
  const out = join(dir, 'policy.yaml');
  const reportPath = join(dir, 'report.md');
  let a: RecordingAgent;
  const measured: string[] = [];

  const status = async (): Promise<PolicyStatus> => {
    const list = (await controlRequest(socket, 'GET', '/v1/policies')) as PolicyStatus[];
    const p = list.find((x) => x.name === POLICY);
    assert.ok(p !== undefined, `${POLICY} is applied`);
    return p;
  };

  before(async () => {
    run(
      'docker',
      ['run', '-d', '--name', NAME, IMG, 'sh', '-c', 'echo root:x:0: > /etc/shadow; exec sleep 600'],
      env,
    );
    a = await startAgent({ socket, parsePolicies: loadPolicyText });
  });

  after(async () => {
    await a?.stop();
    tryRun('docker', ['rm', '-f', NAME], env);
    rmSync(dir, { recursive: true, force: true });
    if (measured.length > 0)
      process.stdout.write(`# measured:\n${measured.map((m) => `#   ${m}`).join('\n')}\n`);
  });

  test('learn writes a policy that loads and a report, with progress while learning', async () => {
    const log: string[] = [];
    const t0 = performance.now();
    const learning = learnCommand({
      container: NAME,
      duration: '6s',
      out,
      report: reportPath,
      socket,
      maxDenials: '3',
      window: '60s',
      progressS: 2,
      log: (l) => log.push(l),
    });
    await sleep(1000);
    for (let i = 0; i < 2; i++) assert.equal((await exec(WORKLOAD)).out, 'done');
    assert.equal(await learning, 0);
    measured.push(`learn 6s session: ${Math.round(performance.now() - t0)} ms wall`);
    assert.ok(
      log.some((l) =>
        /learn: \d+ events; \d+ binaries, \d+ files, \d+ peers, \d+ listening ports; \d+s left/.test(l),
      ),
      log.join('\n'),
    );
    const text = readFileSync(out, 'utf8');
    const [policy] = loadPolicyText(text, out);
    assert.equal(policy.metadata.name, POLICY);
    assert.equal(policy.spec.mode, 'monitor');
    assert.deepEqual(policy.spec.safety, { maxDenials: 3, window: '60s' });
    const exec0 = policy.spec.rules.find((r) => r.name === 'exec');
    assert.deepEqual(exec0?.match.binaries?.notIn, ['/bin/busybox']);
    assert.ok(
      policy.spec.rules
        .find((r) => r.name === 'connect-peers')
        ?.match.addresses?.notIn?.includes('127.0.0.0/8'),
    );
    assert.deepEqual(policy.spec.rules.find((r) => r.name === 'listen')?.match.ports?.notIn, [8080]);
    const report = readFileSync(reportPath, 'utf8');
    assert.match(report, /\| exec \| binaries\.notIn \| `\/bin\/busybox` \| \d+ \|/);
    assert.match(report, /\| files-written \| paths\.glob \| `\/tmp\/out\.\*` \|/);
    // The learning policy is gone from the agent.
    const names = ((await controlRequest(socket, 'GET', '/v1/policies')) as PolicyStatus[]).map(
      (p) => p.name,
    );
    assert.ok(!names.some((n) => n.endsWith('-learning')), names.join(','));
    measured.push(
      `learned ${policy.spec.rules.length} rules from ${/from (\d+) events/.exec(log.join('\n'))?.[1]} events`,
    );
  });

  test('in monitor mode the replayed workload has zero would-be actions; an attack is only counted', async () => {
    await controlRequest(socket, 'POST', '/v1/policies?file=policy.yaml', readFileSync(out, 'utf8'));
    assert.equal((await status()).mode, 'monitor');
    assert.equal((await exec(WORKLOAD)).out, 'done');
    await sleep(500);
    for (const r of (await status()).rules) {
      assert.equal(r.actions?.would ?? 0, 0, `${r.name}: no would-be action on the replay`);
      assert.equal(r.actions?.taken ?? 0, 0, r.name);
    }
    // An exec outside the profile, in monitor: it runs, and the would-be kill is counted.
    assert.equal((await exec('cp /bin/busybox /tmp/sh; /tmp/sh -c "echo ran"')).out, 'ran');
    await sleep(500);
    const would = (await status()).rules.find((r) => r.name === 'exec')?.actions?.would ?? 0;
    assert.ok(would >= 1, `would-be kill counted (${would})`);
  });

  test('promote is one command; then the workload runs and attacks in the container are killed', async () => {
    const t0 = performance.now();
    assert.equal(await policyCommand('promote', [POLICY], socket), 0);
    measured.push(`promote round trip: ${Math.round(performance.now() - t0)} ms`);
    const p = await status();
    assert.equal(p.mode, 'enforce');
    assert.match(p.rules.find((r) => r.name === 'exec')?.enforcement ?? '', /^enforced/);
    assert.equal((await exec(WORKLOAD)).out, 'done', 'the learned workload still runs');
    const shell = await exec('/tmp/sh -c "echo pwned"');
    assert.equal(shell.code, 137, 'a copied shell is killed as it starts');
    assert.doesNotMatch(shell.out, /pwned/);
    const shadow = await exec('cat /etc/shadow');
    assert.equal(shadow.code, 137, 'reading /etc/shadow kills the reader');
    assert.doesNotMatch(shadow.out, /root:x/);
    // Outside the container: the same binary copied elsewhere and the same read are untouched.
    if (existsSync('/bin/busybox')) {
      const copy = join(dir, 'sh');
      copyFileSync('/bin/busybox', copy);
      assert.equal(await host('/bin/sh', ['-c', `chmod +x ${copy}; ${copy} -c true`]), 0);
    }
    assert.equal(await host('/bin/cat', ['/etc/shadow']), 0);
    await sleep(300);
    const s = await status();
    assert.equal(s.mode, 'enforce', 'two actions stay under maxDenials 3');
    assert.equal(s.safety?.recent, 2);
  });

  test('more actions than maxDenials in the window roll the policy back to monitor, with a CRITICAL alert', async () => {
    const t0 = performance.now();
    const r = await exec('for i in 1 2 3 4 5; do /tmp/sh -c true; done; echo looped');
    assert.equal(r.out, 'looped');
    const alert = await waitForAlert(a, 'Policy rolled back', 5000);
    measured.push(
      `rollback after the 4th kill: ${Math.round(performance.now() - t0)} ms from the first attack`,
    );
    assert.equal(alert.priority, 'CRITICAL');
    assert.match(
      alert.output,
      new RegExp(`policy ${POLICY} rolled back to monitor: 4 actions taken within 60s`),
    );
    const s = await status();
    assert.equal(s.mode, 'monitor');
    assert.equal(s.safety?.rolled_back?.denials, 4);
    // Monitor again: the attack runs (and is counted as would-be), nothing is killed.
    assert.equal((await exec('/tmp/sh -c "echo again"')).out, 'again');
    // The list shows the rollback.
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      await policyCommand('list', [], socket);
    } finally {
      process.stdout.write = write;
    }
    assert.match(lines.join(''), /safety: 0\/3 actions in 60s; rolled back to monitor at .* \(4 in 60s\)/);
    // And `peregrine status` (its enforcement section) shows it too.
    const st = formatEnforcement(await controlRequest(socket, 'GET', '/v1/policies'));
    assert.match(st, /safety {2}0\/3 actions in 60s; rolled back to monitor at .* \(4 in 60s\)/);
    assert.match(st, /exec {2}monitor \(would kill via .*\) {2}\[taken \d+, would \d+\]/);
  });
});

function waitForAlert(a: RecordingAgent, rule: string, ms: number) {
  return new Promise<RecordingAgent['alerts'][number]>((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      const found = a.alerts.find((x) => x.rule === rule);
      if (found !== undefined) return resolve(found);
      if (Date.now() - t0 > ms) return reject(new Error(`no "${rule}" alert within ${ms} ms`));
      setTimeout(tick, 50);
    };
    tick();
  });
}
