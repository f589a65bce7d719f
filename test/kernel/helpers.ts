// SPDX-License-Identifier: Apache-2.0
// Shared helpers of the real-kernel tests: skip reasons, fixture builds, leak checks.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openHandles } from '../../src/kernel/index.js';
import { packageRoot } from '../../src/kernel/native.js';

export const root = packageRoot();

/** The real path of python3 (the tests' second binary, for per-binary selectors), or undefined. */
export function findPython(): string | undefined {
  try {
    return execFileSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return undefined;
  }
}

/** Polls `pred` every `stepMs` until it holds; rejects naming `what` after `timeoutMs`. */
export async function waitUntil(
  what: string,
  pred: () => boolean,
  timeoutMs: number,
  stepMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** A TCP server on 127.0.0.1 (an ephemeral port) that closes every connection at once. */
export function listen(): Promise<Server> {
  return new Promise((resolve) => {
    const srv = createServer((c) => c.destroy());
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

export function portOf(srv: Server): number {
  const a = srv.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

/** python3 connects to 127.0.0.1:port and prints "ok" or the errno name, then "alive" (it survived). */
const PY_CONNECT = `
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect(('127.0.0.1', int(sys.argv[1])))
    print('ok')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
print('alive')
`;

/** Runs PY_CONNECT with `python`; resolves with its lines: ['ok' or the errno name, 'alive']. */
export async function pyConnect(python: string, port: number): Promise<string[]> {
  const { stdout } = await promisify(execFile)(python, ['-c', PY_CONNECT, String(port)]);
  return stdout.trim().split('\n');
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(): string | undefined {
  if (process.platform !== 'linux') return 'kernel tests need Linux';
  if (process.getuid?.() !== 0) return 'kernel tests need root (BPF load/attach)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'kernel lacks BTF (/sys/kernel/btf/vmlinux)';
  if (!existsSync(join(root, 'build', 'Release', 'peregrine_native.node'))) {
    return 'addon not built (npx node-gyp rebuild)';
  }
  return undefined;
}

/** Options for node:test: `{ skip: reason }` when kernel tests cannot run. */
export const kernelTest = { skip: kernelSkipReason() ?? false };

function newer(src: string, out: string): boolean {
  return !existsSync(out) || statSync(src).mtimeMs > statSync(out).mtimeMs;
}

function vmlinuxHeader(): string {
  const dir = join(root, 'build');
  const header = join(dir, 'vmlinux.h');
  if (!existsSync(header)) {
    mkdirSync(dir, { recursive: true });
    const text = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
      maxBuffer: 1 << 28,
    });
    writeFileSync(`${header}.${process.pid}.tmp`, text);
    renameSync(`${header}.${process.pid}.tmp`, header);
  }
  return dir;
}

/** Compiles a .bpf.c (when stale) the way scripts/build-bpf.sh does; returns the object path. */
export function compileBpf(src: string, out: string): string {
  if (!newer(src, out)) return out;
  const inc = vmlinuxHeader();
  mkdirSync(join(out, '..'), { recursive: true });
  // Test files run in parallel processes: build under a private name, then rename atomically.
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync('clang', [
    '-g',
    '-O2',
    '-target',
    'bpf',
    '-D__TARGET_ARCH_x86',
    '-I',
    inc,
    '-I',
    join(root, 'bpf', 'include'),
    '-I',
    join(root, 'bpf'),
    '-c',
    src,
    '-o',
    tmp,
  ]);
  renameSync(tmp, out);
  return out;
}

/** test/kernel/fixtures/<name>.bpf.c compiled into build/test/<name>.bpf.o. */
export function fixture(name: string): string {
  return compileBpf(
    join(root, 'test', 'kernel', 'fixtures', `${name}.bpf.c`),
    join(root, 'build', 'test', `${name}.bpf.o`),
  );
}

/** bpf/probes.bpf.c as scripts/build-bpf.sh would build it (built here if missing or stale). */
export function probesObject(): string {
  return compileBpf(join(root, 'bpf', 'probes.bpf.c'), join(root, 'build', 'bpf', 'probes.bpf.o'));
}

export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Snapshot of open fds; check() asserts no native handle and no fd leaked since. */
export function leakGuard(): { check(): void } {
  const fds = fdCount();
  return {
    check() {
      assert.equal(openHandles().total, 0, `native handles left open: ${JSON.stringify(openHandles())}`);
      assert.equal(fdCount(), fds, 'file descriptors leaked');
    },
  };
}

/** Resolves after `ms` while letting the loop run. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
