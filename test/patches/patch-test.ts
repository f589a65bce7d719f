// SPDX-License-Identifier: Apache-2.0
// Shared by the virtual-patch tests: the compiled exploit helper, a cgroup of
// the test's own that scopes every pack policy to the test's processes, and
// a runner that starts a command inside that cgroup.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findCgroup2Mount } from '../../src/container/index.js';
import type { Policy } from '../../src/policy/types.js';
import { root } from '../kernel/helpers.js';

export interface PatchLab {
  dir: string;
  helper: string;
  /** /bin/true and /bin/sleep copies the helper stages as pkexec, sudo, runc. */
  truePayload: string;
  sleepPayload: string;
  cgroup: string;
  cgroupId: number;
  close(): void;
}

/** Why the lab cannot be built here (no compiler, no cgroup2), or undefined. */
export function labSkipReason(): string | undefined {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'no C compiler (cc)';
  }
  if (findCgroup2Mount() === undefined) return 'no cgroup2 mount';
  return undefined;
}

export function openLab(): PatchLab {
  const dir = mkdtempSync(join(tmpdir(), 'pg-patches-'));
  chmodSync(dir, 0o755);
  const helper = join(dir, 'vp-helper');
  execFileSync('cc', ['-O1', '-Wall', '-o', helper, join(root, 'test', 'patches', 'helper.c')]);
  const truePayload = join(dir, 'true-payload');
  const sleepPayload = join(dir, 'sleep-payload');
  copyFileSync('/bin/true', truePayload);
  copyFileSync('/bin/sleep', sleepPayload);
  chmodSync(truePayload, 0o755);
  chmodSync(sleepPayload, 0o755);
  const cgroup = join(findCgroup2Mount() as string, `pg-patches-${process.pid}`);
  mkdirSync(cgroup);
  return {
    dir,
    helper,
    truePayload,
    sleepPayload,
    cgroup,
    cgroupId: statSync(cgroup).ino,
    close() {
      try {
        rmdirSync(cgroup);
      } catch {
        // a straggler still in it; the next run uses another pid
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pack's policies, each rule narrowed to the lab's cgroup (nothing else on the machine is touched). */
export function scoped(policies: readonly Policy[], lab: PatchLab): Policy[] {
  return policies.map((p) => ({
    ...p,
    spec: {
      ...p.spec,
      rules: p.spec.rules.map((r) => ({ ...r, match: { ...r.match, cgroupIds: { in: [lab.cgroupId] } } })),
    },
  }));
}

export interface Outcome {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
}

/** Runs file with args inside the lab's cgroup (a shell moves itself there, then execs). */
export function runIn(
  lab: PatchLab,
  file: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const c = spawn(
      '/bin/sh',
      ['-c', `echo $$ > ${lab.cgroup}/cgroup.procs && exec "$0" "$@"`, file, ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: env ?? process.env,
      },
    );
    let stdout = '';
    c.stdout.on('data', (d) => {
      stdout += d;
    });
    c.stderr.on('data', (d) => {
      stdout += d;
    });
    c.once('error', reject);
    c.once('exit', (code, signal) => resolve({ pid: c.pid ?? -1, code, signal, stdout }));
  });
}
