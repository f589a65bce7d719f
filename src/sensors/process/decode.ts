// SPDX-License-Identifier: Apache-2.0
// Process records (exec, proc seed, fork) turned into the cache's
// ProcessRecord: flags as names, argv split, the forked image inherited.
import type { ProcessFlag } from '../../events/types.js';
import {
  type PgExecEvent,
  PgExecFlag,
  type PgForkEvent,
  PgForkFlag,
  PgRecordType,
} from '../../generated/records.js';
import type { ProcessEntry, ProcessRecord } from '../../process/cache.js';

/** argv as the kernel stores it (each argument NUL-terminated) → array. */
export function splitArgs(raw: string): string[] {
  if (raw === '') return [];
  const parts = raw.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function execFlags(rec: PgExecEvent, origin: ProcessRecord['origin']): ProcessFlag[] {
  const f = rec.flags;
  const out: ProcessFlag[] = [origin];
  if (f & PgExecFlag.PG_EXEC_ARGS_TRUNCATED) out.push('args_truncated');
  if (f & PgExecFlag.PG_EXEC_PATH_TRUNCATED) out.push('path_truncated');
  if (f & PgExecFlag.PG_EXEC_CWD_TRUNCATED) out.push('cwd_truncated');
  if (f & (PgExecFlag.PG_EXEC_EXE_MEMFD | PgExecFlag.PG_EXEC_EXE_ANON | PgExecFlag.PG_EXEC_EXE_DELETED)) {
    out.push('exe_from_memfd');
  }
  if (f & (PgExecFlag.PG_EXEC_SETUID | PgExecFlag.PG_EXEC_SETGID)) out.push('setuid');
  if (f & PgExecFlag.PG_EXEC_SELF) out.push('self');
  return out;
}

/** An exec or seed record as a cache record. `args` overrides argv (seeds read /proc/PID/cmdline). */
export function execRecord(rec: PgExecEvent, args?: string[]): ProcessRecord {
  const origin = rec.hdr.type === PgRecordType.PG_REC_PROC ? 'procfs' : 'exec';
  return {
    origin,
    pid: rec.pid,
    tid: rec.tid,
    ppid: rec.ppid,
    ktime: rec.key.ktime,
    parentPid: rec.parent.pid,
    parentKtime: rec.parent.ktime,
    uid: rec.uid,
    gid: rec.gid,
    euid: rec.euid,
    egid: rec.egid,
    auid: rec.loginuid,
    capEffective: rec.capEffective,
    capPermitted: rec.capPermitted,
    ns: {
      pid: rec.nsPid,
      mnt: rec.nsMnt,
      net: rec.nsNet,
      user: rec.nsUser,
      uts: rec.nsUts,
      ipc: rec.nsIpc,
      cgroup: rec.nsCgroup,
    },
    cgroupId: rec.cgroupId,
    cgroupName: rec.cgroup,
    binary: rec.path,
    args: args ?? splitArgs(rec.args),
    cwd: rec.cwd,
    tty: rec.tty,
    flags: execFlags(rec, origin),
  };
}

/**
 * A fork record as a cache record: the child runs its parent's image until it
 * execs, so binary, argv, credentials and namespaces are the parent's (the
 * kernel copies them at fork). Without a known parent only the ids are known.
 */
export function forkRecord(rec: PgForkEvent, parent: ProcessEntry | undefined): ProcessRecord {
  const p = parent?.info;
  const flags: ProcessFlag[] = ['fork'];
  if (rec.flags & PgForkFlag.PG_FORK_SELF) flags.push('self');
  return {
    origin: 'fork',
    pid: rec.pid,
    tid: rec.tid,
    ppid: rec.ppid,
    ktime: rec.key.ktime,
    parentPid: rec.parent.pid,
    parentKtime: rec.parent.ktime,
    uid: p?.uid ?? 0,
    gid: p?.gid ?? 0,
    euid: p?.euid ?? 0,
    egid: p?.egid ?? 0,
    auid: p?.auid ?? 4294967295,
    capEffective: parent?.capMasks.effective ?? 0,
    capPermitted: parent?.capMasks.permitted ?? 0,
    ns: p?.ns ?? { pid: 0, mnt: 0, net: 0, user: 0, uts: 0, ipc: 0, cgroup: 0 },
    cgroupId: p?.cgroup.id ?? 0,
    cgroupName: p?.cgroup.name ?? '',
    binary: p?.binary ?? '',
    args: p?.args ?? [],
    cwd: p?.cwd ?? '',
    tty: p?.tty ?? '',
    flags,
  };
}
