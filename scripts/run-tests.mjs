// SPDX-License-Identifier: Apache-2.0
// The test command: static checks (format, lint, SPDX, generated code), then
// every compiled test file under node's test runner, then the vm tests in a
// BPF-LSM guest. `--only DIR` narrows the run to one folder of dist/ (e.g.
// test/container); `--no-check` skips checks; `--no-vm` skips the guest.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const noCheck = args.includes('--no-check');

function findTests(dir) {
  const out = [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

if (!noCheck && !only) {
  const check = spawnSync(process.execPath, [join(root, 'scripts', 'check.mjs')], { stdio: 'inherit' });
  if (check.status !== 0) {
    process.stderr.write('peregrine: static checks failed\n');
    process.exit(check.status ?? 1);
  }
}

const base = join(root, 'dist', only ?? '');
const files = findTests(base).map((f) => relative(root, f));
if (files.length === 0) {
  process.stderr.write(`peregrine: no compiled tests under ${relative(root, base) || '.'}\n`);
  process.exit(1);
}
process.stderr.write(`peregrine: running ${files.length} test files\n`);
// A test that hangs fails after 5 minutes instead of eating the CI budget.
const run = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (run.status !== 0 || only !== undefined || args.includes('--no-vm')) process.exit(run.status ?? 1);

// Last: the BPF-LSM / fentry / kprobe paths, in a guest kernel that has them.
process.stderr.write('peregrine: host tests passed; now the vm tests\n');
const vm = spawnSync('sh', [join(root, 'scripts', 'test-vm.sh')], { cwd: root, stdio: 'inherit' });
process.exit(vm.status ?? 1);
