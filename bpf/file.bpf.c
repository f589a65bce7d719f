// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * File sensor: open, unlink, rename, link, symlink, chmod, chown, truncate
 * and mount, one PG_REC_FILE record per event a policy rule matches.
 *
 * Hooks are the per-syscall tracepoints (syscalls/sys_enter_*, sys_exit_*):
 * the one file hook this kernel offers (no fentry, kprobes or BPF-LSM here),
 * stable ABI since 4.x, and each fires only for its own syscall, so a
 * policy that watches nothing but chmod costs nothing on open. Paths come
 * from kernel objects wherever the hook has them: an open's path is walked at
 * sys_exit from the new fd's struct file (symlinks and ".." resolved as the
 * kernel did: TOCTOU-safe); fchmod/fchown/ftruncate walk their fd's file.
 * At sys_enter the kernel has not resolved the name yet, so the other kinds
 * walk the dirfd (or cwd) in the kernel and join the user's name to it: the
 * path is absolute, and flagged PG_FILE_PATH_USER. Normalisation: leading
 * "./" and a lone "." are dropped; other "." and ".." components are kept.
 *
 * Filter order (lib/filter.h): pg_filter_begin first (process-level, cheap),
 * then, for open, the access asked (still at sys_enter), then the path walk
 * and pg_filter_path. A glob selector reaches the kernel as its literal
 * prefix; user space checks the rest.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "policy.h"
#include "lib/filter.h"
#include "lib/path.h"
#include "lib/task.h"
#include "lib/fd.h"
#include "lib/enforce.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Open flags (asm-generic/fcntl.h: x86, arm64, riscv; alpha/sparc/parisc differ). */
#define PG_O_ACCMODE 00000003
#define PG_O_WRONLY 00000001
#define PG_O_RDWR 00000002
#define PG_O_CREAT 00000100
#define PG_O_TRUNC 00001000
#define PG_O_PATH 010000000
#define PG_O_TMPFILE 020000000
#define PG_AT_REMOVEDIR 0x200
#define PG_AT_SYMLINK_NOFOLLOW 0x100
#define PG_FSTYPE_MAX 64 /* bytes of a filesystem type name kept */

/* Record scratch: the fixed part and up to four parts of < PG_PATH_MAX each. */
#define PG_REC_BUF_SIZE 16384
#define PG_REC_MASK (PG_REC_BUF_SIZE - 1)
#define HDR sizeof(struct pg_file_event)
#define PART_MASK (PG_PATH_MAX - 1)

/* What one sys_enter hook reports: which names, how to resolve them. */
struct file_args {
	__u32 kind; /* enum pg_kind */
	__s32 dfd; /* resolves name */
	__s32 dfd2; /* resolves name2 */
	__u32 sys_flags;
	__u32 mode;
	__u32 uid;
	__u32 gid;
	__u32 raw_first; /* name is stored as written (symlink target), not joined */
	const char *name; /* user memory */
	const char *name2; /* rename/link/symlink: the second name, NULL when none */
	const char *source; /* mount */
	const char *fstype; /* mount */
};

/* What sys_enter_open* learnt, for sys_exit_open* of the same thread. */
struct open_pending {
	struct pg_rules rules; /* after pg_filter_begin and pg_filter_access */
	__u32 gen;
	__u32 flags; /* O_* */
	__u32 mode;
	__u32 access;
	__s32 dfd; /* for a failed open: its path is joined from dfd and name */
	__u32 _pad;
	const char *name; /* user memory */
};

/*
 * Per-CPU scratch: the record being built, the path buffer, and report()'s
 * state across its two names (kept here, not on the stack: see lib/walk.h).
 */
struct file_scratch {
	char rec[PG_REC_BUF_SIZE];
	/* Also slack: rec offsets are masked to PG_REC_MASK, so a store may run past rec. */
	char path[PG_PATH_BUF_SIZE];
	struct file_args args; /* the hook's, for report() and name_part() */
	struct pg_filter f; /* after pg_filter_begin */
	struct pg_filter name_f; /* f narrowed by one name's path */
	struct open_pending pending; /* open_exit()'s copy of its sys_enter state */
	struct pg_rules matched; /* rules matching either name */
	__u32 len[2];
	__u32 flags; /* enum pg_file_flag */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_scratch);
} pg_file_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* threads inside an open at once */
	__type(key, __u32); /* tid */
	__type(value, struct open_pending);
} pg_file_opens SEC(".maps");

/* BTF anchors for scripts/gen-records.ts (see process.bpf.c). */
const volatile struct {
	enum pg_file_flag file_flag;
	enum pg_kind kind;
	enum pg_access access;
	enum pg_stat stat;
	struct pg_rules rules;
	struct pg_file_event file; /* last: it ends in a flexible array */
} pg_file_anchor __attribute__((unused));

static __always_inline __u32 clamp(__u32 v, __u32 max)
{
	return v > max ? max : v;
}

static __always_inline struct file_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pg_file_scratch, &zero);
}

/* enum pg_access bits an open's flags ask for. O_PATH opens neither read nor write. */
static __always_inline __u32 open_access(__u32 flags)
{
	__u32 a = 0;

	if (flags & PG_O_PATH)
		return 0;
	if ((flags & PG_O_ACCMODE) == PG_O_WRONLY)
		a = PG_ACCESS_WRITE;
	else if ((flags & PG_O_ACCMODE) == PG_O_RDWR)
		a = PG_ACCESS_READ | PG_ACCESS_WRITE;
	else
		a = PG_ACCESS_READ;
	if (flags & (PG_O_CREAT | PG_O_TMPFILE))
		a |= PG_ACCESS_CREATE;
	if (flags & PG_O_TRUNC)
		a |= PG_ACCESS_TRUNCATE;
	return a;
}

/*
 * Copies the path of a kernel struct path to rec[at ..]; returns its length
 * (< PG_PATH_MAX). The walk's tail is kept when it is longer.
 */
static __always_inline __u32 kernel_path(struct task_struct *task, struct file_scratch *s, __u32 at,
					 const struct path *path, __u32 *flags)
{
	__u32 res = 0, start, len;

	start = pg_path_of(path, BPF_CORE_READ(task, fs), s->path, &res);
	if (res & PG_PATH_TRUNCATED) {
		*flags |= PG_FILE_TRUNCATED;
		count(PG_STAT_FILE_TRUNCATED);
	}
	if (res & PG_PATH_DELETED)
		*flags |= PG_FILE_DELETED;
	start = clamp(start, PG_PATH_MAX);
	len = PG_PATH_MAX - start;
	if (len > PART_MASK) { /* a whole PG_PATH_MAX: keep the last bytes */
		start += len - PART_MASK;
		len = PART_MASK;
	}
	barrier_var(len);
	barrier_var(at);
	bpf_probe_read_kernel(&s->rec[at & PG_REC_MASK], len & PART_MASK,
			      &s->path[start & PART_MASK]);
	return len;
}

/* Copies a user string as written to rec[at ..]; returns its length (< max). */
static __always_inline __u32 raw_string(struct file_scratch *s, __u32 at, const char *str,
					__u32 max, __u32 *flags)
{
	long n;

	if (!str)
		return 0;
	/* Forget what clang knows of max, so the mask stays for the verifier. */
	barrier_var(max);
	n = bpf_probe_read_user_str(&s->rec[at & PG_REC_MASK], max & PART_MASK, str);
	if (n <= 0) {
		*flags |= PG_FILE_FAULT;
		count(PG_STAT_FILE_FAULT);
		return 0;
	}
	if (n == (max & PART_MASK)) {
		*flags |= PG_FILE_TRUNCATED;
		count(PG_STAT_FILE_TRUNCATED);
	}
	return n - 1;
}

/*
 * Writes to rec[at ..] the absolute path a *at() call's (dfd, name) names:
 * name itself when absolute; else dfd's directory (cwd for AT_FDCWD), walked
 * in the kernel, "/" and name. Returns its length (< PG_PATH_MAX).
 */
static __always_inline __u32 user_path(struct task_struct *task, struct file_scratch *s, __u32 at,
				       int dfd, const char *name, __u32 *flags)
{
	const struct path *dir;
	__u32 off = 0, i;
	char c[2] = {};

	*flags |= PG_FILE_PATH_USER;
	if (!name || bpf_probe_read_user(c, 1, name)) {
		*flags |= PG_FILE_FAULT;
		count(PG_STAT_FILE_FAULT);
		return 0;
	}
	if (c[0] == '/')
		return raw_string(s, at, name, PG_PATH_MAX - 1, flags);

	/* Relative: drop leading "./" (and a lone "."), then join. */
	for (i = 0; i < 8; i++) {
		if (c[0] != '.')
			break;
		bpf_probe_read_user(c, 2, name);
		if (c[1] == 0) {
			name++;
			c[0] = 0;
			break;
		}
		if (c[1] != '/')
			break;
		name += 2;
		if (bpf_probe_read_user(c, 1, name))
			break;
	}
	dir = pg_dirfd_path(task, dfd);
	if (dir) {
		off = kernel_path(task, s, at, dir, flags);
		if (c[0] && !(off == 1 && s->rec[at & PG_REC_MASK] == '/')) {
			s->rec[(at + off) & PG_REC_MASK] = '/';
			off++;
		}
	}
	if (!c[0]) /* the directory itself (".", or "" with AT_EMPTY_PATH) */
		return off;
	if (off >= PG_PATH_MAX - 1) {
		*flags |= PG_FILE_TRUNCATED;
		count(PG_STAT_FILE_TRUNCATED);
		return clamp(off, PART_MASK);
	}
	return off + raw_string(s, at + off, name, PG_PATH_MAX - 1 - off, flags);
}

/* The process identity for the record: its pg_execs entry, else {tgid, start_time}. */
static __always_inline void fill_ids(struct task_struct *task, struct pg_file_event *e)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	e->pid = tgid;
	e->tid = (__u32)pid_tgid;
	if (pg_identity(task, &e->key))
		e->flags |= PG_FILE_KEY_GUESSED;
	if (self_tgid && tgid == self_tgid)
		e->flags |= PG_FILE_SELF;
}

static __always_inline void submit(struct pg_file_event *e, __u32 size)
{
	header(&e->hdr, PG_REC_FILE, size, bpf_ktime_get_ns());
	if (bpf_ringbuf_output(&pg_events, e, clamp(size, PG_REC_BUF_SIZE), wakeup_flags()))
		count(PG_STAT_FILE_DROP);
	else
		count(PG_STAT_FILE);
}

/*
 * Resolves name k (0 or 1) of the hook's arguments behind the previous one
 * and matches it against the path rules. A global function: verified once
 * per program, not once per name, and no loop runs inside a loop callback.
 */
__noinline int name_part(__u32 k)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file_scratch *s = scratch();
	const char *name;
	__u32 at, len, flags = 0;

	if (!s || k > 1)
		return 0;
	name = k ? s->args.name2 : s->args.name;
	if (!name)
		return 0;
	at = HDR + (k ? clamp(s->len[0], PART_MASK) : 0);
	if (!k && s->args.raw_first)
		len = raw_string(s, at, name, PG_PATH_MAX - 1, &flags);
	else
		len = user_path(task, s, at, k ? s->args.dfd2 : s->args.dfd, name, &flags);
	len = clamp(len, PART_MASK);
	s->name_f = s->f;
	if (!pg_filter_path(&s->name_f, s->rec, PG_REC_MASK, at, at + len)) {
		pg_rules_or(&s->matched, &s->name_f.rules);
		flags |= k ? PG_FILE_MATCH_NEW : PG_FILE_MATCH_PATH;
	}
	s->len[k & 1] = len;
	s->flags |= flags;
	return 0;
}

/*
 * The common body of the sys_enter hooks of every kind but open: filter on
 * the process, resolve the name(s), filter on the path (either name: a rename
 * or link into or out of a watched tree both match), build and submit.
 */
__noinline int report(void)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct file_scratch *s = scratch();
	struct pg_file_event *e;
	__u32 len, len2, size, flags;

	if (!s)
		return 0;
	if (pg_filter_begin(&s->f, s->args.kind)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	__builtin_memset(&s->matched, 0, sizeof(s->matched));
	s->len[0] = 0;
	s->len[1] = 0;
	s->flags = 0;
	name_part(0);
	name_part(1);
	flags = s->flags;
	if (!(flags & (PG_FILE_MATCH_PATH | PG_FILE_MATCH_NEW))) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}

	/* The fixed part goes last: the path parts were written behind it. */
	e = (void *)s->rec;
	__builtin_memset(e, 0, HDR);
	len = clamp(s->len[0], PART_MASK);
	len2 = clamp(s->len[1], PART_MASK);
	e->path_len = len;
	e->new_path_len = len2;
	size = HDR + len + len2;
	if (s->args.kind == PG_KIND_FILE_MOUNT) {
		e->source_len = raw_string(s, size, s->args.source, PG_PATH_MAX - 1, &flags);
		size += clamp(e->source_len, PART_MASK);
		e->fstype_len = raw_string(s, size, s->args.fstype, PG_FSTYPE_MAX, &flags);
		size += clamp(e->fstype_len, PG_FSTYPE_MAX);
	}
	if (s->args.raw_first)
		flags |= PG_FILE_TARGET_RAW;
	e->flags = flags;
	fill_ids(task, e);
	e->rules = s->matched;
	e->kind = s->args.kind;
	e->sys_flags = s->args.sys_flags;
	e->mode = s->args.mode;
	e->uid = s->args.uid;
	e->gid = s->args.gid;
	submit(e, size);
	return 0;
}

/*
 * A name-based hook's arguments, written straight into the scratch (not the
 * hook's stack: every byte of its frame counts in each call chain below it).
 */
#define REPORT(...)                                                \
	({                                                         \
		struct file_scratch *s = scratch();                \
		if (s) {                                           \
			s->args = (struct file_args){__VA_ARGS__}; \
			report();                                  \
		}                                                  \
		0;                                                 \
	})

/* fchmod / fchown / ftruncate: the fd's struct file, walked in the kernel. */
static __noinline int report_fd(struct file_args *a, int fd)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct pg_filter f;
	struct file_scratch *s;
	struct pg_file_event *e;
	struct file *file;
	__u32 flags = 0, len;

	if (pg_filter_begin(&f, a->kind)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	file = pg_fd_file(task, fd);
	s = scratch();
	if (!file || !s)
		return 0;
	e = (void *)s->rec;
	len = clamp(kernel_path(task, s, HDR, &file->f_path, &flags), PART_MASK);
	if (pg_filter_path(&f, s->rec, PG_REC_MASK, HDR, HDR + len)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	__builtin_memset(e, 0, HDR);
	e->path_len = len;
	e->flags = flags | PG_FILE_MATCH_PATH;
	fill_ids(task, e);
	e->rules = f.rules;
	e->kind = a->kind;
	e->mode = a->mode;
	e->uid = a->uid;
	e->gid = a->gid;
	submit(e, HDR + len);
	return 0;
}

/*
 * sys_enter of every open: only the process-level filter and the access
 * asked, both cheap lookups; the path waits for sys_exit, where the new fd's
 * struct file says what was really opened. When no rule watches opens,
 * pg_filter_begin returns after two array lookups.
 */
static __always_inline int open_enter(int dfd, const char *name, __u32 flags, __u32 mode)
{
	struct open_pending p;
	struct pg_filter f;
	__u32 tid;

	if (pg_filter_begin(&f, PG_KIND_FILE_OPEN)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	p.access = open_access(flags);
	if (pg_filter_access(&f, p.access)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	p.rules = f.rules;
	p.gen = f.gen;
	p.flags = flags;
	p.mode = mode;
	p.dfd = dfd;
	p._pad = 0;
	p.name = name;
	tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pg_file_opens, &tid, &p, BPF_ANY))
		count(PG_STAT_FILE_PENDING_FULL);
	return 0;
}

/*
 * sys_exit of every open: the fd the syscall returned is installed in the
 * task's table by now, so its struct file gives the path the kernel opened
 * (after symlinks, "..", bind mounts). A failed open has no file: its path is
 * the dirfd/cwd joined with the user's name (PG_FILE_PATH_USER).
 *
 * Kill/signal rules on open act here too, in the same pass, where BPF-LSM
 * cannot deny: the path is the kernel's (TOCTOU-safe) and the access asked
 * (read, write, create, truncate) was learnt from the flags at sys_enter.
 * The SIGKILL is delivered before the syscall returns to user space, so the
 * fd is never used. What it cannot undo: the open happened — O_CREAT created
 * the file, O_TRUNC truncated it, access time was updated.
 */
static __always_inline int open_exit(long ret)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_pending *pp;
	struct enf_decision *d;
	struct file_scratch *s;
	struct pg_file_event *e;
	struct file *file;
	__u32 flags = PG_FILE_RET, len = 0;

	pp = bpf_map_lookup_elem(&pg_file_opens, &tid);
	if (!pp)
		return 0;
	s = scratch();
	if (!s) {
		bpf_map_delete_elem(&pg_file_opens, &tid);
		return 0;
	}
	/* State in the scratch, not this frame: the path checks below stack on top of it. */
	s->pending = *pp;
	bpf_map_delete_elem(&pg_file_opens, &tid);
	e = (void *)s->rec;
	s->f.gen = s->pending.gen;
	s->f.rules = s->pending.rules;

	if (ret >= 0) {
		file = pg_fd_file(task, (int)ret);
		if (file)
			len = kernel_path(task, s, HDR, &file->f_path, &flags);
	} else {
		len = user_path(task, s, HDR, s->pending.dfd, s->pending.name, &flags);
	}
	len = clamp(len, PART_MASK);
	if (pg_filter_path(&s->f, s->rec, PG_REC_MASK, HDR, HDR + len)) {
		count(PG_STAT_FILE_FILTERED);
		return 0;
	}
	/* Only an open that succeeded has an fd to keep from the process. */
	if (ret >= 0 && (d = pg_enf_decide(&s->f, PG_ENF_CAN_SIGNAL)))
		pg_enf_emit_path(task, d, PG_KIND_FILE_OPEN, PG_ENF_SYS_OPEN, pg_enf_signal(d),
				 &s->rec[HDR], len);
	__builtin_memset(e, 0, HDR);
	e->path_len = len;
	e->flags = flags | PG_FILE_MATCH_PATH;
	fill_ids(task, e);
	e->rules = s->f.rules;
	e->kind = PG_KIND_FILE_OPEN;
	e->sys_flags = s->pending.flags;
	e->access = s->pending.access;
	e->mode = s->pending.mode;
	e->ret = (__s32)ret;
	submit(e, HDR + len);
	return 0;
}

#define ARG(i) (ctx->args[i])
#define STR(i) ((const char *)ctx->args[i])

SEC("tracepoint/syscalls/sys_enter_openat")
int handle_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter((int)ARG(0), STR(1), (__u32)ARG(2), (__u32)ARG(3));
}

/* openat2(dfd, name, struct open_how *how, size): flags and mode are in user memory. */
SEC("tracepoint/syscalls/sys_enter_openat2")
int handle_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how.flags) + sizeof(how.mode), (void *)ARG(2));
	return open_enter((int)ARG(0), STR(1), (__u32)how.flags, (__u32)how.mode);
}

/* open and creat: absent on arm64 and riscv (no tracepoint: the attach is skipped). */
SEC("tracepoint/syscalls/sys_enter_open")
int handle_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(PG_AT_FDCWD, STR(0), (__u32)ARG(1), (__u32)ARG(2));
}

SEC("tracepoint/syscalls/sys_enter_creat")
int handle_enter_creat(struct trace_event_raw_sys_enter *ctx)
{
	return open_enter(PG_AT_FDCWD, STR(0), PG_O_CREAT | PG_O_WRONLY | PG_O_TRUNC,
			  (__u32)ARG(1));
}

SEC("tracepoint/syscalls/sys_exit_openat")
int handle_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int handle_exit_openat2(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int handle_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_creat")
int handle_exit_creat(struct trace_event_raw_sys_exit *ctx)
{
	return open_exit(ctx->ret);
}

/* The name-based kinds report at sys_enter: the syscall's result is not known (no ret). */

SEC("tracepoint/syscalls/sys_enter_unlink")
int handle_unlink(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_UNLINK, .dfd = PG_AT_FDCWD, .name = STR(0));
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int handle_unlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_UNLINK, .dfd = (int)ARG(0), .name = STR(1),
		      .sys_flags = (__u32)ARG(2));
}

/* rmdir is an unlink of a directory: reported as unlinkat(AT_FDCWD, name, AT_REMOVEDIR). */
SEC("tracepoint/syscalls/sys_enter_rmdir")
int handle_rmdir(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_UNLINK, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .sys_flags = PG_AT_REMOVEDIR);
}

SEC("tracepoint/syscalls/sys_enter_rename")
int handle_rename(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_RENAME, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .dfd2 = PG_AT_FDCWD, .name2 = STR(1));
}

SEC("tracepoint/syscalls/sys_enter_renameat")
int handle_renameat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_RENAME, .dfd = (int)ARG(0), .name = STR(1),
		      .dfd2 = (int)ARG(2), .name2 = STR(3));
}

SEC("tracepoint/syscalls/sys_enter_renameat2")
int handle_renameat2(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_RENAME, .dfd = (int)ARG(0), .name = STR(1),
		      .dfd2 = (int)ARG(2), .name2 = STR(3), .sys_flags = (__u32)ARG(4));
}

SEC("tracepoint/syscalls/sys_enter_link")
int handle_link(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_LINK, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .dfd2 = PG_AT_FDCWD, .name2 = STR(1));
}

SEC("tracepoint/syscalls/sys_enter_linkat")
int handle_linkat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_LINK, .dfd = (int)ARG(0), .name = STR(1),
		      .dfd2 = (int)ARG(2), .name2 = STR(3), .sys_flags = (__u32)ARG(4));
}

/* symlink(target, linkpath): the target is stored as written (it is the link's content). */
SEC("tracepoint/syscalls/sys_enter_symlink")
int handle_symlink(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_SYMLINK, .raw_first = 1, .name = STR(0),
		      .dfd2 = PG_AT_FDCWD, .name2 = STR(1));
}

SEC("tracepoint/syscalls/sys_enter_symlinkat")
int handle_symlinkat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_SYMLINK, .raw_first = 1, .name = STR(0),
		      .dfd2 = (int)ARG(1), .name2 = STR(2));
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int handle_chmod(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHMOD, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .mode = (__u32)ARG(1));
}

SEC("tracepoint/syscalls/sys_enter_fchmodat")
int handle_fchmodat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHMOD, .dfd = (int)ARG(0), .name = STR(1),
		      .mode = (__u32)ARG(2));
}

/* fchmodat2 (6.6+): fchmodat with flags; absent before 6.6 (the attach is skipped). */
SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int handle_fchmodat2(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHMOD, .dfd = (int)ARG(0), .name = STR(1),
		      .mode = (__u32)ARG(2), .sys_flags = (__u32)ARG(3));
}

SEC("tracepoint/syscalls/sys_enter_fchmod")
int handle_fchmod(struct trace_event_raw_sys_enter *ctx)
{
	struct file_args a = {.kind = PG_KIND_FILE_CHMOD, .mode = (__u32)ARG(1)};

	return report_fd(&a, (int)ARG(0));
}

SEC("tracepoint/syscalls/sys_enter_chown")
int handle_chown(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHOWN, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .uid = (__u32)ARG(1), .gid = (__u32)ARG(2));
}

SEC("tracepoint/syscalls/sys_enter_lchown")
int handle_lchown(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHOWN, .dfd = PG_AT_FDCWD, .name = STR(0),
		      .uid = (__u32)ARG(1), .gid = (__u32)ARG(2),
		      .sys_flags = PG_AT_SYMLINK_NOFOLLOW);
}

SEC("tracepoint/syscalls/sys_enter_fchownat")
int handle_fchownat(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_CHOWN, .dfd = (int)ARG(0), .name = STR(1),
		      .uid = (__u32)ARG(2), .gid = (__u32)ARG(3), .sys_flags = (__u32)ARG(4));
}

SEC("tracepoint/syscalls/sys_enter_fchown")
int handle_fchown(struct trace_event_raw_sys_enter *ctx)
{
	struct file_args a = {
		.kind = PG_KIND_FILE_CHOWN, .uid = (__u32)ARG(1), .gid = (__u32)ARG(2)};

	return report_fd(&a, (int)ARG(0));
}

SEC("tracepoint/syscalls/sys_enter_truncate")
int handle_truncate(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_TRUNCATE, .dfd = PG_AT_FDCWD, .name = STR(0));
}

SEC("tracepoint/syscalls/sys_enter_ftruncate")
int handle_ftruncate(struct trace_event_raw_sys_enter *ctx)
{
	struct file_args a = {.kind = PG_KIND_FILE_TRUNCATE};

	return report_fd(&a, (int)ARG(0));
}

/*
 * mount(source, target, fstype, flags, data): the target (mount point) is the
 * path; source and fstype are kept as written. The new mount API
 * (fsopen/fsmount/move_mount) is not covered.
 */
SEC("tracepoint/syscalls/sys_enter_mount")
int handle_mount(struct trace_event_raw_sys_enter *ctx)
{
	return REPORT(.kind = PG_KIND_FILE_MOUNT, .dfd = PG_AT_FDCWD, .name = STR(1),
		      .source = STR(0), .fstype = STR(2), .sys_flags = (__u32)ARG(3));
}
