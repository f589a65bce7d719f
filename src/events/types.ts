// SPDX-License-Identifier: Apache-2.0
// The public event types: what `peregrine run` prints as JSON lines and what
// rules, sinks and users' scripts consume. Field names here are a contract.

/** Every event kind Peregrine emits. Documented in docs/events.md and the JSON Schema. */
export type EventKind =
  | 'process.exec'
  | 'process.exit'
  | 'process.fork'
  | 'file.open'
  | 'file.unlink'
  | 'file.rename'
  | 'file.link'
  | 'file.symlink'
  | 'file.chmod'
  | 'file.chown'
  | 'file.truncate'
  | 'file.mount'
  | 'network.connect'
  | 'network.accept'
  | 'network.bind'
  | 'network.listen'
  | 'network.send'
  | 'privilege.setuid'
  | 'privilege.setgid'
  | 'privilege.capset'
  | 'privilege.prctl'
  | 'namespace.unshare'
  | 'namespace.setns'
  | 'process.ptrace'
  | 'kernel.module_load'
  | 'kernel.bpf'
  | 'kernel.kexec'
  | 'process.memfd_create';

/** Bits of `ProcessInfo.flags`, as names. */
export type ProcessFlag =
  | 'exec' // identity comes from an observed execve
  | 'fork' // forked, never exec'd: runs its parent's image
  | 'procfs' // existed before the agent started; seeded at start
  | 'args_truncated' // argv longer than the capture capacity
  | 'path_truncated' // binary path longer than the capture capacity
  | 'cwd_truncated'
  | 'exe_from_memfd' // the binary has no path: memfd or deleted file (fileless execution)
  | 'setuid' // effective uid differs from real uid after exec
  | 'self'; // the agent itself

/** One process identity: an exec'd image, or a forked process not yet exec'd. */
export interface ProcessInfo {
  /** Unique per node, also across reboots: base64url of node:boot:ktime:pid. */
  exec_id: string;
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  euid: number;
  egid: number;
  /** Login (audit) uid; 4294967295 when unset. */
  auid: number;
  /** Full path of the binary, resolved in the kernel from the exec'd file. */
  binary: string;
  /** argv, argv[0] included. */
  args: string[];
  cwd: string;
  /** Controlling terminal name (e.g. "pts0"), "" when none. */
  tty: string;
  /** ISO-8601 time the identity started (exec time, or fork time for forked ones). */
  start_time: string;
  /** exec_id of the parent identity, "" when unknown (e.g. the kernel's threads). */
  parent_exec_id: string;
  flags: ProcessFlag[];
  /** Capability masks as 16 hex digits, as CapEff/CapPrm in /proc/PID/status (bit n = capability n). */
  cap: { effective: string; permitted: string };
  /** Namespace inode numbers; `is_host` is true when every namespace is the init one. */
  ns: { pid: number; mnt: number; net: number; user: number; uts: number; ipc: number; cgroup: number };
  cgroup: { id: number; name: string };
  /** True when the process descends from its container's first process (set by the container layer). */
  in_container_init_tree?: boolean;
}

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  image_id: string;
  runtime: string;
  labels: Record<string, string>;
}

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
}

/** The file an event is about. */
export interface FileInfo {
  path: string;
  /** Where `path` came from: "kernel" (resolved from kernel objects) or "user" (user memory only). */
  path_source: 'kernel' | 'user';
  /** For open: requested access. */
  access?: Array<'read' | 'write' | 'create' | 'truncate' | 'append' | 'exec'>;
  flags?: number;
  mode?: number;
  /** rename / link / symlink: the second path (new name, or link path). */
  new_path?: string;
  uid?: number;
  gid?: number;
  /** mount: filesystem type and source device. */
  fstype?: string;
  source?: string;
}

export interface NetworkInfo {
  family: 'inet' | 'inet6' | 'unix';
  protocol: 'tcp' | 'udp' | 'raw' | string;
  local_address: string;
  local_port: number;
  remote_address: string;
  remote_port: number;
}

export interface PrivilegeInfo {
  /** The syscall, e.g. "setresuid", "unshare", "clone3", "prctl". */
  syscall?: string;
  /** setuid family: the ids asked for, as passed (-1: leave unchanged). */
  requested?: number[];
  /** setuid family: old and new ids (fsuid/fsgid: what setfsuid/setfsgid change). */
  old?: {
    uid: number;
    euid: number;
    suid: number;
    gid: number;
    egid: number;
    sgid: number;
    fsuid?: number;
    fsgid?: number;
  };
  new?: {
    uid: number;
    euid: number;
    suid: number;
    gid: number;
    egid: number;
    sgid: number;
    fsuid?: number;
    fsgid?: number;
  };
  /** capset: capabilities before and after, and those gained. */
  cap_old?: string[];
  cap_new?: string[];
  cap_gained?: string[];
  /** unshare / setns / clone: namespace flags as names, e.g. ["CLONE_NEWUSER"]. */
  namespaces?: string[];
  /** unshare / setns: the namespaces of the caller that differ after the call, as names. */
  namespaces_changed?: string[];
  /** prctl option name. */
  option?: string;
  /** prctl: its second argument (e.g. the PR_SET_DUMPABLE value, the seccomp mode). */
  arg?: number;
}

export interface PtraceInfo {
  request: string;
  target_pid: number;
  target_exec_id: string;
  target_binary: string;
}

export interface KernelInfo {
  /** module load: module name and the file it came from. */
  module?: string;
  path?: string;
  /** bpf(): command and program type. */
  bpf_cmd?: string;
  prog_type?: string;
  prog_name?: string;
  /** memfd_create: name and flags. */
  memfd_name?: string;
  memfd_flags?: string[];
  /** bpf(): map type and name (MAP_CREATE), attach type (PROG_LOAD, PROG_ATTACH, LINK_CREATE). */
  map_type?: string;
  map_name?: string;
  attach_type?: number;
  /** The syscall, e.g. "finit_module", "kexec_file_load". */
  syscall?: string;
}

export interface EnforcementAction {
  taken: 'audit' | 'deny' | 'kill' | 'signal' | 'none';
  backend: string;
  /** monitor mode: what would have been done. */
  would?: string;
}

/** One event, as printed on a JSON line. Optional parts appear only for the kinds that have them. */
export interface PeregrineEvent {
  /** ISO-8601 with nanoseconds, from the kernel's timestamp. */
  time: string;
  node: string;
  kind: EventKind;
  process: ProcessInfo;
  parent?: ProcessInfo;
  /** Ancestors above `parent`, nearest first (only with --ancestors). */
  ancestors?: ProcessInfo[];
  container?: ContainerInfo;
  pod?: PodInfo;
  exit?: { code: number; signal: number; signal_name?: string };
  file?: FileInfo;
  network?: NetworkInfo;
  privilege?: PrivilegeInfo;
  ptrace?: PtraceInfo;
  kernel?: KernelInfo;
  /** Syscall return value where the hook sees it (negative errno on failure). */
  return_code?: number;
  policy?: { name: string; names?: string[] };
  action?: EnforcementAction;
}

export type Priority =
  | 'EMERGENCY'
  | 'ALERT'
  | 'CRITICAL'
  | 'ERROR'
  | 'WARNING'
  | 'NOTICE'
  | 'INFORMATIONAL'
  | 'DEBUG';

/** An alert, printed on a JSON line with `kind: "alert"`. */
export interface Alert {
  time: string;
  node: string;
  kind: 'alert';
  rule: string;
  priority: Priority;
  tags: string[];
  output: string;
  mitre?: { tactic: string; technique: string };
  source_event: PeregrineEvent;
  /** Identical alerts collapsed into this one (same rule and process within the window). */
  collapsed?: number;
}
