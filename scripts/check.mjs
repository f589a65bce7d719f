// SPDX-License-Identifier: Apache-2.0
// Static checks run before the tests: TypeScript lint + format (biome), kernel
// C style (clang-format), an SPDX header on every source file, and generated
// record code matching the compiled objects' BTF, and the Kubernetes CRDs matching the policy schema.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
let failed = 0;

function step(name, cmd, argv) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write(`check: ${name} failed\n`);
    failed++;
  } else {
    process.stderr.write(`check: ${name} ok\n`);
  }
}

function walk(dir, exts, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    // bpf/vmlinux: generated kernel types (scripts/gen-vmlinux.sh), not our style or license.
    if (name === 'node_modules' || name === 'dist' || name === 'build' || name === 'vmlinux') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, exts, out);
    else if (exts.some((e) => name.endsWith(e))) out.push(p);
  }
  return out;
}

step('biome (lint + format)', join(root, 'node_modules', '.bin', 'biome'), ['check', '--error-on-warnings']);

const cFiles = [...walk(join(root, 'bpf'), ['.c', '.h']), ...walk(join(root, 'native'), ['.c', '.h'])];
if (cFiles.length > 0)
  step('clang-format (kernel style)', 'clang-format', ['--dry-run', '--Werror', ...cFiles]);

const sources = [
  ...walk(join(root, 'src'), ['.ts']),
  ...walk(join(root, 'test'), ['.ts', '.c', '.sh']),
  ...walk(join(root, 'scripts'), ['.ts', '.mjs', '.sh']),
  ...walk(join(root, 'bench'), ['.ts', '.mjs', '.sh']),
  ...walk(join(root, 'bin'), ['.js']),
  ...cFiles,
].filter((f) => !f.includes(`${join('src', 'generated')}`));
const missing = sources.filter(
  (f) => !readFileSync(f, 'utf8').slice(0, 400).includes('SPDX-License-Identifier:'),
);
if (missing.length > 0) {
  process.stderr.write(
    `check: SPDX header missing in:\n  ${missing.map((f) => relative(root, f)).join('\n  ')}\n`,
  );
  failed++;
} else {
  process.stderr.write(`check: SPDX headers ok (${sources.length} files)\n`);
}

if (existsSync(join(root, 'dist', 'scripts', 'gen-records.js'))) {
  step('generated records match BTF', process.execPath, [
    join(root, 'dist', 'scripts', 'gen-records.js'),
    '--check',
  ]);
}

if (existsSync(join(root, 'dist', 'scripts', 'gen-crds.js'))) {
  step('generated CRDs match the policy schema', process.execPath, [
    join(root, 'dist', 'scripts', 'gen-crds.js'),
    '--check',
  ]);
}

process.exit(failed === 0 ? 0 : 1);
