// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel-change sensor: what alters the running kernel or hides code from
 * the file system: module loads (init_module, finit_module), bpf(2) by
 * processes other than the agent, kexec_load / kexec_file_load, and
 * memfd_create (the first step of fileless execution; exec of a memfd is
 * flagged by the process sensor).
 *
 * Why syscall tracepoints: there is no tracepoint in the bpf(2), kexec or
 * memfd code, and this kernel has no kprobes, fentry or BPF-LSM (where they
 * exist, lsm/kernel_read_file, lsm/bpf and lsm/bpf_prog_load would see the
 * kernel's own copies and could deny). The module:module_load tracepoint
 * (tp_btf, CONFIG_MODULES) adds the name from the kernel's struct module;
 * the agent loads that program only where the tracepoint exists. Each call
 * is reported at sys_exit with its result; sys_enter runs the policy filter
 * and saves the arguments per thread in pg_kern_state.
 *
 * Sources: file paths (finit_module, kexec_file_load) and memfd names are
 * resolved from the fd in kernel memory; bpf(2) attributes (program type and
 * name, map type and name, attach type) are read from the caller's union
 * bpf_attr in user memory at sys_enter, so a racing thread of the caller
 * could change them after the kernel copied them. init_module and kexec_load
 * take their image from user memory: there is no file to name.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "policy.h"
#include "lib/fd.h"
#include "lib/filter.h"
#include "lib/path.h"
#include "lib/sys.h"
#include "lib/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * bpf(2) commands reported (bit n = enum bpf_cmd n): those that create,
 * load, attach or take a handle on someone else's BPF object. Enumeration
 * (*_GET_NEXT_ID), info and map element operations are left out: agents and
 * bpftool issue them constantly, and they change nothing. The agent may
 * override the mask before load.
 */
const volatile __u64 bpf_cmds = (1ULL << BPF_MAP_CREATE) | (1ULL << BPF_PROG_LOAD) |
				(1ULL << BPF_PROG_ATTACH) | (1ULL << BPF_PROG_DETACH) |
				(1ULL << BPF_PROG_GET_FD_BY_ID) | (1ULL << BPF_MAP_GET_FD_BY_ID) |
				(1ULL << BPF_RAW_TRACEPOINT_OPEN) | (1ULL << BPF_BTF_LOAD) |
				(1ULL << BPF_LINK_CREATE) | (1ULL << BPF_LINK_UPDATE) |
				(1ULL << BPF_LINK_GET_FD_BY_ID) | (1ULL << BPF_LINK_DETACH);

/* Record scratch: fixed part + one path; offsets are masked to it. */
#define KERN_REC_SIZE 8192
#define KERN_REC_MASK (KERN_REC_SIZE - 1)
#define BPF_ATTR_READ 72 /* union bpf_attr bytes read: through PROG_LOAD's expected_attach_type */

struct kern_scratch {
	char rec[KERN_REC_SIZE];
	char path[PG_PATH_BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kern_scratch);
} pg_kern_scratch SEC(".maps");

/* What a bpf(2) call asked for, parsed from its attr at sys_enter. */
struct bpf_info {
	__u32 prog_type;
	__u32 map_type;
	__u32 attach_type;
	__u32 insn_cnt;
	__u32 id;
	__u32 fault;
	char name[PG_BPF_NAME_MAX];
};

/* What sys_enter saved for sys_exit, per thread. */
struct kern_state {
	struct pg_filter filter; /* gen and rules: sys_exit narrows by path */
	__u32 kind; /* enum pg_kind */
	__u32 syscall; /* enum pg_syscall: sys_exit of another syscall ignores it */
	__u64 args[5];
	union {
		char module[PG_MODULE_NAME_MAX]; /* filled by the module_load tracepoint */
		struct bpf_info bpf;
	};
};

/* LRU: a thread killed inside a call never reaches sys_exit; its entry ages out. Keyed by tid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct kern_state);
} pg_kern_state SEC(".maps");

/* Anchors for BTF (see process.bpf.c): the records gen-records turns into TypeScript. */
const volatile struct {
	enum pg_syscall syscall;
	enum pg_sys_flag sys_flag;
	enum pg_sys_limits sys_limits;
	struct pg_sys_common common;
	struct pg_bpf_event bpf;
	struct pg_memfd_event memfd;
} pg_kern_anchor __attribute__((unused));
/* Records ending in a flexible array: one anchor each. */
const volatile struct pg_module_event pg_module_anchor __attribute__((unused));
const volatile struct pg_kexec_event pg_kexec_anchor __attribute__((unused));

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

/* sys_enter: filter, then save the first `nargs` arguments (a constant: see privilege.bpf.c). */
static __always_inline struct kern_state *kern_enter(struct trace_event_raw_sys_enter *ctx,
						     struct kern_state *st, __u32 kind,
						     __u32 syscall, int nargs)
{
	__u32 tid;

	if (pg_filter_begin(&st->filter, kind)) {
		count(PG_STAT_KERNEL_FILTERED);
		return NULL;
	}
	st->kind = kind;
	st->syscall = syscall;
	if (nargs > 0)
		st->args[0] = ctx->args[0];
	if (nargs > 1)
		st->args[1] = ctx->args[1];
	if (nargs > 2)
		st->args[2] = ctx->args[2];
	if (nargs > 3)
		st->args[3] = ctx->args[3];
	if (nargs > 4)
		st->args[4] = ctx->args[4];
	tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pg_kern_state, &tid, st, BPF_ANY)) {
		count(PG_STAT_KERNEL_STATE_FULL);
		return NULL;
	}
	return st;
}

static __always_inline struct kern_state *kern_state(__u32 syscall, __u32 *tid)
{
	struct kern_state *st;

	*tid = (__u32)bpf_get_current_pid_tgid();
	st = bpf_map_lookup_elem(&pg_kern_state, tid);
	if (st && st->syscall != syscall) {
		/* Left by a call that never returned (the thread was killed); the tid got reused. */
		bpf_map_delete_elem(&pg_kern_state, tid);
		return NULL;
	}
	return st;
}

static __always_inline struct kern_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pg_kern_scratch, &zero);
}

/*
 * Resolves fd's file in the kernel into s->path, narrows the filter by it,
 * and appends it at rec offset `off`. Returns its length, or -1 when no
 * rule accepts the path. No file (init_module, kexec_load, a bad fd): only
 * rules that leave paths open match, and the length is 0.
 */
static __always_inline int append_fd_path(struct kern_scratch *s, struct task_struct *task, long fd,
					  __u32 off, struct pg_filter *f, __u32 *flags)
{
	struct file *file = pg_fd_file(task, fd);
	__u32 res = 0, start, len;

	if (!file) {
		*flags |= PG_SYS_NO_FILE;
		if (pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PATH))
			return -1;
		return 0;
	}
	start = pg_path_of(&file->f_path, BPF_CORE_READ(task, fs), s->path, &res);
	if (res & PG_PATH_TRUNCATED) {
		*flags |= PG_SYS_PATH_TRUNCATED;
		count(PG_STAT_KERNEL_PATH_TRUNCATED);
	}
	if (start > PG_PATH_MAX)
		start = PG_PATH_MAX;
	if (pg_filter_path(f, s->path, PG_PATH_BUF_SIZE - 1, start, PG_PATH_MAX))
		return -1;
	len = PG_PATH_MAX - start;
	if (len > PG_PATH_MAX)
		len = PG_PATH_MAX;
	if (off > 512)
		off = 512;
	bpf_probe_read_kernel(&s->rec[off], len, &s->path[start & (PG_PATH_MAX - 1)]);
	return len;
}

static __always_inline void kern_output(void *rec, __u32 size)
{
	if (bpf_ringbuf_output(&pg_events, rec, size & KERN_REC_MASK, wakeup_flags()))
		count(PG_STAT_KERNEL_DROP);
	else
		count(PG_STAT_KERNEL);
}

/* ---- modules ---- */

SEC("tracepoint/syscalls/sys_enter_init_module")
int handle_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	struct kern_state st = {};

	kern_enter(ctx, &st, PG_KIND_MODULE_LOAD, PG_SYS_INIT_MODULE, 2);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_finit_module")
int handle_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	struct kern_state st = {};

	kern_enter(ctx, &st, PG_KIND_MODULE_LOAD, PG_SYS_FINIT_MODULE, 3);
	return 0;
}

/*
 * module:module_load fires in load_module() once the image is parsed,
 * verified and linked, before its init runs, in the loading thread: the name
 * is the kernel's own (struct module), whatever the file is called.
 */
SEC("tp_btf/module_load")
int BPF_PROG(handle_module_load, struct module *mod)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct kern_state *st = bpf_map_lookup_elem(&pg_kern_state, &tid);

	if (st && (st->syscall == PG_SYS_INIT_MODULE || st->syscall == PG_SYS_FINIT_MODULE))
		bpf_probe_read_kernel_str(st->module, sizeof(st->module), mod->name);
	return 0;
}

static __always_inline int module_exit(struct trace_event_raw_sys_exit *ctx, __u32 syscall)
{
	struct task_struct *task = current_task();
	struct kern_scratch *s = scratch();
	struct pg_module_event *e;
	struct kern_state *st;
	__u32 tid;
	int len;

	st = kern_state(syscall, &tid);
	if (!st)
		return 0;
	if (!s)
		goto out;
	e = (void *)s->rec;
	__builtin_memset(e, 0, sizeof(*e));
	e->fd = -1;
	if (syscall == PG_SYS_FINIT_MODULE) {
		e->fd = st->args[0];
		e->load_flags = st->args[2];
	} else {
		e->image_size = st->args[1];
	}
	len = append_fd_path(s, task, e->fd, sizeof(*e), &st->filter, &e->sys.flags);
	if (len < 0) {
		count(PG_STAT_KERNEL_FILTERED);
		goto out;
	}
	e->path_len = len;
	pg_sys_fill(&e->sys, task, &st->filter.rules, st->kind, syscall, ctx->ret);
	__builtin_memcpy(e->name, st->module, sizeof(e->name));
	e->name[PG_MODULE_NAME_MAX - 1] = 0;
	header(&e->hdr, PG_REC_MODULE, sizeof(*e) + len, bpf_ktime_get_ns());
	kern_output(e, sizeof(*e) + len);
out:
	bpf_map_delete_elem(&pg_kern_state, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_init_module")
int handle_exit_init_module(struct trace_event_raw_sys_exit *ctx)
{
	return module_exit(ctx, PG_SYS_INIT_MODULE);
}

SEC("tracepoint/syscalls/sys_exit_finit_module")
int handle_exit_finit_module(struct trace_event_raw_sys_exit *ctx)
{
	return module_exit(ctx, PG_SYS_FINIT_MODULE);
}

/* ---- kexec ---- */

SEC("tracepoint/syscalls/sys_enter_kexec_load")
int handle_enter_kexec_load(struct trace_event_raw_sys_enter *ctx)
{
	struct kern_state st = {};

	kern_enter(ctx, &st, PG_KIND_KEXEC, PG_SYS_KEXEC_LOAD, 4);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_kexec_file_load")
int handle_enter_kexec_file_load(struct trace_event_raw_sys_enter *ctx)
{
	struct kern_state st = {};

	kern_enter(ctx, &st, PG_KIND_KEXEC, PG_SYS_KEXEC_FILE_LOAD, 5);
	return 0;
}

static __always_inline int kexec_exit(struct trace_event_raw_sys_exit *ctx, __u32 syscall)
{
	struct task_struct *task = current_task();
	struct kern_scratch *s = scratch();
	struct pg_kexec_event *e;
	struct kern_state *st;
	__u32 tid;
	int len;

	st = kern_state(syscall, &tid);
	if (!st)
		return 0;
	if (!s)
		goto out;
	e = (void *)s->rec;
	__builtin_memset(e, 0, sizeof(*e));
	e->kernel_fd = -1;
	e->initrd_fd = -1;
	if (syscall == PG_SYS_KEXEC_FILE_LOAD) {
		e->kernel_fd = st->args[0];
		e->initrd_fd = st->args[1];
		e->kexec_flags = st->args[4];
	} else {
		e->nr_segments = st->args[1];
		e->kexec_flags = st->args[3];
	}
	len = append_fd_path(s, task, e->kernel_fd, sizeof(*e), &st->filter, &e->sys.flags);
	if (len < 0) {
		count(PG_STAT_KERNEL_FILTERED);
		goto out;
	}
	e->path_len = len;
	pg_sys_fill(&e->sys, task, &st->filter.rules, st->kind, syscall, ctx->ret);
	header(&e->hdr, PG_REC_KEXEC, sizeof(*e) + len, bpf_ktime_get_ns());
	kern_output(e, sizeof(*e) + len);
out:
	bpf_map_delete_elem(&pg_kern_state, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_kexec_load")
int handle_exit_kexec_load(struct trace_event_raw_sys_exit *ctx)
{
	return kexec_exit(ctx, PG_SYS_KEXEC_LOAD);
}

SEC("tracepoint/syscalls/sys_exit_kexec_file_load")
int handle_exit_kexec_file_load(struct trace_event_raw_sys_exit *ctx)
{
	return kexec_exit(ctx, PG_SYS_KEXEC_FILE_LOAD);
}

/* ---- bpf(2) ---- */

/*
 * The command mask and the agent's own calls are tested before the policy
 * filter: both are cheaper, and the agent's map reads and writes are the
 * bulk of all bpf(2) calls on a host running it.
 */
SEC("tracepoint/syscalls/sys_enter_bpf")
int handle_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	__u8 attr[BPF_ATTR_READ] = {};
	struct kern_state st = {};
	struct bpf_info *b = &st.bpf;
	long cmd = ctx->args[0];
	__u64 size = ctx->args[2];

	if (cmd < 0 || cmd >= 64 || !((bpf_cmds >> cmd) & 1))
		return 0;
	if (self_tgid && (bpf_get_current_pid_tgid() >> 32) == self_tgid) {
		count(PG_STAT_KERNEL_SELF);
		return 0;
	}
	/* The kernel reads min(size, sizeof(attr)) and zero-fills the rest: so does this. */
	if (size > BPF_ATTR_READ)
		size = BPF_ATTR_READ;
	if (size && bpf_probe_read_user(attr, size, (void *)ctx->args[1]))
		b->fault = 1;
	switch (cmd) {
	case BPF_PROG_LOAD:
		/* prog_type @0, insn_cnt @4, prog_name[16] @48, expected_attach_type @68 */
		b->prog_type = *(__u32 *)&attr[0];
		b->insn_cnt = *(__u32 *)&attr[4];
		__builtin_memcpy(b->name, &attr[48], PG_BPF_NAME_MAX);
		b->attach_type = *(__u32 *)&attr[68];
		break;
	case BPF_MAP_CREATE:
		/* map_type @0, map_name[16] @28 */
		b->map_type = *(__u32 *)&attr[0];
		__builtin_memcpy(b->name, &attr[28], PG_BPF_NAME_MAX);
		break;
	case BPF_PROG_ATTACH:
	case BPF_PROG_DETACH:
	case BPF_LINK_CREATE:
		/* attach_type @8 in both layouts */
		b->attach_type = *(__u32 *)&attr[8];
		break;
	case BPF_RAW_TRACEPOINT_OPEN:
		/* name @0: a user pointer to the tracepoint's name */
		bpf_probe_read_user_str(b->name, sizeof(b->name), (void *)*(__u64 *)&attr[0]);
		break;
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_LINK_GET_FD_BY_ID:
		b->id = *(__u32 *)&attr[0];
		break;
	}
	b->name[PG_BPF_NAME_MAX - 1] = 0;
	kern_enter(ctx, &st, PG_KIND_BPF, PG_SYS_BPF, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bpf")
int handle_exit_bpf(struct trace_event_raw_sys_exit *ctx)
{
	struct pg_bpf_event *e;
	struct kern_state *st;
	__u32 tid;

	st = kern_state(PG_SYS_BPF, &tid);
	if (!st)
		return 0;
	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (!e) {
		count(PG_STAT_KERNEL_DROP);
		goto out;
	}
	__builtin_memset(e, 0, sizeof(*e));
	header(&e->hdr, PG_REC_BPF, sizeof(*e), bpf_ktime_get_ns());
	pg_sys_fill(&e->sys, current_task(), &st->filter.rules, st->kind, PG_SYS_BPF, ctx->ret);
	if (st->bpf.fault)
		e->sys.flags |= PG_SYS_ARG_FAULT;
	e->cmd = st->args[0];
	e->prog_type = st->bpf.prog_type;
	e->map_type = st->bpf.map_type;
	e->attach_type = st->bpf.attach_type;
	e->insn_cnt = st->bpf.insn_cnt;
	e->id = st->bpf.id;
	__builtin_memcpy(e->name, st->bpf.name, sizeof(e->name));
	bpf_ringbuf_submit(e, wakeup_flags());
	count(PG_STAT_KERNEL);
out:
	bpf_map_delete_elem(&pg_kern_state, &tid);
	return 0;
}

/* ---- memfd_create ---- */

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int handle_enter_memfd_create(struct trace_event_raw_sys_enter *ctx)
{
	struct kern_state st = {};

	kern_enter(ctx, &st, PG_KIND_MEMFD_CREATE, PG_SYS_MEMFD_CREATE, 2);
	return 0;
}

/*
 * The name comes from the new fd's dentry ("memfd:<name>", what
 * /proc/PID/fd shows), kernel memory. When the call failed there is no fd:
 * the name the caller passed is read from user memory and flagged.
 */
SEC("tracepoint/syscalls/sys_exit_memfd_create")
int handle_exit_memfd_create(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = current_task();
	struct pg_memfd_event *e;
	struct kern_state *st;
	struct file *file = NULL;
	const unsigned char *name;
	__u32 tid;

	st = kern_state(PG_SYS_MEMFD_CREATE, &tid);
	if (!st)
		return 0;
	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (!e) {
		count(PG_STAT_KERNEL_DROP);
		goto out;
	}
	__builtin_memset(e, 0, sizeof(*e));
	header(&e->hdr, PG_REC_MEMFD, sizeof(*e), bpf_ktime_get_ns());
	pg_sys_fill(&e->sys, task, &st->filter.rules, st->kind, PG_SYS_MEMFD_CREATE, ctx->ret);
	e->mfd_flags = st->args[1];
	if (ctx->ret >= 0)
		file = pg_fd_file(task, ctx->ret);
	if (file) {
		name = BPF_CORE_READ(file, f_path.dentry, d_name.name);
		bpf_probe_read_kernel_str(e->name, sizeof(e->name), name);
	} else {
		bpf_probe_read_user_str(e->name, sizeof(e->name), (void *)st->args[0]);
		e->sys.flags |= PG_SYS_NAME_USER;
	}
	bpf_ringbuf_submit(e, wakeup_flags());
	count(PG_STAT_KERNEL);
out:
	bpf_map_delete_elem(&pg_kern_state, &tid);
	return 0;
}
