// SPDX-License-Identifier: Apache-2.0
// `peregrine run --watch` end to end: a real agent process watching a policy
// directory and a rules file. A new policy file is applied live; a malformed
// one is refused whole and the applied set stays; a changed rules file takes
// effect (its new rule alerts on a real exec).
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { kernelTest, root, waitUntil } from '../kernel/helpers.js';

const exec = promisify(execFile);
const BIN = join(root, 'bin', 'peregrine.js');

function policyYaml(name: string, prefix: string): string {
  return `apiVersion: peregrine.dev/v1alpha1
kind: Policy
metadata:
  name: ${name}
spec:
  mode: enforce
  rules:
    - name: watch-opens
      kinds: [file.open]
      match:
        paths:
          prefix: [${prefix}]
      action: audit
`;
}

function rule(name: string, comm: string): string {
  return `- rule: ${name}
  desc: test rule
  condition: evt.type in (execve, execveat) and proc.name = "${comm}"
  output: ${name} (process=%proc.name)
  priority: WARNING
  tags: [test, mitre_execution, T1059]
`;
}

const until = (what: string, pred: () => boolean, timeoutMs = 20_000): Promise<void> =>
  waitUntil(what, pred, timeoutMs);

describe('peregrine run --watch', kernelTest, () => {
  let dir: string;
  let policies: string;
  let rulesFile: string;
  let sock: string;
  let child: ChildProcess;
  let out = '';
  let err = '';

  const policyNames = async (): Promise<string[]> => {
    const { stdout } = await exec(process.execPath, [BIN, 'policy', 'list', '--json', '--socket', sock]);
    return (JSON.parse(stdout) as Array<{ name: string }>).map((p) => p.name).sort();
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pg-watch-'));
    policies = join(dir, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'a.yaml'), policyYaml('watch-a', `${dir}/a/`));
    rulesFile = join(dir, 'rules.yaml');
    writeFileSync(rulesFile, rule('pg watch first', 'pg-none-such'));
    sock = join(dir, 'control.sock');
    child = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--watch',
        '--policy',
        policies,
        '--rules',
        rulesFile,
        '--output',
        'compact',
        '--socket',
        sock,
        '--poll-ms',
        '10',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    await until('the startup line', () => err.includes('peregrine: running on'), 60_000);
    assert.match(err, /peregrine: watching .*policies.*rules\.yaml/);
  });

  after(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a new policy file is applied live', async () => {
    assert.deepEqual(await policyNames(), ['watch-a']);
    writeFileSync(join(policies, 'b.yaml'), policyYaml('watch-b', `${dir}/b/`));
    await until('the reload line', () => /policies reloaded: watch-a, watch-b/.test(err));
    assert.deepEqual(await policyNames(), ['watch-a', 'watch-b']);
  });

  test('a malformed file is refused whole, with file and line; the applied policies stay', async () => {
    writeFileSync(join(policies, 'bad.yaml'), policyYaml('watch-bad', '/x/').replace('kinds:', 'kindz:'));
    await until('the refusal line', () => err.includes('policies reload refused'));
    const line = err.split('\n').find((l) => l.includes('policies reload refused')) ?? '';
    assert.match(line, /bad\.yaml:\d+: spec\.rules\[0\]/);
    assert.deepEqual(await policyNames(), ['watch-a', 'watch-b']);
    unlinkSync(join(policies, 'bad.yaml'));
    await until(
      'the reload after the fix',
      () => (err.match(/policies reloaded: watch-a, watch-b/g) ?? []).length >= 2,
    );
  });

  test('a changed rules file takes effect: its new rule alerts on a real exec', async () => {
    writeFileSync(rulesFile, rule('pg watch first', 'pg-none-such') + rule('pg watch true', 'true'));
    await until('the rules reload line', () => /rules reloaded: 2 rules/.test(err));
    await exec('/bin/true');
    await until('the new rule alert', () => out.includes('pg watch true'));
    assert.match(err, /peregrine: watching/);
    assert.ok(child.exitCode === null, 'the agent still runs');
  });
});
