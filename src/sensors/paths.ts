// SPDX-License-Identifier: Apache-2.0
// Where the compiled kernel objects live: <repo>/build/bpf/<name>.bpf.o, found
// from this module's own location so it works from src/ and dist/src/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The repository (package) root: the nearest ancestor holding package.json. */
export function packageRoot(): string {
  if (root !== undefined) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`locate package root: no package.json above ${import.meta.url}`);
    dir = up;
  }
  root = dir;
  return dir;
}

/** Path of a compiled kernel object; PEREGRINE_BPF_DIR overrides the folder. */
export function objectPath(name: string): string {
  return join(process.env.PEREGRINE_BPF_DIR ?? join(packageRoot(), 'build', 'bpf'), `${name}.bpf.o`);
}
