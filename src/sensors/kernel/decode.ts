// SPDX-License-Identifier: Apache-2.0
// Kernel-change records (module, bpf, kexec, memfd) turned into the public
// KernelInfo part: bpf commands, program and map types, memfd flags by name.
import type { EventKind, KernelInfo } from '../../events/types.js';
import {
  type PgBpfEvent,
  type PgKexecEvent,
  PgKind,
  type PgMemfdEvent,
  type PgModuleEvent,
  PgSysFlag,
} from '../../generated/records.js';
import { bitNames, syscallName } from '../privilege/syscall.js';

/** enum pg_kind → event kind, for the kinds this sensor reports. */
export const KERNEL_KINDS: ReadonlyMap<number, EventKind> = new Map<number, EventKind>([
  [PgKind.PG_KIND_MODULE_LOAD, 'kernel.module_load'],
  [PgKind.PG_KIND_BPF, 'kernel.bpf'],
  [PgKind.PG_KIND_KEXEC, 'kernel.kexec'],
  [PgKind.PG_KIND_MEMFD_CREATE, 'process.memfd_create'],
]);

/** enum bpf_cmd (include/uapi/linux/bpf.h), by value. */
const BPF_CMDS = [
  'BPF_MAP_CREATE',
  'BPF_MAP_LOOKUP_ELEM',
  'BPF_MAP_UPDATE_ELEM',
  'BPF_MAP_DELETE_ELEM',
  'BPF_MAP_GET_NEXT_KEY',
  'BPF_PROG_LOAD',
  'BPF_OBJ_PIN',
  'BPF_OBJ_GET',
  'BPF_PROG_ATTACH',
  'BPF_PROG_DETACH',
  'BPF_PROG_TEST_RUN',
  'BPF_PROG_GET_NEXT_ID',
  'BPF_MAP_GET_NEXT_ID',
  'BPF_PROG_GET_FD_BY_ID',
  'BPF_MAP_GET_FD_BY_ID',
  'BPF_OBJ_GET_INFO_BY_FD',
  'BPF_PROG_QUERY',
  'BPF_RAW_TRACEPOINT_OPEN',
  'BPF_BTF_LOAD',
  'BPF_BTF_GET_FD_BY_ID',
  'BPF_TASK_FD_QUERY',
  'BPF_MAP_LOOKUP_AND_DELETE_ELEM',
  'BPF_MAP_FREEZE',
  'BPF_BTF_GET_NEXT_ID',
  'BPF_MAP_LOOKUP_BATCH',
  'BPF_MAP_LOOKUP_AND_DELETE_BATCH',
  'BPF_MAP_UPDATE_BATCH',
  'BPF_MAP_DELETE_BATCH',
  'BPF_LINK_CREATE',
  'BPF_LINK_UPDATE',
  'BPF_LINK_GET_FD_BY_ID',
  'BPF_LINK_GET_NEXT_ID',
  'BPF_ENABLE_STATS',
  'BPF_ITER_CREATE',
  'BPF_LINK_DETACH',
  'BPF_PROG_BIND_MAP',
  'BPF_TOKEN_CREATE',
] as const;

export const BPF_PROG_LOAD = 5;
export const BPF_MAP_CREATE = 0;

export function bpfCmdName(cmd: number): string {
  return BPF_CMDS[cmd] ?? `BPF_CMD_${cmd}`;
}

/** enum bpf_prog_type, by value (without the BPF_PROG_TYPE_ prefix, lower case, as bpftool prints it). */
const PROG_TYPES = [
  'unspec',
  'socket_filter',
  'kprobe',
  'sched_cls',
  'sched_act',
  'tracepoint',
  'xdp',
  'perf_event',
  'cgroup_skb',
  'cgroup_sock',
  'lwt_in',
  'lwt_out',
  'lwt_xmit',
  'sock_ops',
  'sk_skb',
  'cgroup_device',
  'sk_msg',
  'raw_tracepoint',
  'cgroup_sock_addr',
  'lwt_seg6local',
  'lirc_mode2',
  'sk_reuseport',
  'flow_dissector',
  'cgroup_sysctl',
  'raw_tracepoint_writable',
  'cgroup_sockopt',
  'tracing',
  'struct_ops',
  'ext',
  'lsm',
  'sk_lookup',
  'syscall',
  'netfilter',
] as const;

export function progTypeName(t: number): string {
  return PROG_TYPES[t] ?? String(t);
}

/** enum bpf_map_type, by value (bpftool's names). */
const MAP_TYPES = [
  'unspec',
  'hash',
  'array',
  'prog_array',
  'perf_event_array',
  'percpu_hash',
  'percpu_array',
  'stack_trace',
  'cgroup_array',
  'lru_hash',
  'lru_percpu_hash',
  'lpm_trie',
  'array_of_maps',
  'hash_of_maps',
  'devmap',
  'sockmap',
  'cpumap',
  'xskmap',
  'sockhash',
  'cgroup_storage',
  'reuseport_sockarray',
  'percpu_cgroup_storage',
  'queue',
  'stack',
  'sk_storage',
  'devmap_hash',
  'struct_ops',
  'ringbuf',
  'inode_storage',
  'task_storage',
  'bloom_filter',
  'user_ringbuf',
  'cgrp_storage',
  'arena',
] as const;

export function mapTypeName(t: number): string {
  return MAP_TYPES[t] ?? String(t);
}

/** MFD_* flags (include/uapi/linux/memfd.h); the hugetlb size bits are left as a number. */
const MFD_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [0x1, 'MFD_CLOEXEC'],
  [0x2, 'MFD_ALLOW_SEALING'],
  [0x4, 'MFD_HUGETLB'],
  [0x8, 'MFD_NOEXEC_SEAL'],
  [0x10, 'MFD_EXEC'],
];

export function memfdFlagNames(flags: number): string[] {
  return bitNames(flags, MFD_FLAGS);
}

export function moduleInfo(rec: PgModuleEvent): KernelInfo {
  const info: KernelInfo = { syscall: syscallName(rec.sys.syscall) };
  if (rec.name !== '') info.module = rec.name;
  if ((rec.sys.flags & PgSysFlag.PG_SYS_NO_FILE) === 0) info.path = rec.path;
  return info;
}

export function bpfInfo(rec: PgBpfEvent): KernelInfo {
  const info: KernelInfo = { syscall: 'bpf', bpf_cmd: bpfCmdName(rec.cmd) };
  if (rec.cmd === BPF_PROG_LOAD) {
    info.prog_type = progTypeName(rec.progType);
    info.prog_name = rec.name;
    info.attach_type = rec.attachType;
  } else if (rec.cmd === BPF_MAP_CREATE) {
    info.map_type = mapTypeName(rec.mapType);
    info.map_name = rec.name;
  } else if (rec.attachType !== 0) {
    info.attach_type = rec.attachType;
  }
  return info;
}

export function kexecInfo(rec: PgKexecEvent): KernelInfo {
  const info: KernelInfo = { syscall: syscallName(rec.sys.syscall) };
  if ((rec.sys.flags & PgSysFlag.PG_SYS_NO_FILE) === 0) info.path = rec.path;
  return info;
}

/** The memfd's name without the "memfd:" prefix its dentry carries (a failed call's name has none). */
export function memfdInfo(rec: PgMemfdEvent): KernelInfo {
  const fromDentry = (rec.sys.flags & PgSysFlag.PG_SYS_NAME_USER) === 0;
  const name = fromDentry && rec.name.startsWith('memfd:') ? rec.name.slice('memfd:'.length) : rec.name;
  return { syscall: 'memfd_create', memfd_name: name, memfd_flags: memfdFlagNames(rec.mfdFlags) };
}
