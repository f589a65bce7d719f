// SPDX-License-Identifier: Apache-2.0
// Noise budget: benign work (npm install, the unit tests, apt-get install, cc, git clone) under a live agent with the default policy and rules raises no WARNING-or-higher alert.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { defaultRulesPath, loadRulePaths } from '../../src/cli/rules.js';
import type { Alert, PeregrineEvent, ProcessInfo } from '../../src/events/types.js';
import { loadDefaultPolicy } from '../../src/policy/load.js';
import { kernelTest, root } from '../kernel/helpers.js';
import { type RecordingAgent, startAgent } from '../process/agent.js';

const AT_LEAST_WARNING = new Set(['EMERGENCY', 'ALERT', 'CRITICAL', 'ERROR', 'WARNING']);

interface Ran {
  pid: number;
  code: number | null;
  out: string;
}

describe('benign workloads raise no WARNING-or-higher alert', kernelTest, () => {
  let a: RecordingAgent;
  let work: string;
  /** pids of the workload commands this test started: alerts are attributed through process ancestry. */
  const roots = new Set<number>();
  const done: string[] = [];

  function run(file: string, args: string[], cwd: string, timeoutMs: number): Promise<Ran> {
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        cwd,
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', npm_config_update_notifier: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
      });
      if (child.pid !== undefined) roots.add(child.pid);
      let out = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
      });
      child.once('error', reject);
      child.once('close', (code) => resolve({ pid: child.pid ?? -1, code, out }));
    });
  }

  const byWorkload = (ev: PeregrineEvent): boolean => {
    const chain: Array<ProcessInfo | undefined> = [ev.process, ev.parent, ...(ev.ancestors ?? [])];
    return chain.some((p) => p !== undefined && roots.has(p.pid));
  };
  const fromWorkload = (al: Alert): boolean => byWorkload(al.source_event);

  before(async () => {
    work = realpathSync(mkdtempSync(join(tmpdir(), 'pg-benign-')));
    a = await startAgent({
      rules: loadRulePaths([defaultRulesPath()]),
      policies: loadDefaultPolicy(),
      ancestors: true,
    });
  });

  after(async () => {
    await a?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  test('npm ci (or npm install when the lock file is out of sync) of this project into a temp dir', async (t) => {
    const dir = join(work, 'npm');
    mkdirSync(dir);
    copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
    copyFileSync(join(root, 'package-lock.json'), join(dir, 'package-lock.json'));
    const common = ['--prefer-offline', '--no-audit', '--no-fund'];
    let r = await run('npm', ['ci', ...common], dir, 180_000);
    if (r.code !== 0 && /EUSAGE|in sync/.test(r.out)) {
      t.diagnostic('npm ci refused (package-lock.json out of sync with package.json): npm install instead');
      r = await run('npm', ['install', ...common], dir, 180_000);
    }
    if (r.code !== 0)
      return t.skip(`npm failed (${r.code}): ${r.out.trim().split('\n').slice(-2).join(' ')}`);
    assert.ok(existsSync(join(dir, 'node_modules', 'yaml')), 'node_modules populated');
    done.push('npm');
  });

  test("the project's unit tests (node --test dist/src/)", async (t) => {
    const r = await run(process.execPath, ['--test', join(root, 'dist', 'src')], root, 180_000);
    // Their pass/fail is not what this test measures; the alerts they cause are.
    t.diagnostic(`unit tests exited ${r.code}`);
    done.push('unit tests');
  });

  test('apt-get install -y --reinstall hostname', async (t) => {
    if (!existsSync('/usr/bin/apt-get')) return t.skip('no apt-get');
    const r = await run('apt-get', ['install', '-y', '-qq', '--reinstall', 'hostname'], work, 180_000);
    if (r.code !== 0) {
      return t.skip(`apt-get failed (${r.code}): ${r.out.trim().split('\n').slice(-2).join(' ')}`);
    }
    done.push('apt-get');
  });

  test('cc compiles a C file', async () => {
    const dir = join(work, 'cc');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'hello.c'),
      '#include <stdio.h>\nint main(void) { printf("hello\\n"); return 0; }\n',
    );
    const r = await run('cc', ['-O2', '-Wall', '-o', 'hello', 'hello.c'], dir, 60_000);
    assert.equal(r.code, 0, r.out);
    done.push('cc');
  });

  test('git clone of a local repository', async () => {
    const dir = join(work, 'git');
    mkdirSync(dir);
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'README'), 'hello\n');
    const git = (args: string[], cwd: string) =>
      run('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args], cwd, 60_000);
    assert.equal((await git(['init', '-q'], src)).code, 0);
    assert.equal((await git(['add', 'README'], src)).code, 0);
    assert.equal((await git(['commit', '-q', '-m', 'first'], src)).code, 0);
    const r = await git(['clone', '-q', '--no-local', src, join(dir, 'clone')], dir);
    assert.equal(r.code, 0, r.out);
    assert.ok(existsSync(join(dir, 'clone', 'README')));
    done.push('git clone');
  });

  test('zero WARNING-or-higher alerts from the workloads', async (t) => {
    // Let the agent consume what is still queued.
    await new Promise((r) => setTimeout(r, 500));
    const mine = a.alerts.filter(fromWorkload);
    const loud = mine.filter((al) => AT_LEAST_WARNING.has(al.priority));
    for (const al of mine.filter((x) => !AT_LEAST_WARNING.has(x.priority))) {
      t.diagnostic(`${al.priority} ${al.rule}: ${al.output}`);
    }
    const others = a.alerts.filter((al) => !fromWorkload(al));
    for (const al of others) {
      const p = al.source_event.process;
      t.diagnostic(
        `not counted (another process on this host): ${al.priority} ${al.rule} by ${p.pid} ${p.binary}`,
      );
    }
    // The attribution must see the workloads, or the assertion below would be vacuous.
    const seen = a.events.filter(byWorkload);
    const names = new Set(seen.map((e) => e.process.binary.split('/').pop()));
    t.diagnostic(`${seen.length} events attributed to the workloads`);
    const telltale: Record<string, string> = {
      npm: 'node',
      'apt-get': 'dpkg',
      cc: 'cc1',
      'git clone': 'git',
    };
    for (const d of done) {
      const n = telltale[d];
      if (n !== undefined) assert.ok(names.has(n), `no ${n} event attributed to the ${d} workload`);
    }
    t.diagnostic(
      `workloads run: ${done.join(', ')}; ${mine.length} alerts from them, ${loud.length} at WARNING or above`,
    );
    assert.ok(done.length >= 3, `only ${done.length} workloads ran`);
    assert.deepEqual(
      loud.map((al) => `${al.priority} ${al.rule}: ${al.output}`),
      [],
      'WARNING-or-higher alerts from benign work',
    );
  });
});
