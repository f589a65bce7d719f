// SPDX-License-Identifier: Apache-2.0
// Privilege records (setid, capset, namespace, ptrace, prctl) turned into the
// public PrivilegeInfo / PtraceInfo parts: ids, capability and namespace
// names, ptrace requests and prctl options by name.
import type { EventKind, PrivilegeInfo } from '../../events/types.js';
import {
  type PgCapsetEvent,
  type PgCredIds,
  PgKind,
  type PgNsEvent,
  type PgPrctlEvent,
  type PgSetidEvent,
  PgSyscall,
} from '../../generated/records.js';
import { capabilityNames } from '../../process/capabilities.js';
import { bitNames, syscallName } from './syscall.js';

/** enum pg_kind → event kind, for the kinds this sensor reports. */
export const PRIV_KINDS: ReadonlyMap<number, EventKind> = new Map<number, EventKind>([
  [PgKind.PG_KIND_PRIV_SETUID, 'privilege.setuid'],
  [PgKind.PG_KIND_PRIV_SETGID, 'privilege.setgid'],
  [PgKind.PG_KIND_PRIV_CAPSET, 'privilege.capset'],
  [PgKind.PG_KIND_PRIV_PRCTL, 'privilege.prctl'],
  [PgKind.PG_KIND_NS_UNSHARE, 'namespace.unshare'],
  [PgKind.PG_KIND_NS_SETNS, 'namespace.setns'],
  [PgKind.PG_KIND_PTRACE, 'process.ptrace'],
]);

/** The namespace bits of clone/unshare flags (include/uapi/linux/sched.h). */
export const CLONE_NS_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x00020000, 'CLONE_NEWNS'],
  [0x02000000, 'CLONE_NEWCGROUP'],
  [0x04000000, 'CLONE_NEWUTS'],
  [0x08000000, 'CLONE_NEWIPC'],
  [0x10000000, 'CLONE_NEWUSER'],
  [0x20000000, 'CLONE_NEWPID'],
  [0x40000000, 'CLONE_NEWNET'],
  [0x00000080, 'CLONE_NEWTIME'],
];
const CLONE_NS_MASK = CLONE_NS_FLAGS.reduce((m, [bit]) => (m | bit) >>> 0, 0);

/** Namespace flags of a clone/unshare/setns flag word as names; the other clone flags are left out. */
export function namespaceNames(flags: number): string[] {
  // clone3 flags are 64-bit; the namespace bits all live in the low word.
  return bitNames(((flags % 2 ** 32) & CLONE_NS_MASK) >>> 0, CLONE_NS_FLAGS);
}

const PTRACE_REQUESTS: ReadonlyMap<number, string> = new Map([
  [0, 'PTRACE_TRACEME'],
  [1, 'PTRACE_PEEKTEXT'],
  [2, 'PTRACE_PEEKDATA'],
  [3, 'PTRACE_PEEKUSR'],
  [4, 'PTRACE_POKETEXT'],
  [5, 'PTRACE_POKEDATA'],
  [6, 'PTRACE_POKEUSR'],
  [7, 'PTRACE_CONT'],
  [8, 'PTRACE_KILL'],
  [9, 'PTRACE_SINGLESTEP'],
  [12, 'PTRACE_GETREGS'],
  [13, 'PTRACE_SETREGS'],
  [14, 'PTRACE_GETFPREGS'],
  [15, 'PTRACE_SETFPREGS'],
  [16, 'PTRACE_ATTACH'],
  [17, 'PTRACE_DETACH'],
  [24, 'PTRACE_SYSCALL'],
  [0x4200, 'PTRACE_SETOPTIONS'],
  [0x4204, 'PTRACE_GETREGSET'],
  [0x4205, 'PTRACE_SETREGSET'],
  [0x4206, 'PTRACE_SEIZE'],
  [0x4207, 'PTRACE_INTERRUPT'],
]);

export function ptraceRequestName(request: number): string {
  return PTRACE_REQUESTS.get(request) ?? `PTRACE_${request}`;
}

const PRCTL_OPTIONS: ReadonlyMap<number, string> = new Map([
  [4, 'PR_SET_DUMPABLE'],
  [8, 'PR_SET_KEEPCAPS'],
  [15, 'PR_SET_NAME'],
  [22, 'PR_SET_SECCOMP'],
  [24, 'PR_CAPBSET_DROP'],
  [28, 'PR_SET_SECUREBITS'],
  [35, 'PR_SET_MM'],
  [38, 'PR_SET_NO_NEW_PRIVS'],
  [47, 'PR_CAP_AMBIENT'],
  [0x59616d61, 'PR_SET_PTRACER'],
]);

export function prctlOptionName(option: number): string {
  return PRCTL_OPTIONS.get(option) ?? `PR_${option}`;
}

function ids(c: PgCredIds): NonNullable<PrivilegeInfo['old']> {
  return {
    uid: c.uid,
    euid: c.euid,
    suid: c.suid,
    gid: c.gid,
    egid: c.egid,
    sgid: c.sgid,
    fsuid: c.fsuid,
    fsgid: c.fsgid,
  };
}

// How many ids each setid syscall takes (the rest of args[] is unused).
const SETID_ARGS: ReadonlyMap<number, number> = new Map([
  [PgSyscall.PG_SYS_SETUID, 1],
  [PgSyscall.PG_SYS_SETREUID, 2],
  [PgSyscall.PG_SYS_SETRESUID, 3],
  [PgSyscall.PG_SYS_SETFSUID, 1],
  [PgSyscall.PG_SYS_SETGID, 1],
  [PgSyscall.PG_SYS_SETREGID, 2],
  [PgSyscall.PG_SYS_SETRESGID, 3],
  [PgSyscall.PG_SYS_SETFSGID, 1],
]);

/** setuid / setgid families: the ids asked for (-1: unchanged) and the ids before and after. */
export function setidInfo(rec: PgSetidEvent): PrivilegeInfo {
  const n = SETID_ARGS.get(rec.sys.syscall) ?? 3;
  return {
    syscall: syscallName(rec.sys.syscall),
    requested: rec.args.slice(0, n).map((v) => (v === 0xffffffff ? -1 : v)),
    old: ids(rec.old),
    new: ids(rec.new),
  };
}

/**
 * capset: the effective set before and after (what the process can use now);
 * gained = capabilities newly effective or newly permitted (raising an
 * effective capability from the permitted set counts).
 */
export function capsetInfo(rec: PgCapsetEvent): PrivilegeInfo {
  const gained = orMask(
    andNotMask(rec.new.effective, rec.old.effective),
    andNotMask(rec.new.permitted, rec.old.permitted),
  );
  return {
    syscall: 'capset',
    cap_old: [...capabilityNames(rec.old.effective)],
    cap_new: [...capabilityNames(rec.new.effective)],
    cap_gained: [...capabilityNames(gained)],
  };
}

// Capability masks use 41 bits: beyond 32-bit bitwise operators, so split in halves.
function orMask(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) | Math.floor(b / 2 ** 32)) >>> 0;
  const lo = ((a >>> 0) | (b >>> 0)) >>> 0;
  return hi * 2 ** 32 + lo;
}

function andNotMask(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) & ~Math.floor(b / 2 ** 32)) >>> 0;
  const lo = ((a >>> 0) & ~(b >>> 0)) >>> 0;
  return hi * 2 ** 32 + lo;
}

function nsChanged(rec: PgNsEvent): string[] {
  return bitNames(rec.changed, CLONE_NS_FLAGS);
}

/**
 * unshare / clone / clone3: the namespace flags asked for. setns: the nstype
 * asked for, or when it is 0 (any type) the namespaces that changed.
 */
export function nsInfo(rec: PgNsEvent): PrivilegeInfo {
  const isSetns = rec.sys.syscall === PgSyscall.PG_SYS_SETNS;
  const asked = namespaceNames(rec.cloneFlags);
  return {
    syscall: syscallName(rec.sys.syscall),
    namespaces: isSetns && asked.length === 0 ? nsChanged(rec) : asked,
    namespaces_changed: nsChanged(rec),
  };
}

export function prctlInfo(rec: PgPrctlEvent): PrivilegeInfo {
  return { syscall: 'prctl', option: prctlOptionName(rec.option), arg: rec.arg2 };
}
