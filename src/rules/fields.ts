// SPDX-License-Identifier: Apache-2.0
// Falco field names over Peregrine events: each field is a small extractor, bound to its argument once at rule load.

import type { EventKind, PeregrineEvent, ProcessInfo } from '../events/types.js';
import { capabilityNames, parseCapabilityHex } from '../process/capabilities.js';
import { SYSCALLS_BY_KIND } from './kinds.js';
import { normalizeIp } from './net.js';
import type { UserDb } from './users.js';

/** How a field's values compare: numbers numerically, ip/net by address, bool against true/false. */
export type FieldType = 'string' | 'number' | 'bool' | 'ip' | 'net';
export type Scalar = string | number | boolean;
/** A field's value; `undefined` is Falco's "not available" (every comparison on it is false). */
export type FieldValue = Scalar | readonly Scalar[] | undefined;
export type Extractor = (e: PeregrineEvent) => FieldValue;

/** What extractors may need besides the event. */
export interface FieldContext {
  users: UserDb;
  /** Number of the event being evaluated (evt.num), counted by the RuleSet. */
  eventNumber(): number;
}

/** A field resolved for one use in a condition or output: name + argument bound. */
export interface ResolvedField {
  /** As written, e.g. `proc.aname[2]`. */
  name: string;
  /** Registry name, e.g. `proc.aname`. */
  base: string;
  type: FieldType;
  /** Extractor returns an array: comparisons are true when any element matches (`!=` when none equals). */
  multi: boolean;
  /** False for Falco fields Peregrine's events cannot fill: always `<NA>`. */
  supported: boolean;
  /** The value depends only on the event kind (evt.type, evt.dir): the compiler folds it into the kind index. */
  kindOnly: boolean;
  get: Extractor;
  /** Text for outputs; undefined prints `<NA>`. */
  show(e: PeregrineEvent): string | undefined;
}

/** A registry entry, listed in docs/rules.md. */
export interface FieldInfo {
  name: string;
  type: FieldType;
  supported: boolean;
  /** 'none': no argument; 'required': `name[arg]` needed; 'optional': both forms. */
  arg: 'none' | 'required' | 'optional';
  desc: string;
}

interface Bound {
  get: Extractor;
  multi?: boolean;
  show?: (e: PeregrineEvent) => string | undefined;
}

interface FieldDef extends FieldInfo {
  kindOnly?: boolean;
  /** Bind the argument; throw Error(message) when the argument is invalid. */
  make(arg: string | undefined, ctx: FieldContext): Bound;
}

// ---------------------------------------------------------------------------
// Helpers over events and processes

function basename(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

function dirname(p: string): string {
  const i = p.lastIndexOf('/');
  if (i < 0) return '.';
  if (i === 0) return '/';
  return p.slice(0, i);
}

/** Values derived from a ProcessInfo, computed once per ProcessInfo object (the process cache shares them). */
interface ProcDerived {
  name: string;
  exe: string;
  args: string;
  cmdline: string;
  cwd: string;
}

const derivedCache = new WeakMap<ProcessInfo, ProcDerived>();

/**
 * proc.name follows Falco: the task's comm, i.e. the executable's basename cut
 * to 15 characters (TASK_COMM_LEN - 1), which is why Falco lists hold names
 * like `dpkg-preconfigu`. For multi-call binaries (busybox) the comm is the
 * name it was invoked as, so argv[0] is used there.
 */
function derive(p: ProcessInfo): ProcDerived {
  let d = derivedCache.get(p);
  if (d) return d;
  const args = Array.isArray(p.args) ? p.args : [];
  const argv0 = args.length > 0 ? String(args[0]) : '';
  const binary = typeof p.binary === 'string' ? p.binary : '';
  let name = basename(binary);
  if (name === '' || name === 'busybox' || name === 'toybox')
    name = basename(argv0).replace(/^-/, '') || name;
  if (name.length > 15) name = name.slice(0, 15);
  const rest = args.length > 1 ? args.slice(1).join(' ') : '';
  const cwd = typeof p.cwd === 'string' && p.cwd !== '' ? (p.cwd.endsWith('/') ? p.cwd : p.cwd + '/') : '';
  d = {
    name,
    exe: argv0 !== '' ? argv0 : binary,
    args: rest,
    cmdline: rest === '' ? name : name + ' ' + rest,
    cwd,
  };
  derivedCache.set(p, d);
  return d;
}

/** Generation N of the process lineage: 0 the process, 1 its parent, 2+ from `ancestors`. */
function generation(e: PeregrineEvent, n: number): ProcessInfo | undefined {
  if (n === 0) return e.process;
  if (n === 1) return e.parent;
  return e.ancestors?.[n - 2];
}

/** Parent and every known ancestor, nearest first (Falco's proc.aname without index). */
function lineage(e: PeregrineEvent): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  if (e.parent) out.push(e.parent);
  if (e.ancestors) for (const a of e.ancestors) out.push(a);
  return out;
}

const RE_TIME = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/;

/** ISO-8601 with up to nanoseconds, as [epoch seconds, nanoseconds]. */
export function parseTime(s: string): [number, number] | undefined {
  if (typeof s !== 'string') return undefined;
  const m = RE_TIME.exec(s);
  if (!m) {
    const ms = Date.parse(s);
    return Number.isNaN(ms) ? undefined : [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  }
  const ms = Date.parse(m[1] + (m[3] ?? 'Z'));
  if (Number.isNaN(ms)) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return [Math.floor(ms / 1000), Number(frac)];
}

/** Linux device number of a tty name, as Falco's proc.tty reports it (0: no terminal). */
function ttyNumber(t: string): number {
  if (!t) return 0;
  const enc = (major: number, minor: number) => (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
  let m = /^pts\/?(\d+)$/.exec(t);
  if (m) {
    const n = Number(m[1]);
    return enc(136 + (n >> 8), n & 0xff);
  }
  m = /^ttyS(\d+)$/.exec(t);
  if (m) return enc(4, 64 + Number(m[1]));
  m = /^tty(\d+)$/.exec(t);
  if (m) return enc(4, Number(m[1]));
  if (t === 'console') return enc(5, 1);
  return 1; // a terminal we cannot number: still "has a tty"
}

const ERRNO: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  6: 'ENXIO',
  7: 'E2BIG',
  8: 'ENOEXEC',
  9: 'EBADF',
  10: 'ECHILD',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  23: 'ENFILE',
  24: 'EMFILE',
  25: 'ENOTTY',
  26: 'ETXTBSY',
  27: 'EFBIG',
  28: 'ENOSPC',
  29: 'ESPIPE',
  30: 'EROFS',
  31: 'EMLINK',
  32: 'EPIPE',
  34: 'ERANGE',
  36: 'ENAMETOOLONG',
  38: 'ENOSYS',
  39: 'ENOTEMPTY',
  40: 'ELOOP',
  61: 'ENODATA',
  88: 'ENOTSOCK',
  93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH',
  104: 'ECONNRESET',
  106: 'EISCONN',
  107: 'ENOTCONN',
  110: 'ETIMEDOUT',
  111: 'ECONNREFUSED',
  113: 'EHOSTUNREACH',
  114: 'EALREADY',
  115: 'EINPROGRESS',
};

/** Falco's evt.res: "SUCCESS", or the errno name of a failed call. */
function resText(rc: number | undefined): string | undefined {
  if (typeof rc !== 'number') return undefined;
  if (rc >= 0) return 'SUCCESS';
  return ERRNO[-rc] ?? `EUNKNOWN(${-rc})`;
}

// open(2) flags (x86-64/arm64 generic values) rendered as Falco renders them.
const OPEN_FLAGS: ReadonlyArray<[number, string]> = [
  [0o100, 'O_CREAT'],
  [0o200, 'O_EXCL'],
  [0o400, 'O_NOCTTY'],
  [0o1000, 'O_TRUNC'],
  [0o2000, 'O_APPEND'],
  [0o4000, 'O_NONBLOCK'],
  [0o10000, 'O_DSYNC'],
  [0o20000, 'O_ASYNC'],
  [0o40000, 'O_DIRECT'],
  [0o100000, 'O_LARGEFILE'],
  [0o200000, 'O_DIRECTORY'],
  [0o400000, 'O_NOFOLLOW'],
  [0o1000000, 'O_NOATIME'],
  [0o2000000, 'O_CLOEXEC'],
  [0o4000000, 'O_SYNC'],
  [0o10000000, 'O_PATH'],
  [0o20000000, 'O_TMPFILE'],
];

const MODE_BITS: ReadonlyArray<[number, string]> = [
  [0o4000, 'S_ISUID'],
  [0o2000, 'S_ISGID'],
  [0o1000, 'S_ISVTX'],
  [0o400, 'S_IRUSR'],
  [0o200, 'S_IWUSR'],
  [0o100, 'S_IXUSR'],
  [0o40, 'S_IRGRP'],
  [0o20, 'S_IWGRP'],
  [0o10, 'S_IXGRP'],
  [0o4, 'S_IROTH'],
  [0o2, 'S_IWOTH'],
  [0o1, 'S_IXOTH'],
];

// Few distinct flag values occur on a host: their text is built once (bounded).
const openFlagsText = new Map<number, string>();

function renderOpenFlags(flags: number): string {
  const known = openFlagsText.get(flags);
  if (known !== undefined) return known;
  const acc = flags & 3;
  const names = [acc === 0 ? 'O_RDONLY' : acc === 1 ? 'O_WRONLY' : 'O_RDWR'];
  for (const [bit, name] of OPEN_FLAGS) if (flags & bit) names.push(name);
  const text = names.join('|');
  if (openFlagsText.size < 4096) openFlagsText.set(flags, text);
  return text;
}

function renderMode(mode: number): string {
  const names: string[] = [];
  for (const [bit, name] of MODE_BITS) if (mode & bit) names.push(name);
  return names.length ? names.join('|') : '0';
}

/** open flags: the recorded ones, else rebuilt from `access`. */
function openFlags(e: PeregrineEvent): number | undefined {
  const f = e.file;
  if (!f) return undefined;
  if (typeof f.flags === 'number') return f.flags;
  const a = f.access;
  if (!a) return undefined;
  let flags =
    a.includes('write') || a.includes('append') || a.includes('truncate') ? (a.includes('read') ? 2 : 1) : 0;
  if (a.includes('create')) flags |= 0o100;
  if (a.includes('truncate')) flags |= 0o1000;
  if (a.includes('append')) flags |= 0o2000;
  return flags;
}

function openAccess(e: PeregrineEvent, what: 'read' | 'write' | 'exec'): boolean | undefined {
  if (e.kind !== 'file.open' || !e.file) return undefined;
  const a = e.file.access;
  if (a) {
    if (what === 'write') return a.includes('write') || a.includes('append') || a.includes('truncate');
    return a.includes(what);
  }
  const flags = e.file.flags;
  if (typeof flags !== 'number') return undefined;
  const acc = flags & 3;
  if (what === 'read') return acc === 0 || acc === 2;
  if (what === 'write') return acc === 1 || acc === 2;
  return undefined;
}

const FILE_KINDS = new Set<EventKind>([
  'file.open',
  'file.unlink',
  'file.rename',
  'file.link',
  'file.symlink',
  'file.chmod',
  'file.chown',
  'file.truncate',
  'file.mount',
]);

/** The path an fd-like field is about: the file, or the module file of finit_module. */
function filePath(e: PeregrineEvent): string | undefined {
  if (e.file && FILE_KINDS.has(e.kind)) return e.file.path || undefined;
  if (e.kind === 'kernel.module_load') return e.kernel?.path || undefined;
  return undefined;
}

function isServerSide(kind: EventKind): boolean {
  return kind === 'network.accept' || kind === 'network.bind' || kind === 'network.listen';
}

function ipOrNa(s: string | undefined): string | undefined {
  return typeof s === 'string' && s !== '' ? normalizeIp(s) : undefined;
}

function inet(e: PeregrineEvent) {
  const n = e.network;
  return n && n.family !== 'unix' ? n : undefined;
}

function localIp(e: PeregrineEvent): string | undefined {
  return ipOrNa(inet(e)?.local_address);
}
function remoteIp(e: PeregrineEvent): string | undefined {
  return ipOrNa(inet(e)?.remote_address);
}
function localPort(e: PeregrineEvent): number | undefined {
  const n = inet(e);
  return n && typeof n.local_port === 'number' && (n.local_port !== 0 || n.local_address)
    ? n.local_port
    : undefined;
}
function remotePort(e: PeregrineEvent): number | undefined {
  const n = inet(e);
  return n && typeof n.remote_port === 'number' && n.remote_address ? n.remote_port : undefined;
}
const serverIp = (e: PeregrineEvent) => (isServerSide(e.kind) ? localIp(e) : remoteIp(e));
const clientIp = (e: PeregrineEvent) => (isServerSide(e.kind) ? remoteIp(e) : localIp(e));
const serverPort = (e: PeregrineEvent) => (isServerSide(e.kind) ? localPort(e) : remotePort(e));
const clientPort = (e: PeregrineEvent) => (isServerSide(e.kind) ? remotePort(e) : localPort(e));

function bothIps(e: PeregrineEvent): string[] | undefined {
  const a = localIp(e);
  const b = remoteIp(e);
  if (a === undefined && b === undefined) return undefined;
  const out: string[] = [];
  if (a !== undefined) out.push(a);
  if (b !== undefined) out.push(b);
  return out;
}

function fdName(e: PeregrineEvent): string | undefined {
  const p = filePath(e);
  if (p !== undefined) return p;
  if (e.kind === 'process.memfd_create' && e.kernel?.memfd_name !== undefined)
    return 'memfd:' + e.kernel.memfd_name;
  const n = e.network;
  if (!n) return undefined;
  if (n.family === 'unix') return n.remote_address || n.local_address || undefined;
  const c = clientIp(e);
  const s = serverIp(e);
  if (c !== undefined && s !== undefined) return `${c}:${clientPort(e)}->${s}:${serverPort(e)}`;
  const l = localIp(e);
  return l !== undefined ? `${l}:${localPort(e)}` : undefined;
}

function fdType(e: PeregrineEvent): string | undefined {
  if (filePath(e) !== undefined) return 'file';
  if (e.kind === 'process.memfd_create') return 'memfd';
  const n = e.network;
  if (!n) return undefined;
  return n.family === 'inet' ? 'ipv4' : n.family === 'inet6' ? 'ipv6' : 'unix';
}

const TYPECHAR: Record<string, string> = { file: 'f', ipv4: '4', ipv6: '6', unix: 'u' };

function splitImage(image: string): { repo: string; tag?: string; digest?: string } {
  let rest = image;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) return { repo: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { repo: rest, digest };
}

function nonEmpty(s: string | undefined): string | undefined {
  return typeof s === 'string' && s !== '' ? s : undefined;
}

function joinCaps(c: readonly string[] | undefined, sep = ' '): string | undefined {
  return Array.isArray(c) ? c.join(sep) : undefined;
}

const capCache = new Map<string, string>();

/**
 * A capability mask as /proc/PID/status prints it (16 hex digits, bit n =
 * capability n) to Falco's text: names separated by spaces. Few distinct masks
 * exist on a host, so the text is cached per mask.
 */
export function capText(mask: unknown): string | undefined {
  if (Array.isArray(mask)) return mask.join(' ');
  if (typeof mask !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(mask)) return undefined;
  let t = capCache.get(mask);
  if (t !== undefined) return t;
  t = capabilityNames(parseCapabilityHex(mask.padStart(16, '0'))).join(' ');
  if (capCache.size < 4096) capCache.set(mask, t);
  return t;
}

// ---------------------------------------------------------------------------
// Syscall arguments: evt.arg.NAME / evt.arg[N] (text) and evt.rawarg.NAME (raw)

/** Argument names per kind, in Falco's parameter order for the exit event (evt.arg[N]). */
export const ARGS_BY_KIND: Readonly<Record<EventKind, readonly string[]>> = {
  'process.exec': ['res', 'exe', 'args', 'tid', 'pid', 'ptid', 'cwd', 'flags'],
  'process.exit': ['status', 'ret', 'sig'],
  'process.fork': ['res', 'exe', 'args', 'tid', 'pid', 'ptid', 'cwd', 'flags'],
  'file.open': ['fd', 'dirfd', 'name', 'flags', 'mode'],
  'file.unlink': ['res', 'dirfd', 'name', 'flags'],
  'file.rename': ['res', 'olddirfd', 'oldpath', 'newdirfd', 'newpath'],
  'file.link': ['res', 'olddir', 'oldpath', 'newdir', 'newpath', 'flags'],
  'file.symlink': ['res', 'target', 'linkdirfd', 'linkpath'],
  'file.chmod': ['res', 'filename', 'mode'],
  'file.chown': ['res', 'path', 'uid', 'gid'],
  'file.truncate': ['res', 'path'],
  'file.mount': ['res', 'dev', 'dir', 'type', 'flags'],
  'network.connect': ['res', 'tuple', 'fd'],
  'network.accept': ['fd', 'tuple', 'queuepct', 'queuelen', 'queuemax'],
  'network.bind': ['res', 'addr'],
  'network.listen': ['res', 'fd', 'backlog'],
  'network.send': ['res', 'data', 'tuple'],
  'privilege.setuid': ['res', 'uid', 'ruid', 'euid', 'suid', 'old_uid', 'old_euid', 'old_suid'],
  'privilege.setgid': ['res', 'gid', 'rgid', 'egid', 'sgid', 'old_gid', 'old_egid', 'old_sgid'],
  'privilege.capset': ['res', 'cap_inheritable', 'cap_permitted', 'cap_effective', 'cap_old', 'cap_gained'],
  'privilege.prctl': ['res', 'option', 'arg2_str', 'arg2_int'],
  'namespace.unshare': ['res', 'flags'],
  'namespace.setns': ['res', 'fd', 'nstype'],
  'process.ptrace': ['res', 'addr', 'data', 'request', 'pid'],
  'kernel.module_load': ['res', 'fd', 'uargs', 'flags', 'name', 'path'],
  'kernel.bpf': ['fd', 'cmd', 'prog_type', 'prog_name'],
  'kernel.kexec': ['res'],
  'process.memfd_create': ['fd', 'name', 'flags'],
};

const NUMERIC_ARGS = new Set([
  'res',
  'fd',
  'flags',
  'mode',
  'uid',
  'gid',
  'ruid',
  'euid',
  'suid',
  'rgid',
  'egid',
  'sgid',
  'old_uid',
  'old_euid',
  'old_suid',
  'old_gid',
  'old_egid',
  'old_sgid',
  'pid',
  'tid',
  'ptid',
  'status',
  'ret',
  'sig',
]);

/** Raw value of a named argument for this event, undefined when the kind has no such argument. */
function argRaw(e: PeregrineEvent, name: string): string | number | undefined {
  const k = e.kind;
  const f = e.file;
  const pr = e.privilege;
  const kn = e.kernel;
  switch (name) {
    case 'res':
    case 'ret':
      return e.return_code;
    case 'fd':
      return k === 'file.open' || k === 'network.accept' || k === 'process.memfd_create' || k === 'kernel.bpf'
        ? e.return_code
        : undefined;
    case 'name':
      if (k === 'process.memfd_create') return kn?.memfd_name;
      if (k === 'kernel.module_load') return kn?.module;
      return k === 'file.open' || k === 'file.unlink' ? f?.path : undefined;
    case 'path':
      if (k === 'kernel.module_load') return kn?.path;
      return k === 'file.chown' || k === 'file.truncate' ? f?.path : undefined;
    case 'filename':
      return k === 'file.chmod' ? f?.path : undefined;
    case 'oldpath':
      return k === 'file.rename' || k === 'file.link' ? f?.path : undefined;
    case 'newpath':
      return k === 'file.rename' || k === 'file.link' ? f?.new_path : undefined;
    case 'target':
      return k === 'file.symlink' ? f?.path : undefined;
    case 'linkpath':
      return k === 'file.symlink' ? f?.new_path : undefined;
    case 'flags':
      if (k === 'file.open') return openFlags(e);
      if (k === 'namespace.unshare') return pr?.namespaces ? pr.namespaces.join('|') : undefined;
      if (k === 'process.exec')
        return e.process?.flags?.includes('exe_from_memfd') ? 'EXE_FROM_MEMFD' : undefined;
      return k === 'file.mount' || k === 'file.unlink' || k === 'file.link' ? f?.flags : undefined;
    case 'mode':
      return k === 'file.chmod' || k === 'file.open' ? f?.mode : undefined;
    case 'uid':
      return k === 'file.chown' ? f?.uid : k === 'privilege.setuid' ? pr?.new?.uid : undefined;
    case 'gid':
      return k === 'file.chown' ? f?.gid : k === 'privilege.setgid' ? pr?.new?.gid : undefined;
    case 'ruid':
      return k === 'privilege.setuid' ? pr?.new?.uid : undefined;
    case 'euid':
      return k === 'privilege.setuid' ? pr?.new?.euid : undefined;
    case 'suid':
      return k === 'privilege.setuid' ? pr?.new?.suid : undefined;
    case 'rgid':
      return k === 'privilege.setgid' ? pr?.new?.gid : undefined;
    case 'egid':
      return k === 'privilege.setgid' ? pr?.new?.egid : undefined;
    case 'sgid':
      return k === 'privilege.setgid' ? pr?.new?.sgid : undefined;
    case 'old_uid':
      return k === 'privilege.setuid' ? pr?.old?.uid : undefined;
    case 'old_euid':
      return k === 'privilege.setuid' ? pr?.old?.euid : undefined;
    case 'old_suid':
      return k === 'privilege.setuid' ? pr?.old?.suid : undefined;
    case 'old_gid':
      return k === 'privilege.setgid' ? pr?.old?.gid : undefined;
    case 'old_egid':
      return k === 'privilege.setgid' ? pr?.old?.egid : undefined;
    case 'old_sgid':
      return k === 'privilege.setgid' ? pr?.old?.sgid : undefined;
    case 'cap_effective':
    case 'cap_permitted':
      return k === 'privilege.capset' ? joinCaps(pr?.cap_new) : undefined;
    case 'cap_old':
      return k === 'privilege.capset' ? joinCaps(pr?.cap_old) : undefined;
    case 'cap_gained':
      return k === 'privilege.capset' ? joinCaps(pr?.cap_gained) : undefined;
    case 'dev':
      return k === 'file.mount' ? f?.source : undefined;
    case 'dir':
      return k === 'file.mount' ? f?.path : undefined;
    case 'type':
      return k === 'file.mount' ? f?.fstype : undefined;
    case 'request': {
      if (k !== 'process.ptrace' || !e.ptrace) return undefined;
      const r = String(e.ptrace.request);
      return r.startsWith('PTRACE_') ? r : 'PTRACE_' + r.toUpperCase();
    }
    case 'pid':
      if (k === 'process.ptrace') return e.ptrace?.target_pid;
      return k === 'process.exec' || k === 'process.fork' ? e.process?.pid : undefined;
    case 'tid':
      return k === 'process.exec' || k === 'process.fork' ? e.process?.tid : undefined;
    case 'ptid':
      return k === 'process.exec' || k === 'process.fork' ? e.process?.ppid : undefined;
    case 'exe':
      return k === 'process.exec' || k === 'process.fork' ? e.process && derive(e.process).exe : undefined;
    case 'args':
      return k === 'process.exec' || k === 'process.fork' ? e.process && derive(e.process).args : undefined;
    case 'cwd':
      return k === 'process.exec' || k === 'process.fork' ? e.process?.cwd : undefined;
    case 'tuple':
      return k === 'network.connect' || k === 'network.accept' || k === 'network.send'
        ? fdName(e)
        : undefined;
    case 'addr':
      return k === 'network.bind' ? fdName(e) : undefined;
    case 'status':
      return k === 'process.exit' ? e.exit?.code : undefined;
    case 'sig':
      return k === 'process.exit' ? e.exit?.signal : undefined;
    case 'nstype':
      return k === 'namespace.setns' && pr?.namespaces ? pr.namespaces.join('|') : undefined;
    case 'option':
      return k === 'privilege.prctl' ? pr?.option : undefined;
    case 'cmd':
      return k === 'kernel.bpf' ? kn?.bpf_cmd : undefined;
    case 'prog_type':
      return k === 'kernel.bpf' ? kn?.prog_type : undefined;
    case 'prog_name':
      return k === 'kernel.bpf' ? kn?.prog_name : undefined;
    default:
      return undefined;
  }
}

/** Argument as Falco renders it: flag names for open flags and modes, text otherwise. */
function argText(e: PeregrineEvent, name: string): string | undefined {
  const v = argRaw(e, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') {
    if (name === 'flags' && e.kind === 'file.open') return renderOpenFlags(v);
    if (name === 'mode') return renderMode(v);
  }
  return String(v);
}

/** All arguments as "name=value ..." (evt.args). */
function argsText(e: PeregrineEvent): string | undefined {
  const names = ARGS_BY_KIND[e.kind];
  if (!names) return undefined;
  const parts: string[] = [];
  for (const n of names) {
    const v = argText(e, n);
    if (v !== undefined) parts.push(`${n}=${v}`);
  }
  return parts.join(' ');
}

// ---------------------------------------------------------------------------
// The registry

const defs = new Map<string, FieldDef>();

function add(
  name: string,
  type: FieldType,
  desc: string,
  get: Extractor,
  extra: Partial<Pick<FieldDef, 'kindOnly'>> & {
    show?: (e: PeregrineEvent) => string | undefined;
    multi?: boolean;
  } = {},
): void {
  defs.set(name, {
    name,
    type,
    desc,
    supported: true,
    arg: 'none',
    kindOnly: extra.kindOnly,
    make: () => ({ get, show: extra.show, multi: extra.multi }),
  });
}

function addArg(
  name: string,
  type: FieldType,
  arg: 'required' | 'optional',
  desc: string,
  make: (arg: string | undefined, ctx: FieldContext) => Bound,
): void {
  defs.set(name, { name, type, desc, supported: true, arg, make });
}

function addCtx(name: string, type: FieldType, desc: string, make: (ctx: FieldContext) => Extractor): void {
  defs.set(name, { name, type, desc, supported: true, arg: 'none', make: (_a, ctx) => ({ get: make(ctx) }) });
}

/** A Falco field Peregrine's events do not carry: it parses, prints <NA>, and makes the rule "not fully evaluable". */
function unsupported(name: string, type: FieldType, desc: string, arg: FieldInfo['arg'] = 'none'): void {
  defs.set(name, { name, type, desc, supported: false, arg, make: () => ({ get: () => undefined }) });
}

function parseIndex(arg: string | undefined, field: string): number {
  if (arg === undefined || !/^[0-9]{1,4}$/.test(arg))
    throw new Error(`field '${field}' needs a numeric index, e.g. ${field}[1]`);
  return Number(arg);
}

// Process lineage: proc.aname[N] style fields, and their no-index "any ancestor" form.
function lineageField(
  name: string,
  type: FieldType,
  desc: string,
  pick: (p: ProcessInfo) => Scalar | undefined,
  optional: boolean,
): void {
  addArg(name, type, optional ? 'optional' : 'required', desc, (arg) => {
    if (arg === undefined) {
      if (!optional) throw new Error(`field '${name}' needs an index`);
      return {
        multi: true,
        get: (e) => {
          const l = lineage(e);
          if (l.length === 0) return undefined;
          const out: Scalar[] = [];
          for (const p of l) {
            const v = pick(p);
            if (v !== undefined) out.push(v);
          }
          return out;
        },
      };
    }
    const n = parseIndex(arg, name);
    return {
      get: (e) => {
        const p = generation(e, n);
        return p ? pick(p) : undefined;
      },
    };
  });
}

const procName = (p: ProcessInfo) => derive(p).name;

// evt.*
add(
  'evt.type',
  'string',
  'syscall name; each Peregrine kind answers to several names (see the kind table)',
  (e) => SYSCALLS_BY_KIND[e.kind],
  {
    kindOnly: true,
    multi: true,
    show: (e) => SYSCALLS_BY_KIND[e.kind]?.[0],
  },
);
add('syscall.type', 'string', 'same as evt.type for syscall events', (e) => SYSCALLS_BY_KIND[e.kind], {
  kindOnly: true,
  multi: true,
  show: (e) => SYSCALLS_BY_KIND[e.kind]?.[0],
});
add('evt.dir', 'string', "always '<': Peregrine reports completed calls", () => '<', { kindOnly: true });
add('evt.source', 'string', "always 'syscall'", () => 'syscall', { kindOnly: true });
add('evt.time', 'string', 'event time, ISO-8601 with nanoseconds', (e) => e.time);
add('evt.datetime', 'string', 'event time, ISO-8601', (e) => e.time);
add('evt.rawtime', 'number', 'event time in nanoseconds since the epoch (double precision)', (e) => {
  const t = parseTime(e.time);
  return t ? t[0] * 1e9 + t[1] : undefined;
});
add('evt.hostname', 'string', 'node name', (e) => e.node);
addCtx('evt.num', 'number', 'event number, counted from 1 by the rule set', (ctx) => () => ctx.eventNumber());
add('evt.rawres', 'number', 'syscall return value (negative errno on failure)', (e) => e.return_code);
add('evt.res', 'string', "'SUCCESS' or the errno name (ENOENT, EACCES ...)", (e) => resText(e.return_code));
add('evt.failed', 'bool', 'the call returned an error', (e) =>
  typeof e.return_code === 'number' ? e.return_code < 0 : undefined,
);
add('evt.is_open_read', 'bool', 'file.open for reading', (e) => openAccess(e, 'read'));
add('evt.is_open_write', 'bool', 'file.open for writing', (e) => openAccess(e, 'write'));
add('evt.is_open_exec', 'bool', 'file.open for execution', (e) => openAccess(e, 'exec'));
add('evt.args', 'string', 'all arguments as name=value', argsText);
addArg(
  'evt.arg',
  'string',
  'required',
  'syscall argument by name (evt.arg.flags, evt.arg[0]), as Falco renders it',
  (arg) => {
    if (arg === undefined) throw new Error("field 'evt.arg' needs an argument name or index");
    if (/^[0-9]+$/.test(arg)) {
      const n = Number(arg);
      return {
        get: (e) => {
          const name = ARGS_BY_KIND[e.kind]?.[n];
          return name === undefined ? undefined : argText(e, name);
        },
      };
    }
    return { get: (e) => argText(e, arg) };
  },
);
defs.set('evt.rawarg', {
  name: 'evt.rawarg',
  type: 'number',
  desc: 'syscall argument by name, raw (numbers for flags, mode, uid ...)',
  supported: true,
  arg: 'required',
  make: (arg) => {
    if (arg === undefined) throw new Error("field 'evt.rawarg' needs an argument name");
    return { get: (e) => argRaw(e, arg) };
  },
});

// proc.* / thread.*
add(
  'proc.name',
  'string',
  'executable basename, cut to 15 characters like the kernel comm',
  (e) => e.process && procName(e.process),
);
add('proc.exe', 'string', 'argv[0]', (e) => e.process && derive(e.process).exe);
add('proc.exepath', 'string', 'full path of the executable', (e) => nonEmpty(e.process?.binary));
add(
  'proc.cmdline',
  'string',
  'proc.name followed by the arguments',
  (e) => e.process && derive(e.process).cmdline,
);
add(
  'proc.args',
  'string',
  'arguments without argv[0], joined by spaces',
  (e) => e.process && derive(e.process).args,
);
add('proc.cwd', 'string', 'working directory, with a trailing slash', (e) =>
  e.process ? nonEmpty(derive(e.process).cwd) : undefined,
);
add('proc.pid', 'number', 'process id', (e) => e.process?.pid);
add('proc.tid', 'number', 'thread id', (e) => e.process?.tid);
add('thread.tid', 'number', 'thread id', (e) => e.process?.tid);
add('proc.ppid', 'number', 'parent process id', (e) => e.process?.ppid);
add('proc.pname', 'string', "parent's proc.name", (e) => e.parent && procName(e.parent));
add('proc.pexe', 'string', "parent's argv[0]", (e) => e.parent && derive(e.parent).exe);
add('proc.pexepath', 'string', "parent's executable path", (e) => nonEmpty(e.parent?.binary));
add('proc.pcmdline', 'string', "parent's proc.cmdline", (e) => e.parent && derive(e.parent).cmdline);
add('proc.pcwd', 'string', "parent's working directory", (e) =>
  e.parent ? nonEmpty(derive(e.parent).cwd) : undefined,
);
lineageField(
  'proc.aname',
  'string',
  'ancestor name: [0] self, [1] parent, [2+] needs --ancestors; no index: any ancestor',
  procName,
  true,
);
lineageField('proc.apid', 'number', 'ancestor pid (as proc.aname)', (p) => p.pid, true);
lineageField('proc.aexe', 'string', 'ancestor argv[0] (as proc.aname)', (p) => derive(p).exe, true);
lineageField(
  'proc.aexepath',
  'string',
  'ancestor executable path (as proc.aname)',
  (p) => nonEmpty(p.binary),
  true,
);
lineageField(
  'proc.acmdline',
  'string',
  'ancestor command line (as proc.aname)',
  (p) => derive(p).cmdline,
  true,
);
add('proc.tty', 'number', 'controlling terminal device number, 0 when none', (e) =>
  e.process ? ttyNumber(e.process.tty) : undefined,
);
add('proc.duration', 'number', 'nanoseconds since the process identity started', (e) => {
  const a = parseTime(e.time);
  const b = e.process ? parseTime(e.process.start_time) : undefined;
  return a && b ? (a[0] - b[0]) * 1e9 + (a[1] - b[1]) : undefined;
});
add('proc.is_exe_from_memfd', 'bool', 'executable has no path: memfd or deleted file', (e) =>
  e.process ? e.process.flags.includes('exe_from_memfd') : undefined,
);
add('proc.is_suid_exe', 'bool', 'effective uid differs from real uid after exec', (e) =>
  e.process ? e.process.flags.includes('setuid') : undefined,
);
add('proc.exec_id', 'string', "Peregrine's unique process identity", (e) => e.process?.exec_id);
add(
  'thread.cap_effective',
  'string',
  'effective capabilities as names, space separated (from the hex mask)',
  (e) => capText(e.process?.cap?.effective),
);
add('thread.cap_permitted', 'string', 'permitted capabilities, space separated', (e) =>
  capText(e.process?.cap?.permitted),
);
add('proc.cgroup', 'string', 'cgroup path of the process', (e) => nonEmpty(e.process?.cgroup?.name));
add('proc.is_container', 'bool', 'the process runs in a container', (e) => e.container !== undefined);

// user.* / group.*
addCtx('user.uid', 'number', 'effective user id', () => (e) => e.process?.euid);
addCtx(
  'user.name',
  'string',
  'name of user.uid from /etc/passwd',
  (ctx) => (e) => (e.process ? ctx.users.userName(e.process.euid) : undefined),
);
add('user.loginuid', 'number', 'audit login uid, -1 when unset', (e) => {
  const a = e.process?.auid;
  return typeof a === 'number' ? (a === 4294967295 ? -1 : a) : undefined;
});
addCtx('user.loginname', 'string', 'name of user.loginuid', (ctx) => (e) => {
  const a = e.process?.auid;
  return typeof a === 'number' && a !== 4294967295 ? ctx.users.userName(a) : undefined;
});
add('group.gid', 'number', 'effective group id', (e) => e.process?.egid);
addCtx(
  'group.name',
  'string',
  'name of group.gid from /etc/group',
  (ctx) => (e) => (e.process ? ctx.users.groupName(e.process.egid) : undefined),
);

// fd.* / fs.path.*
add('fd.name', 'string', "file path; 'cip:cport->sip:sport' for sockets; memfd:NAME", fdName);
add('fd.nameraw', 'string', 'file path as recorded (kernel-resolved paths hold no ../)', (e) => filePath(e));
add('fd.directory', 'string', 'directory of fd.name (files)', (e) => {
  const p = filePath(e);
  return p === undefined ? undefined : dirname(p);
});
add('fd.filename', 'string', 'basename of fd.name (files)', (e) => {
  const p = filePath(e);
  return p === undefined ? undefined : basename(p);
});
add('fd.type', 'string', 'file, ipv4, ipv6, unix, memfd', fdType);
add('fd.typechar', 'string', 'f, 4, 6, u', (e) => {
  const t = fdType(e);
  return t === undefined ? undefined : TYPECHAR[t];
});
add('fd.num', 'number', 'descriptor returned by open/accept/memfd_create (-1 on failure)', (e) => {
  const k = e.kind;
  if (k !== 'file.open' && k !== 'network.accept' && k !== 'process.memfd_create') return undefined;
  const rc = e.return_code;
  return typeof rc === 'number' ? (rc < 0 ? -1 : rc) : undefined;
});
add('fd.sip', 'ip', 'server address', serverIp);
add('fd.cip', 'ip', 'client address', clientIp);
add('fd.lip', 'ip', 'local address', localIp);
add('fd.rip', 'ip', 'remote address', remoteIp);
add('fd.sport', 'number', 'server port', serverPort);
add('fd.cport', 'number', 'client port', clientPort);
add('fd.lport', 'number', 'local port', localPort);
add('fd.rport', 'number', 'remote port', remotePort);
defs.set('fd.ip', {
  name: 'fd.ip',
  type: 'ip',
  desc: 'either address (matches client or server)',
  supported: true,
  arg: 'none',
  make: () => ({ get: bothIps, multi: true }),
});
defs.set('fd.port', {
  name: 'fd.port',
  type: 'number',
  desc: 'either port (matches client or server)',
  supported: true,
  arg: 'none',
  make: () => ({
    multi: true,
    get: (e) => {
      const a = localPort(e);
      const b = remotePort(e);
      if (a === undefined && b === undefined) return undefined;
      return [a, b].filter((x): x is number => x !== undefined);
    },
  }),
});
defs.set('fd.net', {
  name: 'fd.net',
  type: 'net',
  desc: 'either address, compared against networks (fd.net = "10.0.0.0/8")',
  supported: true,
  arg: 'none',
  make: () => ({ get: bothIps, multi: true }),
});
add('fd.snet', 'net', 'server address, compared against networks', serverIp);
add('fd.cnet', 'net', 'client address, compared against networks', clientIp);
add('fd.lnet', 'net', 'local address, compared against networks', localIp);
add('fd.rnet', 'net', 'remote address, compared against networks', remoteIp);
add('fd.l4proto', 'string', 'tcp, udp, raw', (e) => nonEmpty(inet(e)?.protocol));
add('fs.path.name', 'string', 'path the file syscall is about', (e) => filePath(e));
add('fs.path.nameraw', 'string', 'path the file syscall is about, as recorded', (e) => filePath(e));
add('fs.path.source', 'string', 'rename/link source, symlink target', (e) =>
  e.kind === 'file.rename' || e.kind === 'file.link' || e.kind === 'file.symlink'
    ? nonEmpty(e.file?.path)
    : undefined,
);
add('fs.path.target', 'string', 'rename/link destination, symlink path', (e) =>
  e.kind === 'file.rename' || e.kind === 'file.link' || e.kind === 'file.symlink'
    ? nonEmpty(e.file?.new_path)
    : undefined,
);

// container.* / k8s.*
add('container.id', 'string', "container id (12 characters, like Falco), 'host' outside containers", (e) => {
  const id = e.container?.id;
  if (!id) return 'host';
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
});
add(
  'container.full_id',
  'string',
  "full container id, 'host' outside containers",
  (e) => e.container?.id || 'host',
);
add('container.name', 'string', "container name, 'host' outside containers", (e) =>
  e.container ? nonEmpty(e.container.name) : 'host',
);
add('container.image', 'string', 'image reference', (e) => nonEmpty(e.container?.image));
add('container.image.repository', 'string', 'image without tag or digest', (e) => {
  const i = e.container?.image;
  return i ? splitImage(i).repo : undefined;
});
add('container.image.tag', 'string', 'image tag', (e) => {
  const i = e.container?.image;
  return i ? splitImage(i).tag : undefined;
});
add('container.image.digest', 'string', 'image digest from the reference', (e) => {
  const i = e.container?.image;
  return i ? splitImage(i).digest : undefined;
});
add('container.image.id', 'string', 'image id', (e) => nonEmpty(e.container?.image_id));
add('container.type', 'string', 'runtime (docker, containerd, cri-o ...)', (e) =>
  nonEmpty(e.container?.runtime),
);
addArg('container.label', 'string', 'required', 'container label by key', (arg) => ({
  get: (e) => (arg === undefined ? undefined : e.container?.labels?.[arg]),
}));
add('container.labels', 'string', 'container labels as key:value, comma separated', (e) => {
  const l = e.container?.labels;
  return l
    ? Object.entries(l)
        .map(([k, v]) => `${k}:${v}`)
        .join(', ')
    : undefined;
});
add('k8s.ns.name', 'string', 'pod namespace', (e) => nonEmpty(e.pod?.namespace));
add('k8s.pod.name', 'string', 'pod name', (e) => nonEmpty(e.pod?.name));
add('k8s.pod.uid', 'string', 'pod uid', (e) => nonEmpty(e.pod?.uid));
add('k8s.pod.id', 'string', 'pod uid', (e) => nonEmpty(e.pod?.uid));
addArg('k8s.pod.label', 'string', 'required', 'pod label by key', (arg) => ({
  get: (e) => (arg === undefined ? undefined : e.pod?.labels?.[arg]),
}));
defs.set('k8s.pod.labels', {
  name: 'k8s.pod.labels',
  type: 'string',
  desc: 'pod labels as key:value items (in/intersects match items)',
  supported: true,
  arg: 'none',
  make: () => ({
    multi: true,
    get: (e) => {
      const l = e.pod?.labels;
      return l ? Object.entries(l).map(([k, v]) => `${k}:${v}`) : undefined;
    },
    show: (e) => {
      const l = e.pod?.labels;
      return l
        ? Object.entries(l)
            .map(([k, v]) => `${k}:${v}`)
            .join(', ')
        : undefined;
    },
  }),
});

// Peregrine extensions (not Falco fields): prefixed pg. so they never collide with Falco's names.
add(
  'pg.write_path',
  'string',
  'path whose content or entry the call replaces: open for write, truncate, rename/link/symlink destination',
  (e) => {
    const f = e.file;
    if (!f) return undefined;
    switch (e.kind) {
      case 'file.open':
        return openAccess(e, 'write') ? nonEmpty(f.path) : undefined;
      case 'file.truncate':
        return nonEmpty(f.path);
      case 'file.rename':
      case 'file.link':
      case 'file.symlink':
        return nonEmpty(f.new_path);
      default:
        return undefined;
    }
  },
);
defs.set('pg.proc_flags', {
  name: 'pg.proc_flags',
  type: 'string',
  desc: "process flags (exec, fork, procfs, exe_from_memfd, setuid, self ...); 'in' matches any",
  supported: true,
  arg: 'none',
  make: () => ({ multi: true, get: (e) => e.process?.flags }),
});

// Falco fields the events cannot fill (kept so Falco rules load; listed as unsupported).
for (const [name, type, desc] of [
  ['evt.cpu', 'number', 'CPU number'],
  ['evt.latency', 'number', 'enter-to-exit latency'],
  ['evt.latency.s', 'number', 'latency seconds'],
  ['evt.latency.ns', 'number', 'latency nanoseconds'],
  ['evt.deltatime', 'number', 'time since previous event'],
  ['evt.buffer', 'string', 'I/O buffer'],
  ['evt.buflen', 'number', 'I/O buffer length'],
  ['evt.info', 'string', 'formatted event info'],
  ['evt.is_io', 'bool', 'I/O event'],
  ['evt.is_io_read', 'bool', 'read I/O event'],
  ['evt.is_io_write', 'bool', 'write I/O event'],
  ['evt.is_syslog', 'bool', 'write to syslog'],
  ['evt.abspath', 'string', 'absolute path of a *at call'],
  ['evt.category', 'string', 'event category'],
  ['proc.env', 'string', 'environment'],
  ['proc.sid', 'number', 'session id'],
  ['proc.sname', 'string', 'session leader name (no session ids in events)'],
  ['proc.vpid', 'number', 'pid in the pid namespace'],
  ['proc.vpgid', 'number', 'process group id'],
  ['proc.vpgid.name', 'string', 'process group leader name'],
  ['proc.vpgid.exe', 'string', 'process group leader argv[0]'],
  ['proc.vpgid.exepath', 'string', 'process group leader path'],
  ['proc.is_vpgid_leader', 'bool', 'process group leader'],
  ['proc.is_sid_leader', 'bool', 'session leader'],
  ['proc.loginshellid', 'number', 'login shell pid'],
  ['proc.nthreads', 'number', 'thread count'],
  ['proc.nchilds', 'number', 'child count'],
  ['proc.fdopencount', 'number', 'open descriptors'],
  ['proc.fdlimit', 'number', 'descriptor limit'],
  ['proc.vmsize', 'number', 'virtual memory'],
  ['proc.vmrss', 'number', 'resident memory'],
  ['proc.vmswap', 'number', 'swapped memory'],
  ['proc.ppid.duration', 'number', 'parent age'],
  ['proc.pid.ts', 'number', 'process start timestamp'],
  ['proc.ppid.ts', 'number', 'parent start timestamp'],
  ['proc.is_exe_writable', 'bool', 'executable writable by the user'],
  ['proc.is_exe_upper_layer', 'bool', 'executable in the overlayfs upper layer'],
  ['proc.is_exe_lower_layer', 'bool', 'executable in the overlayfs lower layer'],
  ['proc.exe_ino', 'number', 'executable inode'],
  ['proc.exe_ino.ctime', 'number', 'executable ctime'],
  ['proc.exe_ino.mtime', 'number', 'executable mtime'],
  ['proc.exe_ino.ctime_duration_proc_start', 'number', 'executable ctime to process start'],
  ['proc.exe_ino.ctime_duration_pidns_start', 'number', 'executable ctime to pid-namespace start'],
  ['proc.pidns_init_start_ts', 'number', 'pid-namespace init start'],
  ['proc.is_container_healthcheck', 'bool', 'container health check'],
  ['proc.is_container_liveness_probe', 'bool', 'liveness probe'],
  ['proc.is_container_readiness_probe', 'bool', 'readiness probe'],
  ['proc.stdin_type', 'string', 'type of fd 0'],
  ['proc.stdout_type', 'string', 'type of fd 1'],
  ['proc.stderr_type', 'string', 'type of fd 2'],
  ['proc.stdin_name', 'string', 'name of fd 0'],
  ['proc.stdout_name', 'string', 'name of fd 1'],
  ['proc.stderr_name', 'string', 'name of fd 2'],
  ['proc.cmdnargs', 'number', 'argument count'],
  ['proc.cmdlenargs', 'number', 'argument length'],
  ['proc.exeline', 'string', 'full command line with argv[0]'],
  ['thread.cap_inheritable', 'string', 'inheritable capabilities'],
  ['thread.vtid', 'number', 'tid in the pid namespace'],
  ['thread.ismain', 'bool', 'main thread'],
  ['thread.exectime', 'number', 'last scheduled run time'],
  ['thread.totexectime', 'number', 'total run time'],
  ['thread.cgroups', 'string', 'all cgroups'],
  ['user.homedir', 'string', 'home directory'],
  ['user.shell', 'string', 'login shell'],
  ['fd.uid', 'string', 'descriptor unique id'],
  ['fd.containername', 'string', 'container name + fd name'],
  ['fd.containerdirectory', 'string', 'container name + directory'],
  ['fd.proto', 'string', 'protocol'],
  ['fd.sproto', 'string', 'server protocol'],
  ['fd.cproto', 'string', 'client protocol'],
  ['fd.lproto', 'string', 'local protocol'],
  ['fd.rproto', 'string', 'remote protocol'],
  ['fd.connected', 'bool', 'socket connected'],
  ['fd.name_changed', 'bool', 'name changed by this event'],
  ['fd.cip.name', 'string', 'client DNS name'],
  ['fd.sip.name', 'string', 'server DNS name'],
  ['fd.lip.name', 'string', 'local DNS name'],
  ['fd.rip.name', 'string', 'remote DNS name'],
  ['fd.dev', 'number', 'device number'],
  ['fd.dev.major', 'number', 'device major'],
  ['fd.dev.minor', 'number', 'device minor'],
  ['fd.ino', 'number', 'inode'],
  ['fd.is_upper_layer', 'bool', 'file in overlayfs upper layer'],
  ['fd.is_lower_layer', 'bool', 'file in overlayfs lower layer'],
  ['fdlist.names', 'string', 'poll descriptors'],
  ['fdlist.cips', 'string', 'poll client ips'],
  ['fdlist.sips', 'string', 'poll server ips'],
  ['fdlist.cports', 'string', 'poll client ports'],
  ['fdlist.sports', 'string', 'poll server ports'],
  ['container.privileged', 'bool', 'privileged container (not in ContainerInfo)'],
  ['container.start_ts', 'number', 'container start time'],
  ['container.duration', 'number', 'container age'],
  ['container.mounts', 'string', 'container mounts'],
  ['container.healthcheck', 'string', 'health check'],
  ['container.liveness_probe', 'string', 'liveness probe'],
  ['container.readiness_probe', 'string', 'readiness probe'],
  ['container.cni.json', 'string', 'CNI result'],
  ['container.host_pid', 'bool', 'host pid namespace'],
  ['container.host_network', 'bool', 'host network namespace'],
  ['container.host_ipc', 'bool', 'host ipc namespace'],
  ['container.ip', 'ip', 'container address'],
  ['k8s.ns.id', 'string', 'namespace uid'],
  ['k8s.ns.labels', 'string', 'namespace labels'],
  ['k8s.pod.ip', 'ip', 'pod address'],
  ['k8s.pod.cni.json', 'string', 'pod CNI result'],
  ['k8s.pod.sandbox_id', 'string', 'sandbox id'],
  ['k8s.pod.full_sandbox_id', 'string', 'full sandbox id'],
  ['k8s.rc.name', 'string', 'replication controller'],
  ['k8s.rs.name', 'string', 'replica set'],
  ['k8s.svc.name', 'string', 'service'],
  ['k8s.deployment.name', 'string', 'deployment'],
] as Array<[string, FieldType, string]>) {
  unsupported(name, type, desc);
}
for (const [name, type, desc] of [
  ['container.mount', 'string', 'mount by index or source'],
  ['container.mount.source', 'string', 'mount source'],
  ['container.mount.dest', 'string', 'mount destination'],
  ['container.mount.mode', 'string', 'mount mode'],
  ['container.mount.rdwr', 'bool', 'mount writable'],
  ['container.mount.propagation', 'string', 'mount propagation'],
  ['k8s.ns.label', 'string', 'namespace label'],
  ['fd.types', 'string', 'descriptor types'],
  ['proc.aenv', 'string', 'ancestor environment'],
  ['proc.env', 'string', 'environment variable'],
] as Array<[string, FieldType, string]>) {
  if (!defs.has(name)) unsupported(name, type, desc, 'optional');
  else defs.set(name, { ...defs.get(name)!, arg: 'optional' });
}

// Dotted-argument spellings: evt.arg.flags, evt.rawarg.mode, k8s.pod.label.app, container.label.x.
const DOTTED_ARG = ['evt.arg', 'evt.rawarg', 'k8s.pod.label', 'container.label', 'k8s.ns.label'];

/** Every registered field, for docs and validation reports. */
export function listFields(): FieldInfo[] {
  return [...defs.values()].map(({ name, type, supported, arg, desc }) => ({
    name,
    type,
    supported,
    arg,
    desc,
  }));
}

/** Why a field could not be resolved: unknown name or bad argument. */
export class FieldError extends Error {
  constructor(
    message: string,
    readonly unknown: boolean,
  ) {
    super(message);
  }
}

function render(v: FieldValue): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.length ? v.join(',') : undefined;
  return String(v);
}

/** Resolve `name` (with `[arg]` already split off) to a bound field. Throws FieldError. */
export function resolveField(name: string, arg: string | undefined, ctx: FieldContext): ResolvedField {
  let def = defs.get(name);
  if (!def) {
    for (const prefix of DOTTED_ARG) {
      if (name.startsWith(prefix + '.') && name.length > prefix.length + 1 && arg === undefined) {
        def = defs.get(prefix);
        arg = name.slice(prefix.length + 1);
        break;
      }
    }
  }
  if (!def) throw new FieldError(`unknown field '${name}'`, true);
  if (def.arg === 'none' && arg !== undefined)
    throw new FieldError(`field '${name}' takes no argument`, false);
  if (def.arg === 'required' && arg === undefined && def.supported)
    throw new FieldError(`field '${name}' needs an argument, e.g. ${name}[...]`, false);
  let bound: Bound;
  try {
    bound = def.make(arg, ctx);
  } catch (err) {
    throw new FieldError((err as Error).message, false);
  }
  let type = def.type;
  if (def.name === 'evt.rawarg' && arg !== undefined && !NUMERIC_ARGS.has(arg)) type = 'string';
  const get = bound.get;
  const show = bound.show ?? ((e: PeregrineEvent) => render(get(e)));
  const shown = def.name === 'evt.arg' || def.name === 'evt.rawarg' ? `${def.name}.${arg}` : name;
  return {
    name:
      arg !== undefined && def.name !== 'evt.arg' && def.name !== 'evt.rawarg'
        ? `${def.name}[${arg}]`
        : shown,
    base: def.name,
    type,
    multi: bound.multi === true,
    supported: def.supported,
    kindOnly: def.kindOnly === true,
    get,
    show,
  };
}

/** Whether a (possibly dotted) name is a field, for the output-template scanner. */
export function isFieldName(name: string): boolean {
  if (defs.has(name)) return true;
  return DOTTED_ARG.some((p) => name.startsWith(p + '.') && name.length > p.length + 1);
}
