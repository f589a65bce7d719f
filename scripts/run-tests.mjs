// SPDX-License-Identifier: Apache-2.0
// The test command: static checks (format, lint, SPDX, generated code), then
// every compiled test file under node's test runner, then the kernel matrix
// (scripts/test-matrix.sh: smoke test and verifier budgets on this kernel and
// on Debian's kernels under QEMU, with the BPF-LSM tests there). `--only DIR`
// narrows the run to one folder of dist/ (e.g. test/container); `--no-check`
// skips checks; `--no-vm` skips the matrix.
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
// The matrix's own tests (dist/test/matrix, dist/**/vm) run in scripts/test-matrix.sh, once per kernel.
const files = findTests(base)
  .map((f) => relative(root, f))
  .filter((f) => only !== undefined || !(f.startsWith(join('dist', 'test', 'matrix')) || f.includes('/vm/')));
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

// Last: every kernel of the matrix, the BPF-LSM / fentry / kprobe paths in the guests that have them.
process.stderr.write('peregrine: host tests passed; now the kernel matrix\n');
const matrix = spawnSync('sh', [join(root, 'scripts', 'test-matrix.sh')], { cwd: root, stdio: 'inherit' });
process.exit(matrix.status ?? 1);
