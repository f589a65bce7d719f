// SPDX-License-Identifier: Apache-2.0
// Map a cgroup v2 id to its path (an index of the cgroup2 tree) and a pid to its cgroup paths.

import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';

/** Decode the octal escapes (`\040` for space) that the kernel uses in /proc/self/mounts. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/**
 * Where cgroup2 is mounted, from the text of /proc/self/mounts: `/sys/fs/cgroup` on a pure-v2
 * host, `/sys/fs/cgroup/unified` on a hybrid one. The first cgroup2 mount wins.
 */
export function parseCgroup2Mount(mounts: string): string | undefined {
  for (const line of mounts.split('\n')) {
    const f = line.split(' ');
    if (f.length >= 3 && f[2] === 'cgroup2') return unescapeMountField(f[1]);
  }
  return undefined;
}

/** The cgroup2 mount point of this mount namespace, or undefined when there is none (v1-only host). */
export function findCgroup2Mount(procRoot = '/proc'): string | undefined {
  try {
    return parseCgroup2Mount(readFileSync(`${procRoot}/self/mounts`, 'utf8'));
  } catch {
    return undefined;
  }
}

export interface V1Cgroup {
  /** Hierarchy id, the first field of the line. */
  hierarchy: number;
  /** Controllers, e.g. ["cpu", "cpuacct"], or ["name=systemd"] for a named hierarchy. */
  controllers: string[];
  path: string;
}

/** The cgroups of one process. */
export interface ProcCgroups {
  /** The `0::` line: the v2 path. "/" for every process on a hybrid host whose runtime skips v2. */
  v2?: string;
  v1: V1Cgroup[];
}

/** Parse the text of /proc/PID/cgroup (`hierarchy-id:controllers:path` per line). */
export function parseProcCgroup(text: string): ProcCgroups {
  const out: ProcCgroups = { v1: [] };
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const hierarchy = Number(line.slice(0, a));
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (hierarchy === 0 && controllers === '') out.v2 = path;
    else out.v1.push({ hierarchy, controllers: controllers.split(','), path });
  }
  return out;
}

/** Read /proc/PID/cgroup; undefined when the process is gone. One small procfs read. */
export function readProcCgroups(pid: number, procRoot = '/proc'): ProcCgroups | undefined {
  try {
    return parseProcCgroup(readFileSync(`${procRoot}/${pid}/cgroup`, 'utf8'));
  } catch {
    return undefined;
  }
}

// v1 hierarchies in the order they are consulted. Runtimes write the same path to all of them
// (measured here: runc, crun, dockerd, podman); name=systemd and pids exist on every v1 host.
const V1_ORDER = ['name=systemd', 'pids', 'memory', 'cpu', 'devices'];

/** The v1 path of a process, from the first hierarchy of V1_ORDER that the process has. */
export function v1Path(pc: ProcCgroups): string | undefined {
  for (const want of V1_ORDER) {
    for (const h of pc.v1) if (h.controllers.includes(want)) return h.path;
  }
  return pc.v1[0]?.path;
}

export interface CgroupIndexOptions {
  /** cgroup2 mount point; default: found in /proc/self/mounts. */
  root?: string;
  /** Minimum time between two walks started by misses (ms). Default 250. */
  minRefreshIntervalMs?: number;
  /** Deepest level walked below the root. Default 16. */
  maxDepth?: number;
}

export interface RefreshResult {
  /** performance.now() when the walk started: cgroups created after it may be missing. */
  startedAt: number;
  added: number;
  /** Ids whose directory is gone since the previous walk: their cgroups were removed. */
  removed: number[];
}

/**
 * Index of the cgroup2 tree: cgroup id (= inode number of the directory, the kernfs node id)
 * → path relative to the mount ("/" for the root). Built by walking the tree asynchronously;
 * `pathOf` never touches the file system. Ids are never reused within a boot, so an entry is
 * only ever stale by being absent (new cgroup) or removed (cgroup gone).
 */
export class CgroupIndex {
  readonly root: string | undefined;
  private byId = new Map<number, string>();
  private walking: Promise<RefreshResult> | undefined;
  private lastWalk = 0;
  private readonly minInterval: number;
  private readonly maxDepth: number;
  /** Number of completed walks. */
  walks = 0;
  /** Id of the cgroup2 root directory (1 on the kernels seen so far); undefined before the first walk. */
  rootId: number | undefined;

  constructor(opts: CgroupIndexOptions = {}) {
    this.root = opts.root ?? findCgroup2Mount();
    this.minInterval = opts.minRefreshIntervalMs ?? 250;
    this.maxDepth = opts.maxDepth ?? 16;
  }

  get size(): number {
    return this.byId.size;
  }

  /** Path of a cgroup id relative to the cgroup2 mount, if the last walk saw it. */
  pathOf(id: number): string | undefined {
    return this.byId.get(id);
  }

  /** Walk the tree now (joins a walk already in progress). */
  refresh(): Promise<RefreshResult> {
    if (this.walking !== undefined) return this.walking;
    this.lastWalk = Date.now();
    this.walking = this.walk().finally(() => {
      this.walking = undefined;
    });
    return this.walking;
  }

  /** Start a walk unless one ran less than minRefreshIntervalMs ago; for index misses. */
  refreshSoon(): Promise<RefreshResult> | undefined {
    if (this.walking !== undefined) return this.walking;
    if (Date.now() - this.lastWalk < this.minInterval) return undefined;
    return this.refresh();
  }

  private async walk(): Promise<RefreshResult> {
    const root = this.root;
    const startedAt = performance.now();
    if (root === undefined) return { startedAt, added: 0, removed: [] };
    const next = new Map<number, string>();
    const rootSt = await stat(root);
    this.rootId = rootSt.ino;
    next.set(rootSt.ino, '/');
    const visit = async (dir: string, rel: string, depth: number): Promise<void> => {
      if (depth > this.maxDepth) return;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return; // removed while walking
      }
      const subdirs = entries.filter((e) => e.isDirectory());
      await Promise.all(
        subdirs.map(async (e) => {
          const abs = `${dir}/${e.name}`;
          const relPath = rel === '/' ? `/${e.name}` : `${rel}/${e.name}`;
          try {
            const st = await stat(abs);
            next.set(st.ino, relPath);
          } catch {
            return;
          }
          await visit(abs, relPath, depth + 1);
        }),
      );
    };
    await visit(root, '/', 1);
    let added = 0;
    const removed: number[] = [];
    for (const id of next.keys()) if (!this.byId.has(id)) added++;
    for (const id of this.byId.keys()) if (!next.has(id)) removed.push(id);
    this.byId = next;
    this.walks++;
    return { startedAt, added, removed };
  }
}
