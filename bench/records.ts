// SPDX-License-Identifier: Apache-2.0
// Synthetic kernel records for the benchmarks: exec / fork / exit bytes laid out with the generated offsets and sizes.
import {
  PG_EXEC_EVENT_OFFSET as EX,
  PG_FORK_EVENT_OFFSET as FK,
  PG_HEADER_OFFSET as HDR,
  PG_EXEC_KEY_OFFSET as KEY,
  PG_EXEC_EVENT_SIZE,
  PG_EXIT_EVENT_SIZE,
  PG_FORK_EVENT_SIZE,
  PgRecordType,
  PgSchema,
  PG_EXIT_EVENT_OFFSET as XT,
} from '../src/generated/records.js';
import type { ProcessRecord } from '../src/process/cache.js';
import { splitArgs } from '../src/sensors/process/decode.js';

/** A realistic exec: binary, argv, cwd and cgroup leaf as a build/CI node would see them. */
export interface ExecShape {
  path: string;
  args: string[];
  cwd: string;
  cgroup: string;
  tty: string;
  comm: string;
}

const CONTAINER = 'cri-containerd-3f9c1b2a7d8e4f6a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a.scope';

export const SHAPES: ExecShape[] = [
  {
    path: '/usr/bin/git',
    args: ['git', 'status', '--porcelain=v2', '--branch', '--untracked-files=normal'],
    cwd: '/home/builder/src/github.com/example/peregrine',
    cgroup: 'session-3.scope',
    tty: 'pts0',
    comm: 'git',
  },
  {
    path: '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
    args: [
      '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
      '-quiet',
      '-I',
      '/home/builder/src/linux/include',
      '-imultiarch',
      'x86_64-linux-gnu',
      '-D_GNU_SOURCE',
      'kernel/sched/core.c',
      '-quiet',
      '-dumpbase',
      'core.c',
      '-mtune=generic',
      '-march=x86-64',
      '-O2',
      '-Wall',
      '-o',
      '/tmp/ccA1b2C3.s',
    ],
    cwd: '/home/builder/src/linux',
    cgroup: 'session-3.scope',
    tty: 'pts0',
    comm: 'cc1',
  },
  {
    path: '/usr/bin/python3.11',
    args: ['python3', '-m', 'pip', 'install', '--no-cache-dir', '-r', 'requirements.txt'],
    cwd: '/app',
    cgroup: CONTAINER,
    tty: '',
    comm: 'python3',
  },
  {
    path: '/usr/bin/bash',
    args: ['/bin/sh', '-c', 'curl -fsSL https://example.com/healthz -o /dev/null || exit 1'],
    cwd: '/',
    cgroup: CONTAINER,
    tty: '',
    comm: 'sh',
  },
  {
    path: '/usr/local/bin/node',
    args: ['node', '/app/node_modules/.bin/tsc', '-p', 'tsconfig.json', '--noEmit'],
    cwd: '/app/services/api',
    cgroup: 'docker-8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b.scope',
    tty: '',
    comm: 'node',
  },
  {
    path: '/usr/bin/true',
    args: ['/bin/true'],
    cwd: '/root',
    cgroup: 'session-1.scope',
    tty: 'pts1',
    comm: 'true',
  },
];

const enc = new TextEncoder();

/** A string decoded from bytes, like every string the agent reads from a record. */
function fresh(text: string): string {
  return Buffer.from(text).toString('utf8');
}

function putU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % 4294967296, true);
  view.setUint32(at + 4, Math.floor(value / 4294967296), true);
}

function putKey(view: DataView, at: number, pid: number, ktime: number): void {
  view.setUint32(at + KEY.pid, pid, true);
  putU64(view, at + KEY.ktime, ktime);
}

function putHeader(view: DataView, at: number, type: number, size: number, ktime: number): void {
  view.setUint16(at + HDR.type, type, true);
  view.setUint16(at + HDR.version, PgSchema.PG_SCHEMA_VERSION, true);
  view.setUint32(at + HDR.size, size, true);
  putU64(view, at + HDR.ktime, ktime);
}

function putCString(bytes: Uint8Array, at: number, text: string, max: number): void {
  const b = enc.encode(text);
  bytes.set(b.subarray(0, max), at);
}

/**
 * Writes records back to back exactly as the consumer hands them to
 * ProcessSensor.onBatch: `[u32 LE length][record]`. Every u64 that carries a
 * kernel time is remembered (ktimeAt) so a batch can be re-stamped for the
 * next pass: the cache then sees new identities, as it would in a real storm.
 */
export class BatchWriter {
  readonly bytes: Buffer;
  readonly view: DataView;
  used = 0;
  records = 0;
  /** Offsets of every kernel-time u64 in the batch (header, keys, start_time). */
  readonly ktimeAt: number[] = [];

  constructor(capacity: number) {
    this.bytes = Buffer.alloc(capacity);
    this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  private begin(size: number): number {
    if (this.used + 4 + size > this.bytes.byteLength) return -1;
    this.view.setUint32(this.used, size, true);
    const at = this.used + 4;
    this.used = at + size;
    this.records++;
    return at;
  }

  private time(at: number, value: number): void {
    putU64(this.view, at, value);
    this.ktimeAt.push(at);
  }

  exec(
    s: ExecShape,
    pid: number,
    ktime: number,
    parent: { pid: number; ktime: number },
    prevKtime: number,
    shiftParent = true,
  ): boolean {
    const parts = [s.path, `${s.args.join('\0')}\0`, s.cwd, s.cgroup].map((t) => enc.encode(t));
    const dataLen = parts.reduce((n, p) => n + p.byteLength, 0);
    const size = PG_EXEC_EVENT_SIZE + dataLen;
    const at = this.begin(size);
    if (at < 0) return false;
    const v = this.view;
    this.bytes.fill(0, at, at + size);
    putHeader(v, at, PgRecordType.PG_REC_EXEC, size, ktime);
    this.ktimeAt.push(at + HDR.ktime);
    putKey(v, at + EX.key, pid, 0);
    this.time(at + EX.key + KEY.ktime, ktime);
    putKey(v, at + EX.parent, parent.pid, parent.ktime);
    if (shiftParent) this.ktimeAt.push(at + EX.parent + KEY.ktime);
    putKey(v, at + EX.prev, pid, 0);
    if (prevKtime !== 0) this.time(at + EX.prev + KEY.ktime, prevKtime);
    v.setUint32(at + EX.pid, pid, true);
    v.setUint32(at + EX.tid, pid, true);
    v.setUint32(at + EX.ppid, parent.pid, true);
    v.setUint32(at + EX.nspid, pid, true);
    for (const f of ['uid', 'gid', 'euid', 'egid', 'suid', 'sgid', 'fsuid', 'fsgid'] as const) {
      v.setUint32(at + EX[f], 1000, true);
    }
    v.setUint32(at + EX.loginuid, 1000, true);
    v.setUint32(at + EX.sessionid, 3, true);
    v.setUint32(at + EX.exe_mode, 0o100755, true);
    putU64(v, at + EX.exe_ino, 1_311_245 + (pid % 977));
    v.setUint32(at + EX.exe_dev, (8 << 20) | 1, true);
    putU64(v, at + EX.cap_effective, 0);
    putU64(v, at + EX.cap_permitted, 0);
    putU64(v, at + EX.cgroup_id, 4_294_967_301 + (pid % 7));
    this.time(at + EX.start_time, ktime - 150_000);
    this.time(at + EX.start_boottime, ktime - 150_000);
    const ns = [
      4026531836, 4026531841, 4026531840, 4026531837, 4026531838, 4026531839, 4026531835, 4026531834,
    ];
    const nsFields = [
      'ns_pid',
      'ns_mnt',
      'ns_net',
      'ns_user',
      'ns_uts',
      'ns_ipc',
      'ns_cgroup',
      'ns_time',
    ] as const;
    nsFields.forEach((f, i) => {
      v.setUint32(at + EX[f], ns[i], true);
    });
    putCString(this.bytes, at + EX.tty, s.tty, EX.comm - EX.tty);
    putCString(this.bytes, at + EX.comm, s.comm, EX.path_len - EX.comm);
    const lens = ['path_len', 'args_len', 'cwd_len', 'cgroup_len'] as const;
    let off = at + EX.data;
    parts.forEach((p, i) => {
      v.setUint16(at + EX[lens[i]], p.byteLength, true);
      this.bytes.set(p, off);
      off += p.byteLength;
    });
    return true;
  }

  fork(pid: number, ktime: number, parent: { pid: number; ktime: number }): boolean {
    const at = this.begin(PG_FORK_EVENT_SIZE);
    if (at < 0) return false;
    const v = this.view;
    this.bytes.fill(0, at, at + PG_FORK_EVENT_SIZE);
    putHeader(v, at, PgRecordType.PG_REC_FORK, PG_FORK_EVENT_SIZE, ktime);
    this.ktimeAt.push(at + HDR.ktime);
    putKey(v, at + FK.key, pid, 0);
    this.time(at + FK.key + KEY.ktime, ktime);
    putKey(v, at + FK.parent, parent.pid, 0);
    this.time(at + FK.parent + KEY.ktime, parent.ktime);
    v.setUint32(at + FK.pid, pid, true);
    v.setUint32(at + FK.tid, pid, true);
    v.setUint32(at + FK.ppid, parent.pid, true);
    this.time(at + FK.start_time, ktime);
    return true;
  }

  exit(pid: number, ktime: number, keyKtime: number, status: number): boolean {
    const at = this.begin(PG_EXIT_EVENT_SIZE);
    if (at < 0) return false;
    const v = this.view;
    this.bytes.fill(0, at, at + PG_EXIT_EVENT_SIZE);
    putHeader(v, at, PgRecordType.PG_REC_EXIT, PG_EXIT_EVENT_SIZE, ktime);
    this.ktimeAt.push(at + HDR.ktime);
    putKey(v, at + XT.key, pid, 0);
    this.time(at + XT.key + KEY.ktime, keyKtime);
    v.setUint32(at + XT.pid, pid, true);
    v.setUint32(at + XT.tid, pid, true);
    v.setUint32(at + XT.exit_code, status, true);
    v.setUint32(at + XT.flags, 1, true);
    return true;
  }

  /** Shifts every kernel time in the batch by `delta` ns (re-stamps a batch for its next pass). */
  shift(delta: number): void {
    const v = this.view;
    for (const at of this.ktimeAt) {
      const cur = v.getUint32(at + 4, true) * 4294967296 + v.getUint32(at, true);
      putU64(v, at, cur + delta);
    }
  }
}

/** One realistic cache record (as decode.ts's execRecord builds it), every string its own copy. */
export function processRecord(i: number, ktime: number): ProcessRecord {
  const s = SHAPES[i % SHAPES.length];
  const pid = 10_000 + i;
  return {
    origin: 'exec',
    pid,
    tid: pid,
    ppid: 1000 + (i % 50),
    ktime,
    parentPid: 1000 + (i % 50),
    parentKtime: 1_000_000_000 + (i % 50),
    uid: 1000,
    gid: 1000,
    euid: 1000,
    egid: 1000,
    auid: 1000,
    capEffective: 0,
    capPermitted: 0,
    ns: {
      pid: 4026531836,
      mnt: 4026531841,
      net: 4026531840,
      user: 4026531837,
      uts: 4026531838,
      ipc: 4026531839,
      cgroup: 4026531835,
    },
    cgroupId: 4_294_967_301 + (i % 7),
    // Strings built as the agent builds them (decoded from bytes, argv split), so nothing is shared.
    cgroupName: fresh(s.cgroup),
    binary: fresh(s.path),
    args: splitArgs(fresh(`${s.args.join('\0')}\0`)),
    cwd: fresh(s.cwd),
    tty: fresh(s.tty),
    flags: ['exec'],
  };
}
