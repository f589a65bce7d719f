/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one schema of every record the kernel side hands to user space.
 * src/generated/records.ts is generated from the BTF of the compiled objects
 * (scripts/gen-records.ts); never mirror these structs by hand.
 *
 * Rules: fixed-width types only, explicit padding named _pad*, no bitfields,
 * no pointers, every record starts with struct pg_header. Flags and other
 * constants user space needs are enums (enums reach BTF, #defines do not).
 * Variable-size records end in `char data[]`; the parts stored there follow in
 * the order of the struct's `<part>_len` fields, without separators.
 */
#ifndef PG_EVENTS_H
#define PG_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif
#include "policy.h" /* struct pg_rules: the matching rule slots, carried in sensor records */

/* Bumped when a record changes shape incompatibly; carried in every header. */
enum pg_schema {
	PG_SCHEMA_VERSION = 1,
};

/* Record types. Ranges leave room for the sensors to come. */
enum pg_record_type {
	PG_REC_EXEC = 1, /* struct pg_exec_event: a successful execve/execveat */
	PG_REC_FORK = 2, /* struct pg_fork_event: a new process (not a thread) */
	PG_REC_EXIT = 3, /* struct pg_exit_event: the last thread of a process exited */
	PG_REC_PROC = 4, /* struct pg_exec_event: a process that existed at start (task iterator) */
	PG_REC_FILE_FIRST = 16, /* 16..31: file sensor */
	PG_REC_FILE =
		16, /* struct pg_file_event: open, unlink, rename, link, symlink, chmod, ... */
	PG_REC_NET_FIRST = 32, /* 32..47: network sensor */
	PG_REC_NET = 32, /* struct pg_net_event: connect, accept, bind, listen, UDP send */
	PG_REC_PRIV_FIRST = 48, /* 48..63: privilege sensor */
	PG_REC_SETID = 48, /* struct pg_setid_event */
	PG_REC_CAPSET = 49, /* struct pg_capset_event */
	PG_REC_NS = 50, /* struct pg_ns_event */
	PG_REC_PTRACE = 51, /* struct pg_ptrace_event */
	PG_REC_PRCTL = 52, /* struct pg_prctl_event */
	PG_REC_KERNEL_FIRST = 64, /* 64..79: kernel-integrity sensor */
	PG_REC_MODULE = 64, /* struct pg_module_event */
	PG_REC_BPF = 65, /* struct pg_bpf_event */
	PG_REC_KEXEC = 66, /* struct pg_kexec_event */
	PG_REC_MEMFD = 67, /* struct pg_memfd_event */
	PG_REC_ENFORCE_FIRST = 80, /* 80..95: enforce.bpf.c, enforce_lsm.bpf.c */
	PG_REC_ENFORCE = 80, /* struct pg_enforce_event: an action taken or would-be */
	PG_REC_TAMPER = 81, /* struct pg_tamper_event: someone aimed at the agent */
	PG_REC_FLOOD_FIRST = 96, /* 96..111: flood.bpf.c (XDP) */
	PG_REC_FLOOD = 96, /* struct pg_flood_event: a source over a threshold in a window */
};

/* Capacities compiled into the objects (bytes, without NUL). */
enum pg_limits {
	PG_PATH_MAX = 4096, /* binary path and cwd: whole PATH_MAX */
	PG_ARGS_MAX = 4096, /* argv bytes kept; the rest is flagged truncated */
	PG_CGROUP_NAME_MAX = 256, /* cgroup v2 leaf name (kernfs name, NAME_MAX) */
	PG_TTY_NAME_MAX = 64, /* struct tty_struct.name */
	PG_COMM_MAX = 16, /* TASK_COMM_LEN */
};

struct pg_header {
	__u16 type; /* enum pg_record_type */
	__u16 version; /* PG_SCHEMA_VERSION */
	__u32 size; /* bytes of this record, including variable data */
	__u64 ktime; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) when the record was made */
};

/*
 * A process identity. pid is the tgid; ktime is when this identity began:
 * the exec time for an exec'd image, task->start_time (CLOCK_MONOTONIC) for a
 * process forked but not (yet) exec'd and for processes found at start.
 * Both halves are CLOCK_MONOTONIC ns, so (pid, ktime) is unique per boot.
 */
struct pg_exec_key {
	__u32 pid;
	__u32 _pad;
	__u64 ktime;
};

/* Flag bits of pg_exec_event.flags (exec and proc records). */
enum pg_exec_flag {
	PG_EXEC_ARGS_TRUNCATED = 1 << 0, /* argv longer than args_max: kept the first bytes */
	PG_EXEC_PATH_TRUNCATED = 1 << 1, /* binary path over PG_PATH_MAX: kept the last bytes */
	PG_EXEC_CWD_TRUNCATED = 1 << 2, /* cwd longer than PG_PATH_MAX: kept the last bytes */
	PG_EXEC_EXE_DELETED = 1 << 3, /* binary was unlinked (like " (deleted)" in /proc/PID/exe) */
	PG_EXEC_EXE_ANON = 1 << 4, /* binary has no path (pseudo file); path holds its name */
	PG_EXEC_EXE_MEMFD = 1 << 5, /* binary is a memfd; path is "memfd:<name>" */
	PG_EXEC_SETUID = 1 << 6, /* euid != uid after exec */
	PG_EXEC_SETGID = 1 << 7, /* egid != gid after exec */
	PG_EXEC_ARGS_FAULT = 1 << 8, /* argv could not be read; args empty */
	PG_EXEC_PARENT_GUESSED = 1 << 9, /* parent not in pg_execs: key is {tgid, start_time} */
	PG_EXEC_NO_EXE = 1 << 10, /* no binary (kernel thread / exited mm): path empty */
	PG_EXEC_KTHREAD = 1 << 11, /* kernel thread (proc records) */
	PG_EXEC_NO_ARGS = 1 << 12, /* argv not collected (proc records: read /proc/PID/cmdline) */
	PG_EXEC_SELF = 1 << 30, /* the agent itself (tgid == self_tgid) */
};

/*
 * PG_REC_EXEC (sched_process_exec) and PG_REC_PROC (task iterator at start).
 * data[] holds, in order and without NULs between parts:
 *   path   (path_len bytes)   binary, from bprm->file / mm->exe_file, walked in the kernel
 *   args   (args_len bytes)   argv as in /proc/PID/cmdline: each argument NUL-terminated
 *   cwd    (cwd_len bytes)    task->fs->pwd, walked in the kernel
 *   cgroup (cgroup_len bytes) cgroup v2 leaf name (kernfs name of the default-hierarchy cgroup)
 */
struct pg_exec_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* this identity */
	struct pg_exec_key parent; /* the real parent's identity (pg_execs entry of its tgid) */
	struct pg_exec_key prev; /* identity this exec replaced (same pid); zero for proc records */
	__u32 pid; /* tgid */
	__u32 tid; /* thread id (== pid after exec's de_thread) */
	__u32 ppid; /* real parent's tgid */
	__u32 nspid; /* pid in the task's own pid namespace */
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
	__u32 loginuid; /* audit login uid (auid); 0xffffffff when unset or no CONFIG_AUDIT */
	__u32 sessionid; /* audit session id; 0xffffffff when unset */
	__u32 flags; /* enum pg_exec_flag */
	__u32 exe_mode; /* i_mode of the binary (file type and permission bits, e.g. S_ISUID) */
	__u64 exe_ino; /* inode number of the binary */
	__u32 exe_dev; /* s_dev of the binary's superblock (kernel encoding: major << 20 | minor) */
	__u32 _pad0;
	__u64 cap_effective;
	__u64 cap_permitted;
	__u64 cap_inheritable;
	__u64 cgroup_id; /* cgroup v2 id (kernfs id), as bpf_get_current_cgroup_id() */
	__u64 start_time; /* task->start_time: CLOCK_MONOTONIC ns of the fork */
	__u64 start_boottime; /* task->start_boottime: CLOCK_BOOTTIME ns of the fork */
	__u32 ns_pid; /* namespace inode numbers, as in /proc/PID/ns/<name> */
	__u32 ns_mnt;
	__u32 ns_net;
	__u32 ns_user;
	__u32 ns_uts;
	__u32 ns_ipc;
	__u32 ns_cgroup;
	__u32 ns_time; /* 0 before 5.6 */
	char tty[PG_TTY_NAME_MAX]; /* controlling tty, tty->name ("pts3", "tty1"); empty if none */
	char comm[PG_COMM_MAX]; /* task comm after exec, NUL-terminated unless 16 chars */
	__u16 path_len;
	__u16 args_len;
	__u16 cwd_len;
	__u16 cgroup_len;
	char data[];
};

/* Flag bits of pg_fork_event.flags. */
enum pg_fork_flag {
	PG_FORK_PARENT_GUESSED = 1 << 9, /* forking process not in pg_execs: key computed */
	PG_FORK_SELF = 1 << 30, /* forked by the agent */
};

/* PG_REC_FORK (sched_process_fork): a new thread-group leader; threads are not reported. */
struct pg_fork_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* the child: {child tgid, child->start_time} */
	struct pg_exec_key parent; /* the forking process's identity */
	__u32 pid; /* child tgid */
	__u32 tid; /* child tid (== pid) */
	__u32 ppid; /* child's real parent tgid (differs from parent.pid with CLONE_PARENT) */
	__u32 flags; /* enum pg_fork_flag */
	__u64 start_time; /* child->start_time (== key.ktime) */
};

/* Flag bits of pg_exit_event.flags. */
enum pg_exit_flag {
	/* SIGNAL_GROUP_EXIT was set: exit_group(), a fatal signal, or (6.0+) the last thread's exit */
	PG_EXIT_GROUP = 1 << 0,
	PG_EXIT_KEY_GUESSED = 1 << 9, /* process not in pg_execs: key computed */
	PG_EXIT_SELF = 1 << 30, /* the agent itself */
};

/* PG_REC_EXIT (sched_process_exit): only when the last thread of the group is gone. */
struct pg_exit_event {
	struct pg_header hdr;
	struct pg_exec_key key;
	__u32 pid; /* tgid */
	__u32 tid; /* the last thread to exit */
	__u32 exit_code; /* raw wait status as the parent sees it: (status << 8) | signal | 0x80 core */
	__u32 flags; /* enum pg_exit_flag */
};

/* Flag bits of pg_file_event.flags. */
enum pg_file_flag {
	/* path's name part came from user memory (joined to a kernel-resolved dirfd/cwd) */
	PG_FILE_PATH_USER = 1 << 0,
	PG_FILE_TRUNCATED = 1 << 1, /* a path or string longer than its room: kept a part */
	PG_FILE_FAULT = 1 << 2, /* a user string could not be read: that part is empty */
	PG_FILE_RET = 1 << 3, /* ret holds the syscall's return value (open: fd or -errno) */
	PG_FILE_DELETED = 1 << 4, /* the opened file is unlinked (e.g. O_TMPFILE) */
	PG_FILE_MATCH_PATH = 1 << 5, /* the filter matched path */
	PG_FILE_MATCH_NEW = 1 << 6, /* the filter matched new_path (rename, link, symlink) */
	PG_FILE_TARGET_RAW = 1 << 7, /* symlink: path is the target as written, not resolved */
	PG_FILE_KEY_GUESSED = 1 << 9, /* process not in pg_execs: key computed */
	PG_FILE_SELF = 1 << 30, /* the agent itself */
};

/*
 * PG_REC_FILE: one record shape for every file kind (enum pg_kind in kind).
 * data[] holds, in order and without NULs between parts:
 *   path     (path_len)      the file: open (from the new fd's struct file),
 *                            fchmod/fchown/ftruncate (the fd's file): walked in the
 *                            kernel; the rest: the dirfd/cwd walked in the kernel
 *                            joined with the user's name (PG_FILE_PATH_USER);
 *                            rename: old name; link: existing file; symlink:
 *                            the target as written; mount: the mount point
 *   new_path (new_path_len)  rename: new name; link, symlink: the link's path
 *   source   (source_len)    mount: the source (device, "tmpfs"...), as written
 *   fstype   (fstype_len)    mount: filesystem type, as written
 */
struct pg_file_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* the process (pg_execs entry of its tgid) */
	struct pg_rules rules; /* rule slots that matched (include/policy.h) */
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 kind; /* enum pg_kind */
	__u32 flags; /* enum pg_file_flag */
	/* open: O_* flags; unlinkat/linkat/fchownat/fchmodat2: AT_*; renameat2: RENAME_*; mount: MS_* */
	__u32 sys_flags;
	__u32 access; /* open: enum pg_access bits asked by the flags */
	__u32 mode; /* open/creat: create mode; chmod: the new mode */
	__u32 uid; /* chown: new owner (0xffffffff: unchanged) */
	__u32 gid; /* chown: new group (0xffffffff: unchanged) */
	__s32 ret; /* with PG_FILE_RET: the return value (fd, or -errno) */
	__u16 path_len;
	__u16 new_path_len;
	__u16 source_len;
	__u16 fstype_len;
	char data[];
};

/* Capacity of a unix socket path in network records: sizeof(sun_path). */
enum pg_net_limits {
	PG_UNIX_PATH_MAX = 108,
};

/* Flag bits of pg_net_event.flags. */
enum pg_net_flag {
	/* remote address/port read from the caller's sockaddr (user memory): the socket had none */
	PG_NET_REMOTE_USER = 1 << 0,
	/* local address/port read from the caller's sockaddr (bind that failed) */
	PG_NET_LOCAL_USER = 1 << 1,
	PG_NET_V4_MAPPED =
		1 << 2, /* inet6 socket, remote is an IPv4-mapped address (::ffff:a.b.c.d) */
	PG_NET_MMSG = 1 << 3, /* sendmmsg: the first message's destination only */
	PG_NET_PATH_TRUNCATED = 1 << 4, /* unix path longer than PG_UNIX_PATH_MAX */
	PG_NET_KEY_GUESSED = 1 << 9, /* process not in pg_execs: key is {tgid, start_time} */
	PG_NET_SELF = 1 << 30, /* the agent itself */
};

/*
 * PG_REC_NET: one socket operation of a process. Addresses and ports come
 * from the kernel socket after the syscall (unless a PG_NET_*_USER flag says
 * otherwise). Addresses are network byte order, 4 bytes used for AF_INET;
 * ports are host byte order. For AF_UNIX, data[] holds the socket path
 * (path_len bytes; abstract names start with a NUL): the remote end's for
 * connect and send, the local end's for bind, listen and accept.
 */
struct pg_net_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* the process (pg_execs entry of its tgid) */
	struct pg_rules rules; /* policy rule slots that matched */
	__u32 pid; /* tgid */
	__u32 tid;
	__u16 kind; /* enum pg_kind: PG_KIND_NET_CONNECT .. PG_KIND_NET_SEND */
	__u16 family; /* sk_family: AF_UNIX 1, AF_INET 2, AF_INET6 10 */
	__u16 protocol; /* sk_protocol: IPPROTO_TCP 6, IPPROTO_UDP 17, ... (0 for unix) */
	__u16 type; /* sk_type: SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_RAW 3, SOCK_SEQPACKET 5 */
	__u16 local_port;
	__u16 remote_port;
	__s32 ret; /* syscall return value (negative errno; accept: the new fd) */
	__u32 flags; /* enum pg_net_flag */
	__u32 netns; /* network namespace inode number of the socket */
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 path_len;
	__u16 _pad[3];
	char data[];
};

/* Value of the pg_execs map (key: tgid). The kernel-side authority on identity and parentage. */
struct pg_exec_entry {
	struct pg_exec_key key;
	struct pg_exec_key parent;
	__u32 flags; /* enum pg_exec_flag bits of the record that created the entry */
	__u32 _pad;
	/* FNV-1a 64 of the binary's full path and base name, and the parent's: policy selectors. */
	__u64 bin_hash;
	__u64 name_hash;
	__u64 pbin_hash;
	__u64 pname_hash;
};

/*
 * Indexes of the per-CPU pg_stats counters (u64 each; user space sums the CPUs).
 * Every object has its own pg_stats array of PG_STAT_MAX slots; each sensor
 * counts into its own range so one enum describes them all.
 */
enum pg_stat {
	PG_STAT_EXEC = 0, /* exec records submitted */
	PG_STAT_EXEC_DROP = 1, /* exec records lost: ring buffer full */
	PG_STAT_FORK = 2,
	PG_STAT_FORK_DROP = 3,
	PG_STAT_EXIT = 4,
	PG_STAT_EXIT_DROP = 5,
	PG_STAT_PROC = 6, /* proc records written to the iterator */
	PG_STAT_PROC_DROP = 7, /* bpf_seq_write failed (the iterator retries the task) */
	PG_STAT_KEY_MISS = 8, /* identity (parent, prev, exiting) not in pg_execs: computed */
	PG_STAT_EXECS_FULL = 9, /* pg_execs update failed */
	PG_STAT_PATH_TRUNCATED = 10, /* a path longer than PG_PATH_MAX (or deeper than the walk) */
	PG_STAT_ARGS_TRUNCATED = 11,
	PG_STAT_ARGS_FAULT = 12, /* argv unreadable */
	PG_STAT_WAKEUP = 13, /* submits that forced a consumer wake-up */
	PG_STAT_ENFORCE_DROP =
		14, /* enforcement records lost: ring buffer full (the action was taken) */
	PG_STAT_PROCESS_LAST = 31, /* 0..31: process sensor */
	PG_STAT_NET = 64, /* network records submitted */
	PG_STAT_NET_DROP = 65, /* network records lost: ring buffer full */
	PG_STAT_NET_FILTERED = 66, /* no rule watches the kind for this process (pg_filter_begin) */
	PG_STAT_NET_FILTERED_SOCK = 67, /* rules left, but none accepts the port/address/path */
	PG_STAT_NET_NO_SOCK = 68, /* fd did not resolve to a socket (EBADF, ENOTSOCK, closed) */
	PG_STAT_NET_PENDING_FULL = 69, /* in-flight syscall map full: event lost */
	PG_STAT_NET_SEND_REPEAT = 70, /* UDP send to a peer the process already sent to */
	PG_STAT_NET_ADDR_USER = 71, /* address taken from user memory (PG_NET_*_USER) */
	PG_STAT_NET_KEY_MISS = 72, /* process not in pg_execs: key computed */
	PG_STAT_NETWORK_LAST = 95, /* 64..95: network sensor */
	PG_STAT_FILE = 32, /* file records submitted */
	PG_STAT_FILE_DROP = 33, /* file records lost: ring buffer full */
	PG_STAT_FILE_FILTERED = 34, /* file events no rule matched: never built */
	PG_STAT_FILE_TRUNCATED = 35, /* a path longer than its room */
	PG_STAT_FILE_FAULT = 36, /* a user string unreadable */
	PG_STAT_FILE_PENDING_FULL = 37, /* pg_file_opens full: an open went unreported */
	PG_STAT_FILE_LAST = 63, /* 32..63: file sensor */
	/* 64..95 network, 96..127 privilege, 128..159 kernel */
	PG_STAT_PRIV = 96, /* privilege records submitted */
	PG_STAT_PRIV_DROP = 97, /* privilege records lost: ring buffer full */
	PG_STAT_PRIV_FILTERED = 98, /* privilege calls no policy rule accepted: no record */
	PG_STAT_PRIV_STATE_FULL =
		99, /* sys_enter state not saved (pg_priv_state full): no record */
	PG_STAT_PTRACE_NO_TARGET = 100, /* ptrace target task not found: pid only */
	PG_STAT_PRIVILEGE_LAST = 127, /* 96..127: privilege sensor */
	PG_STAT_KERNEL = 128, /* kernel-change records submitted */
	PG_STAT_KERNEL_DROP = 129,
	PG_STAT_KERNEL_FILTERED = 130,
	PG_STAT_KERNEL_STATE_FULL = 131,
	PG_STAT_KERNEL_SELF = 132, /* bpf() calls of the agent itself: not reported */
	PG_STAT_KERNEL_PATH_TRUNCATED = 133,
	PG_STAT_KERNEL_LAST = 159, /* 128..159: kernel-change sensor */
	PG_STAT_MAX = 160,
};

/*
 * Privilege (bpf/privilege.bpf.c) and kernel-change (bpf/kernel.bpf.c) records.
 * Each is reported at sys_exit, with the syscall's result, for a call that
 * entered while a policy watched its kind.
 */

/* The syscall behind a privilege or kernel record (pg_sys_common.syscall). */
enum pg_syscall {
	PG_SYS_SETUID = 1,
	PG_SYS_SETREUID = 2,
	PG_SYS_SETRESUID = 3,
	PG_SYS_SETFSUID = 4,
	PG_SYS_SETGID = 5,
	PG_SYS_SETREGID = 6,
	PG_SYS_SETRESGID = 7,
	PG_SYS_SETFSGID = 8,
	PG_SYS_CAPSET = 9,
	PG_SYS_UNSHARE = 10,
	PG_SYS_SETNS = 11,
	PG_SYS_CLONE = 12,
	PG_SYS_CLONE3 = 13,
	PG_SYS_PTRACE = 14,
	PG_SYS_PRCTL = 15,
	PG_SYS_INIT_MODULE = 32,
	PG_SYS_FINIT_MODULE = 33,
	PG_SYS_BPF = 34,
	PG_SYS_KEXEC_LOAD = 35,
	PG_SYS_KEXEC_FILE_LOAD = 36,
	PG_SYS_MEMFD_CREATE = 37,
};

/* Flag bits of pg_sys_common.flags. */
enum pg_sys_flag {
	PG_SYS_KEY_GUESSED = 1 << 0, /* caller not in pg_execs: key is {tgid, start_time} */
	PG_SYS_SELF = 1 << 1, /* the agent itself */
	PG_SYS_TARGET_FOUND =
		1 << 2, /* ptrace: target task found (tracer's ptraced list or parent) */
	PG_SYS_TARGET_KEY_GUESSED = 1 << 3, /* ptrace: target not in pg_execs: key computed */
	PG_SYS_NO_FILE = 1 << 4, /* init_module / kexec_load: image from user memory, no file */
	PG_SYS_PATH_TRUNCATED = 1 << 5, /* path over PG_PATH_MAX: kept the last bytes */
	PG_SYS_NAME_USER = 1 << 6, /* memfd name read from user memory (no fd: the call failed) */
	PG_SYS_ARG_FAULT =
		1
		<< 7, /* a user-memory argument (bpf attr, clone3 args, capset header) unreadable */
};

/* Capacities of the privilege and kernel records (bytes, NUL included). */
enum pg_sys_limits {
	PG_MODULE_NAME_MAX = 56, /* MODULE_NAME_LEN on 64-bit kernels */
	PG_MEMFD_NAME_MAX = 256, /* "memfd:" + MFD_NAME_MAX_LEN (249) + NUL */
	PG_BPF_NAME_MAX = 16, /* BPF_OBJ_NAME_LEN */
};

/* What every privilege and kernel record carries after its header. */
struct pg_sys_common {
	struct pg_exec_key key; /* the caller's identity (pg_execs entry of its tgid) */
	struct pg_rules rules; /* the policy rules that matched (bpf/include/policy.h) */
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 kind; /* enum pg_kind */
	__u32 syscall; /* enum pg_syscall */
	__s32 ret; /* the syscall's result: >= 0, or -errno */
	__u32 flags; /* enum pg_sys_flag */
};

/* Credentials' ids (task->real_cred, what /proc/PID/status shows). */
struct pg_cred_ids {
	__u32 uid;
	__u32 gid;
	__u32 euid;
	__u32 egid;
	__u32 suid;
	__u32 sgid;
	__u32 fsuid;
	__u32 fsgid;
};

/* Capability masks (bit n = capability n, as CapEff/CapPrm/CapInh). */
struct pg_cap_sets {
	__u64 effective;
	__u64 permitted;
	__u64 inheritable;
};

/* Namespace inode numbers of a task; pid and time: the ones its children get. */
struct pg_ns_ids {
	__u32 mnt;
	__u32 uts;
	__u32 ipc;
	__u32 net;
	__u32 cgroup;
	__u32 user;
	__u32 pid_children; /* nsproxy->pid_ns_for_children (what unshare(CLONE_NEWPID) changes) */
	__u32 time_children; /* nsproxy->time_ns_for_children; 0 before 5.6 */
};

/* PG_REC_SETID: setuid, setreuid, setresuid, setfsuid and the gid family. */
struct pg_setid_event {
	struct pg_header hdr;
	struct pg_sys_common sys; /* kind: PG_KIND_PRIV_SETUID or PG_KIND_PRIV_SETGID */
	__u32 args[3]; /* the ids asked for, as passed ((u32)-1: leave unchanged) */
	__u32 _pad0;
	struct pg_cred_ids old; /* at sys_enter */
	struct pg_cred_ids new; /* at sys_exit */
};

/* PG_REC_CAPSET: capset(2) (the caller's own sets; other pids are refused since 2.6.25). */
struct pg_capset_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__s32 target; /* header->pid as passed (0: self) */
	__u32 _pad0;
	struct pg_cap_sets old; /* at sys_enter */
	struct pg_cap_sets new; /* at sys_exit */
};

/* PG_REC_NS: unshare, setns, and clone / clone3 asking for new namespaces. */
struct pg_ns_event {
	struct pg_header hdr;
	struct pg_sys_common
		sys; /* kind: PG_KIND_NS_UNSHARE (unshare, clone) or PG_KIND_NS_SETNS */
	__u64 clone_flags; /* unshare / clone / clone3 flags; setns: nstype */
	__s32 fd; /* setns: the namespace file or pidfd; -1 otherwise */
	__u32 changed; /* CLONE_NEW* bits of the caller's namespaces that differ after the call */
	struct pg_ns_ids old; /* the caller's, at sys_enter */
	struct pg_ns_ids new; /* the caller's, at sys_exit (clone: unchanged, the child has the new ones) */
};

/* PG_REC_PTRACE: ptrace requests that attach or write (see bpf/privilege.bpf.c). */
struct pg_ptrace_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__u32 request; /* PTRACE_* */
	__u32 target_vpid; /* the pid argument, in the caller's pid namespace */
	__u32 target_pid; /* the target's tgid (init namespace), when PG_SYS_TARGET_FOUND */
	__u32 target_tid;
	struct pg_exec_key target; /* the target's identity, when PG_SYS_TARGET_FOUND */
};

/* PG_REC_PRCTL: security-relevant prctl(2) options (see bpf/privilege.bpf.c). */
struct pg_prctl_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__u32 option; /* PR_* */
	__u32 _pad0;
	__u64 arg2;
};

/*
 * PG_REC_MODULE: init_module / finit_module. data[] holds the path of
 * finit_module's file (path_len bytes), resolved in the kernel from the fd.
 */
struct pg_module_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__s32 fd; /* finit_module: the fd; -1 for init_module */
	__u32 load_flags; /* finit_module: MODULE_INIT_* */
	__u64 image_size; /* init_module: bytes of the image in user memory (not a data[] part) */
	char name
		[PG_MODULE_NAME_MAX]; /* struct module's name (module_load tracepoint); "" when it failed before */
	__u16 path_len;
	__u16 _pad0[3];
	char data[];
};

/* PG_REC_BPF: bpf(2) commands that create, attach or take a handle on BPF objects. */
struct pg_bpf_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__u32 cmd; /* enum bpf_cmd */
	__u32 prog_type; /* PROG_LOAD */
	__u32 map_type; /* MAP_CREATE */
	__u32 attach_type; /* PROG_LOAD (expected), PROG_ATTACH/DETACH, LINK_CREATE */
	__u32 insn_cnt; /* PROG_LOAD */
	__u32 id; /* *_GET_FD_BY_ID: the id asked for */
	char name
		[PG_BPF_NAME_MAX]; /* PROG_LOAD prog_name, MAP_CREATE map_name, RAW_TRACEPOINT_OPEN name */
};

/*
 * PG_REC_KEXEC: kexec_load / kexec_file_load. data[] holds the path of
 * kexec_file_load's kernel file (path_len bytes), resolved from the fd.
 */
struct pg_kexec_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__s32 kernel_fd; /* kexec_file_load; -1 for kexec_load */
	__s32 initrd_fd;
	__u64 kexec_flags; /* KEXEC_* / KEXEC_FILE_* */
	__u64 nr_segments; /* kexec_load */
	__u16 path_len;
	__u16 _pad0[3];
	char data[];
};

/* PG_REC_MEMFD: memfd_create. */
struct pg_memfd_event {
	struct pg_header hdr;
	struct pg_sys_common sys;
	__u32 mfd_flags; /* MFD_* */
	__u32 _pad0;
	/* the memfd's dentry name ("memfd:<name>", kernel memory); the user's name when the call failed */
	char name[PG_MEMFD_NAME_MAX];
};

/*
 * Where an enforcement decision was made (pg_enforce_event.backend). User
 * space names them after the program section ("cgroup/connect4",
 * "lsm/file_open", ...): that name is the attestation.
 */
enum pg_enforce_backend {
	PG_ENF_CONNECT4 = 1,
	PG_ENF_CONNECT6 = 2,
	PG_ENF_BIND4 = 3,
	PG_ENF_BIND6 = 4,
	PG_ENF_SENDMSG4 = 5,
	PG_ENF_SENDMSG6 = 6,
	PG_ENF_SOCK_CREATE = 7,
	PG_ENF_EXEC = 8, /* tp_btf/sched_process_exec: kill before the new image runs */
	PG_ENF_SYS_OPEN = 9, /* tracepoint sys_exit_open*: kill before the fd is used */
	PG_ENF_LSM_FILE_OPEN = 16,
	PG_ENF_LSM_BPRM = 17, /* lsm/bprm_check_security */
	PG_ENF_LSM_SOCKET_CONNECT = 18,
	PG_ENF_LSM_PATH_UNLINK = 19,
	PG_ENF_LSM_SOCKET_SENDMSG = 20,
	PG_ENF_LSM_BPF = 21, /* lsm/bpf: self-protection of pinned objects */
	PG_ENF_LSM_TASK_KILL = 22, /* lsm/task_kill: self-protection of the agent */
};

/* Flag bits of pg_enforce_event.flags. */
enum pg_enforce_flag {
	PG_ENF_MONITOR = 1 << 0, /* every acting rule is in monitor mode: nothing was done */
	PG_ENF_DENIED = 1 << 1, /* the operation failed with EPERM */
	PG_ENF_KILLED = 1 << 2, /* SIGKILL was sent */
	PG_ENF_SIGNALLED = 1 << 3, /* `signal` was sent */
	PG_ENF_SIGNAL_FAILED = 1 << 4, /* bpf_send_signal refused (e.g. a kernel thread) */
	PG_ENF_KEY_GUESSED = 1 << 9, /* process not in pg_execs: key computed */
	PG_ENF_SELF = 1 << 30, /* the agent itself */
};

/* Capacity of the path in enforcement records (exec'd binary, opened file). */
enum pg_enforce_limits {
	PG_ENF_PATH_MAX = 4096,
};

/*
 * PG_REC_ENFORCE: one enforced (or, in monitor mode, would-be) operation.
 * `rules` holds only the rules whose action was taken or counted (not audit
 * rules); `would` the monitor-mode ones among them. data[] holds the path
 * (path_len bytes) for exec and file backends.
 */
struct pg_enforce_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* the process (pg_execs entry of its tgid) */
	struct pg_rules rules; /* rule slots that acted (taken or would) */
	struct pg_rules would; /* of those, the monitor-mode ones */
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 kind; /* enum pg_kind of the operation */
	__u32 backend; /* enum pg_enforce_backend */
	__u32 action; /* enum pg_action: the strongest taken (or would-be) */
	__u32 flags; /* enum pg_enforce_flag */
	__u32 signal; /* the signal sent (kill: 9) */
	__u16 family; /* AF_INET 2, AF_INET6 10; 0 for non-network */
	__u16 port; /* remote (connect, send) or local (bind) port, host order */
	__u32 protocol; /* socket protocol / type (sock_create) */
	__u16 path_len;
	__u16 _pad0;
	__u8 addr[16]; /* network order; v4 in the first 4 bytes */
	char data[];
};

/* Value of pg_enf_counts (per rule slot, per CPU): actions taken and would-be actions. */
struct pg_enforce_count {
	__u64 taken;
	__u64 would;
};

/* What pg_tamper_event reports. */
enum pg_tamper_kind {
	PG_TAMPER_SIGNAL = 1, /* a fatal or stopping signal aimed at the agent */
	PG_TAMPER_BPF = 2, /* bpf() by another process on a pinned object or a detach */
};

/*
 * PG_REC_TAMPER: another process aimed at the agent (signal_generate with
 * the agent as target) or at BPF objects (bpf() OBJ_GET of a path under the
 * pin directory, LINK_DETACH, PROG_DETACH). Alert-only on kernels without
 * BPF-LSM; with BPF-LSM and a self-protection policy it is also denied.
 */
struct pg_tamper_event {
	struct pg_header hdr;
	struct pg_exec_key key; /* the sender / caller */
	__u32 pid;
	__u32 tid;
	__u32 what; /* enum pg_tamper_kind */
	__u32 signal; /* PG_TAMPER_SIGNAL: the signal */
	__u32 target; /* PG_TAMPER_SIGNAL: the target tgid (the agent) */
	__u32 bpf_cmd; /* PG_TAMPER_BPF: the bpf() command */
	__s32 result; /* signal_generate's result (0 delivered); lsm: the decision */
	__u32 flags; /* enum pg_enforce_flag (PG_ENF_DENIED when refused) */
	char comm[PG_COMM_MAX];
	char path[128]; /* PG_TAMPER_BPF OBJ_GET: the pathname (user memory, truncated) */
};

/* What crossed its threshold (pg_flood_event.kind); also the bit in pg_flood_src.alerted. */
enum pg_flood_kind {
	PG_FLOOD_PACKETS = 1, /* any packets from the source */
	PG_FLOOD_SYN = 2, /* TCP SYN without ACK (connection attempts) */
	PG_FLOOD_UDP = 4, /* UDP datagrams */
	PG_FLOOD_PORT_SCAN = 8, /* distinct destination ports of SYNs and datagrams */
};

/* Slots of pg_fl_stats (per-CPU), the flood sensor's counters. */
enum pg_flood_stat {
	PG_FL_STAT_PACKETS = 0, /* packets seen (every protocol) */
	PG_FL_STAT_IP = 1, /* IPv4/IPv6 packets counted per source */
	PG_FL_STAT_SYN = 2,
	PG_FL_STAT_UDP = 3,
	PG_FL_STAT_ALERTS = 4, /* flood records submitted */
	PG_FL_STAT_ALERT_DROP = 5, /* flood records lost: ring buffer full */
	PG_FL_STAT_DROPPED = 6, /* packets dropped from listed sources (XDP_DROP) */
	PG_FL_STAT_WOULD_DROP = 7, /* packets of listed sources passed (drop off: count only) */
	PG_FL_STAT_SRC_FULL = 8, /* per-source map update failed: the packet went uncounted */
	PG_FL_STAT_TRUNCATED = 9, /* headers beyond the packet's end: not counted per source */
	PG_FL_STAT_MAX = 16,
};

/*
 * Thresholds, written by user space to pg_fl_config[0] (live: no reload).
 * A threshold of 0 turns that detection off. Counts are per source per window.
 */
struct pg_flood_config {
	__u64 window_ns; /* length of one counting window */
	__u32 packets; /* PG_FLOOD_PACKETS threshold */
	__u32 syns; /* PG_FLOOD_SYN threshold */
	__u32 udp; /* PG_FLOOD_UDP threshold */
	__u32 ports; /* PG_FLOOD_PORT_SCAN threshold, in bits set in ports_seen (user space converts) */
	__u32 drop; /* 1: XDP_DROP packets of sources in pg_fl_deny; 0: count them only */
	__u32 _pad;
};

enum pg_flood_limits {
	PG_FLOOD_PORT_BITS = 1024, /* bits of pg_flood_src.ports_seen: linear-counting sketch */
};

/* One source's counters in the current window (pg_fl_srcs value). */
struct pg_flood_src {
	__u64 window_start; /* ktime of the window's first packet */
	__u64 packets;
	__u64 syns;
	__u64 udp;
	__u64 ports; /* bits set in ports_seen (distinct destination ports, lower bound) */
	__u64 dropped; /* packets dropped from this source since it entered the map (all windows) */
	__u32 alerted; /* enum pg_flood_kind bits already reported in this window */
	__u32 _pad;
	__u64 ports_seen[PG_FLOOD_PORT_BITS / 64];
};

/* pg_fl_srcs / pg_fl_deny key: the source address, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct pg_flood_key {
	__u8 addr[16];
};

/*
 * PG_REC_FLOOD: a source crossed one threshold in one window. At most one
 * record per source, kind and window (the alerted bits), so a flood of a
 * million packets costs one record.
 */
struct pg_flood_event {
	struct pg_header hdr;
	__u32 kind; /* enum pg_flood_kind (one bit) */
	__u32 family; /* AF_INET 2, AF_INET6 10 */
	__u8 addr[16]; /* source; IPv4 in the first 4 bytes */
	__u64 count; /* the counter that crossed, at the crossing */
	__u64 threshold;
	__u64 window_ns;
	__u64 elapsed_ns; /* since the window began: count / elapsed is the rate */
	__u32 ifindex; /* interface the packets arrived on */
	__u16 port; /* last destination port (host order) */
	__u8 protocol; /* 6 TCP, 17 UDP, else the IP protocol */
	__u8 _pad0;
};

#endif /* PG_EVENTS_H */
