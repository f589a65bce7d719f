// SPDX-License-Identifier: Apache-2.0
// Test helper: runs the shared container recipe (../shared/containers/setup.sh) and returns its environment.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';

function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (
      existsSync(join(dir, 'package.json')) &&
      existsSync(join(dir, '..', 'shared', 'containers', 'setup.sh'))
    )
      return dir;
    dir = dirname(dir);
  }
  return undefined;
}

const ROOT = repoRoot();
export const RECIPE = ROOT !== undefined ? resolvePath(ROOT, '..', 'shared', 'containers') : '';
/** Debian's python, which has grpc (the recipe's README). */
export const PY = '/usr/bin/python3';

export function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeout = 120_000,
): string {
  return execFileSync(cmd, args, {
    env,
    timeout,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

export function tryRun(cmd: string, args: string[], env?: NodeJS.ProcessEnv): void {
  try {
    run(cmd, args, env, 60_000);
  } catch {
    // cleanup: best effort
  }
}

/** Runs setup.sh; the environment from its env.sh, or why the suite must skip. */
export function setupRecipe(): { env: NodeJS.ProcessEnv } | { skip: string } {
  if (process.platform !== 'linux') return { skip: 'not Linux' };
  if (process.getuid?.() !== 0)
    return { skip: 'needs root: setup.sh installs and starts container runtimes' };
  if (ROOT === undefined) return { skip: '../shared/containers/setup.sh not found beside the repository' };
  const attempt = (): string | undefined => {
    try {
      run(join(RECIPE, 'setup.sh'), [], process.env, 600_000);
      return undefined;
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      return `${e.stdout ?? ''}\n${e.stderr ?? ''}`.trim().split('\n').slice(-3).join(' | ') || e.message;
    }
  };
  let failed = attempt();
  if (failed !== undefined && !existsSync('/bin/busybox')) {
    try {
      run(
        'apt-get',
        ['install', '-y', '-q', 'busybox-static'],
        { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        300_000,
      );
      failed = attempt();
    } catch {
      // keep the first failure
    }
  }
  if (failed !== undefined) return { skip: `setup.sh failed (packages or network missing?): ${failed}` };
  const state = process.env.PEREGRINE_CTR_STATE ?? '/tmp/peregrine-ctr';
  const dump = run('bash', ['-c', '. "$1" && env -0', '_', join(state, 'env.sh')]);
  const env: NodeJS.ProcessEnv = {};
  for (const kv of dump.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { env };
}

export function teardownRecipe(env: NodeJS.ProcessEnv): void {
  if (RECIPE !== '') tryRun(join(RECIPE, 'teardown.sh'), [], env);
}
