// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Privilege sensor: credential changes (setuid / setgid families, capset),
 * namespace changes (unshare, setns, clone / clone3 with CLONE_NEW*), ptrace
 * attach and writes, and security-relevant prctl options.
 *
 * Why syscall tracepoints: the credential and namespace code has no
 * tracepoint of its own (commit_creds, switch_task_namespaces, ptrace_attach
 * have none), and this kernel has no kprobes, fentry or BPF-LSM. Where those
 * exist, lsm/task_fix_setuid, lsm/capset and lsm/ptrace_access_check would see
 * the kernel's own arguments (the target task_struct, the new cred) and could
 * deny; the tracepoints here observe only, on every kernel since 4.7
 * (CONFIG_FTRACE_SYSCALLS). Each call is reported at sys_exit with its result:
 * sys_enter runs the policy filter and saves the state the record compares
 * against (old ids, caps, namespaces) per thread in pg_priv_state.
 *
 * What the records guarantee: ids, capabilities and namespaces are read from
 * the task's kernel objects (real_cred, nsproxy) before and after the call,
 * never from user memory, so they are what the kernel applied. Arguments
 * (requested ids, flags, ptrace request) are the raw syscall arguments; the
 * clone3 flags and capset header come from user memory at sys_enter.
 *
 * Not covered: the 16-bit / compat syscalls (setuid16, ia32 entry points),
 * setgroups, seccomp(2) (prctl(PR_SET_SECCOMP) is), and setuid-binary execs
 * (the process sensor flags those).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "policy.h"
#include "lib/filter.h"
#include "lib/creds.h"
#include "lib/sys.h"
#include "lib/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* include/uapi/linux/sched.h: the namespace bits of clone/unshare flags. */
#define PG_CLONE_NEWTIME 0x00000080ULL
#define PG_CLONE_NEWNS 0x00020000ULL
#define PG_CLONE_NEWCGROUP 0x02000000ULL
#define PG_CLONE_NEWUTS 0x04000000ULL
#define PG_CLONE_NEWIPC 0x08000000ULL
#define PG_CLONE_NEWUSER 0x10000000ULL
#define PG_CLONE_NEWPID 0x20000000ULL
#define PG_CLONE_NEWNET 0x40000000ULL
#define PG_CLONE_NS_MASK                                                            \
	(PG_CLONE_NEWTIME | PG_CLONE_NEWNS | PG_CLONE_NEWCGROUP | PG_CLONE_NEWUTS | \
	 PG_CLONE_NEWIPC | PG_CLONE_NEWUSER | PG_CLONE_NEWPID | PG_CLONE_NEWNET)

/* include/uapi/linux/ptrace.h */
#define PG_PTRACE_TRACEME 0
#define PG_PTRACE_POKETEXT 4
#define PG_PTRACE_POKEDATA 5
#define PG_PTRACE_POKEUSR 6
#define PG_PTRACE_SETREGS 13
#define PG_PTRACE_SETFPREGS 15
#define PG_PTRACE_ATTACH 16
#define PG_PTRACE_SETREGSET 0x4205
#define PG_PTRACE_SEIZE 0x4206

/* include/uapi/linux/prctl.h */
#define PG_PR_SET_DUMPABLE 4
#define PG_PR_SET_KEEPCAPS 8
#define PG_PR_SET_SECCOMP 22
#define PG_PR_CAPBSET_DROP 24
#define PG_PR_SET_SECUREBITS 28
#define PG_PR_SET_MM 35
#define PG_PR_SET_NO_NEW_PRIVS 38
#define PG_PR_CAP_AMBIENT 47
#define PG_PR_CAP_AMBIENT_IS_SET 1
#define PG_PR_SET_PTRACER 0x59616d61

/* What sys_enter saved for sys_exit, per thread. */
struct priv_state {
	struct pg_rules rules;
	__u32 kind; /* enum pg_kind */
	__u32 syscall; /* enum pg_syscall: sys_exit of another syscall ignores it */
	__u64 args[3];
	union {
		struct pg_cred_ids ids;
		struct pg_cap_sets caps;
		struct pg_ns_ids ns;
	};
};

/*
 * LRU: a thread killed inside a call never reaches its sys_exit; its entry
 * ages out instead of filling the map. Keyed by tid.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct priv_state);
} pg_priv_state SEC(".maps");

/* Anchors for BTF (see process.bpf.c): the records gen-records turns into TypeScript. */
const volatile struct {
	enum pg_syscall syscall;
	enum pg_sys_flag sys_flag;
	enum pg_sys_limits sys_limits;
	enum pg_kind kind;
	struct pg_sys_common common;
	struct pg_setid_event setid;
	struct pg_capset_event capset;
	struct pg_ns_event ns;
	struct pg_ptrace_event ptrace;
	struct pg_prctl_event prctl;
} pg_priv_anchor __attribute__((unused));

static __always_inline struct task_struct *current_task(void)
{
	return (struct task_struct *)bpf_get_current_task();
}

static __always_inline void read_ids(struct task_struct *task, struct pg_cred_ids *ids)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

	ids->uid = BPF_CORE_READ(cred, uid.val);
	ids->gid = BPF_CORE_READ(cred, gid.val);
	ids->euid = BPF_CORE_READ(cred, euid.val);
	ids->egid = BPF_CORE_READ(cred, egid.val);
	ids->suid = BPF_CORE_READ(cred, suid.val);
	ids->sgid = BPF_CORE_READ(cred, sgid.val);
	ids->fsuid = BPF_CORE_READ(cred, fsuid.val);
	ids->fsgid = BPF_CORE_READ(cred, fsgid.val);
}

static __always_inline void read_caps(struct task_struct *task, struct pg_cap_sets *caps)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

	pg_read_caps(&caps->effective, cred, cap_effective);
	pg_read_caps(&caps->permitted, cred, cap_permitted);
	pg_read_caps(&caps->inheritable, cred, cap_inheritable);
}

static __always_inline void read_ns(struct task_struct *task, struct pg_ns_ids *ns)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);

	ns->user = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
	if (!nsp)
		return;
	ns->mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	ns->uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	ns->ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	ns->net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	ns->cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	ns->pid_children = BPF_CORE_READ(nsp, pid_ns_for_children, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns_for_children)) /* 5.6+ */
		ns->time_children = BPF_CORE_READ(nsp, time_ns_for_children, ns.inum);
}

/* CLONE_NEW* bits of the namespaces that differ between a and b. */
static __always_inline __u32 ns_changed(const struct pg_ns_ids *a, const struct pg_ns_ids *b)
{
	__u32 m = 0;

	if (a->mnt != b->mnt)
		m |= PG_CLONE_NEWNS;
	if (a->uts != b->uts)
		m |= PG_CLONE_NEWUTS;
	if (a->ipc != b->ipc)
		m |= PG_CLONE_NEWIPC;
	if (a->net != b->net)
		m |= PG_CLONE_NEWNET;
	if (a->cgroup != b->cgroup)
		m |= PG_CLONE_NEWCGROUP;
	if (a->user != b->user)
		m |= PG_CLONE_NEWUSER;
	if (a->pid_children != b->pid_children)
		m |= PG_CLONE_NEWPID;
	if (a->time_children != b->time_children)
		m |= PG_CLONE_NEWTIME;
	return m;
}

/*
 * sys_enter of every watched syscall: the policy filter first (it returns at
 * once when no rule watches `kind` for this process), then the state sys_exit
 * needs. `nargs` is a constant per syscall: a syscall tracepoint's context
 * holds only that syscall's arguments, and attach refuses a program reading
 * past them, so args beyond nargs are never touched. `arg` overrides args[0]
 * (clone3: the flags read from user memory).
 */
static __always_inline int priv_enter(struct trace_event_raw_sys_enter *ctx, __u32 kind,
				      __u32 syscall, int nargs)
{
	struct task_struct *task = current_task();
	struct priv_state st = {};
	struct pg_filter f;
	__u32 tid;

	if (pg_filter_begin(&f, kind)) {
		count(PG_STAT_PRIV_FILTERED);
		return 0;
	}
	st.rules = f.rules;
	st.kind = kind;
	st.syscall = syscall;
	if (nargs > 0)
		st.args[0] = ctx->args[0];
	if (nargs > 1)
		st.args[1] = ctx->args[1];
	if (nargs > 2)
		st.args[2] = ctx->args[2];
	switch (syscall) {
	case PG_SYS_CAPSET:
		read_caps(task, &st.caps);
		break;
	case PG_SYS_UNSHARE:
	case PG_SYS_SETNS:
	case PG_SYS_CLONE:
	case PG_SYS_CLONE3:
		read_ns(task, &st.ns);
		break;
	case PG_SYS_PTRACE:
	case PG_SYS_PRCTL:
		break;
	default:
		read_ids(task, &st.ids);
	}
	tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pg_priv_state, &tid, &st, BPF_ANY))
		count(PG_STAT_PRIV_STATE_FULL);
	return 0;
}

/* The state sys_enter saved for this thread and syscall, or NULL. */
static __always_inline struct priv_state *priv_state(__u32 syscall, __u32 *tid)
{
	struct priv_state *st;

	*tid = (__u32)bpf_get_current_pid_tgid();
	st = bpf_map_lookup_elem(&pg_priv_state, tid);
	if (st && st->syscall != syscall) {
		/* Left by a call that never returned (the thread was killed); the tid got reused. */
		bpf_map_delete_elem(&pg_priv_state, tid);
		return NULL;
	}
	return st;
}

static __always_inline void *priv_reserve(__u32 size)
{
	void *e = bpf_ringbuf_reserve(&pg_events, size, 0);

	if (!e)
		count(PG_STAT_PRIV_DROP);
	return e;
}

static __always_inline void priv_submit(void *e)
{
	bpf_ringbuf_submit(e, wakeup_flags());
	count(PG_STAT_PRIV);
}

/* ---- setuid / setgid families ---- */

static __always_inline int setid_exit(struct trace_event_raw_sys_exit *ctx, __u32 syscall)
{
	struct task_struct *task = current_task();
	struct pg_setid_event *e;
	struct priv_state *st;
	__u32 tid;

	st = priv_state(syscall, &tid);
	if (!st)
		return 0;
	e = priv_reserve(sizeof(*e));
	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		header(&e->hdr, PG_REC_SETID, sizeof(*e), bpf_ktime_get_ns());
		pg_sys_fill(&e->sys, task, &st->rules, st->kind, syscall, ctx->ret);
		e->args[0] = st->args[0];
		e->args[1] = st->args[1];
		e->args[2] = st->args[2];
		e->old = st->ids;
		read_ids(task, &e->new);
		priv_submit(e);
	}
	bpf_map_delete_elem(&pg_priv_state, &tid);
	return 0;
}

#define SETID_HOOKS(name, kind, sys, nargs)                            \
	SEC("tracepoint/syscalls/sys_enter_" #name)                    \
	int handle_enter_##name(struct trace_event_raw_sys_enter *ctx) \
	{                                                              \
		return priv_enter(ctx, kind, sys, nargs);              \
	}                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                     \
	int handle_exit_##name(struct trace_event_raw_sys_exit *ctx)   \
	{                                                              \
		return setid_exit(ctx, sys);                           \
	}

SETID_HOOKS(setuid, PG_KIND_PRIV_SETUID, PG_SYS_SETUID, 1)
SETID_HOOKS(setreuid, PG_KIND_PRIV_SETUID, PG_SYS_SETREUID, 2)
SETID_HOOKS(setresuid, PG_KIND_PRIV_SETUID, PG_SYS_SETRESUID, 3)
SETID_HOOKS(setfsuid, PG_KIND_PRIV_SETUID, PG_SYS_SETFSUID, 1)
SETID_HOOKS(setgid, PG_KIND_PRIV_SETGID, PG_SYS_SETGID, 1)
SETID_HOOKS(setregid, PG_KIND_PRIV_SETGID, PG_SYS_SETREGID, 2)
SETID_HOOKS(setresgid, PG_KIND_PRIV_SETGID, PG_SYS_SETRESGID, 3)
SETID_HOOKS(setfsgid, PG_KIND_PRIV_SETGID, PG_SYS_SETFSGID, 1)

/* ---- capset ---- */

SEC("tracepoint/syscalls/sys_enter_capset")
int handle_enter_capset(struct trace_event_raw_sys_enter *ctx)
{
	return priv_enter(ctx, PG_KIND_PRIV_CAPSET, PG_SYS_CAPSET, 2);
}

SEC("tracepoint/syscalls/sys_exit_capset")
int handle_exit_capset(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = current_task();
	struct pg_capset_event *e;
	struct priv_state *st;
	__u32 tid;

	st = priv_state(PG_SYS_CAPSET, &tid);
	if (!st)
		return 0;
	e = priv_reserve(sizeof(*e));
	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		header(&e->hdr, PG_REC_CAPSET, sizeof(*e), bpf_ktime_get_ns());
		pg_sys_fill(&e->sys, task, &st->rules, st->kind, PG_SYS_CAPSET, ctx->ret);
		/* struct __user_cap_header_struct { __u32 version; int pid; } */
		if (bpf_probe_read_user(&e->target, sizeof(e->target), (void *)(st->args[0] + 4)))
			e->sys.flags |= PG_SYS_ARG_FAULT;
		e->old = st->caps;
		read_caps(task, &e->new);
		priv_submit(e);
	}
	bpf_map_delete_elem(&pg_priv_state, &tid);
	return 0;
}

/* ---- namespaces: unshare, setns, clone, clone3 ---- */

static __always_inline int ns_exit(struct trace_event_raw_sys_exit *ctx, __u32 syscall)
{
	struct task_struct *task = current_task();
	struct pg_ns_event *e;
	struct priv_state *st;
	__u32 tid;

	st = priv_state(syscall, &tid);
	if (!st)
		return 0;
	e = priv_reserve(sizeof(*e));
	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		header(&e->hdr, PG_REC_NS, sizeof(*e), bpf_ktime_get_ns());
		pg_sys_fill(&e->sys, task, &st->rules, st->kind, syscall, ctx->ret);
		e->fd = -1;
		if (syscall == PG_SYS_SETNS) {
			e->fd = st->args[0];
			e->clone_flags = st->args[1];
		} else {
			e->clone_flags = st->args[0];
		}
		e->old = st->ns;
		read_ns(task, &e->new);
		e->changed = ns_changed(&e->old, &e->new);
		priv_submit(e);
	}
	bpf_map_delete_elem(&pg_priv_state, &tid);
	return 0;
}

/* unshare without a CLONE_NEW* flag (CLONE_FILES, CLONE_FS) is not a namespace change. */
SEC("tracepoint/syscalls/sys_enter_unshare")
int handle_enter_unshare(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[0] & PG_CLONE_NS_MASK))
		return 0;
	return priv_enter(ctx, PG_KIND_NS_UNSHARE, PG_SYS_UNSHARE, 1);
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int handle_exit_unshare(struct trace_event_raw_sys_exit *ctx)
{
	return ns_exit(ctx, PG_SYS_UNSHARE);
}

SEC("tracepoint/syscalls/sys_enter_setns")
int handle_enter_setns(struct trace_event_raw_sys_enter *ctx)
{
	return priv_enter(ctx, PG_KIND_NS_SETNS, PG_SYS_SETNS, 2);
}

SEC("tracepoint/syscalls/sys_exit_setns")
int handle_exit_setns(struct trace_event_raw_sys_exit *ctx)
{
	return ns_exit(ctx, PG_SYS_SETNS);
}

/*
 * clone runs on every fork and thread start: the flag test comes before the
 * policy filter because it is cheaper still (no map lookup). flags is the
 * first argument on every architecture. sys_exit also fires in the child
 * (ret 0), which has no saved state and so reports nothing.
 */
SEC("tracepoint/syscalls/sys_enter_clone")
int handle_enter_clone(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[0] & PG_CLONE_NS_MASK))
		return 0;
	return priv_enter(ctx, PG_KIND_NS_UNSHARE, PG_SYS_CLONE, 1);
}

SEC("tracepoint/syscalls/sys_exit_clone")
int handle_exit_clone(struct trace_event_raw_sys_exit *ctx)
{
	return ns_exit(ctx, PG_SYS_CLONE);
}

/* clone3(struct clone_args *uargs, size): flags is the first u64 of uargs, read from user memory. */
SEC("tracepoint/syscalls/sys_enter_clone3")
int handle_enter_clone3(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = current_task();
	struct priv_state st = {};
	struct pg_filter f;
	__u64 flags = 0;
	__u32 tid;

	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]) ||
	    !(flags & PG_CLONE_NS_MASK))
		return 0;
	if (pg_filter_begin(&f, PG_KIND_NS_UNSHARE)) {
		count(PG_STAT_PRIV_FILTERED);
		return 0;
	}
	st.rules = f.rules;
	st.kind = PG_KIND_NS_UNSHARE;
	st.syscall = PG_SYS_CLONE3;
	st.args[0] = flags;
	read_ns(task, &st.ns);
	tid = (__u32)bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&pg_priv_state, &tid, &st, BPF_ANY))
		count(PG_STAT_PRIV_STATE_FULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int handle_exit_clone3(struct trace_event_raw_sys_exit *ctx)
{
	return ns_exit(ctx, PG_SYS_CLONE3);
}

/* ---- ptrace ---- */

/*
 * Requests that start tracing or write into the tracee: the steps of process
 * injection and credential theft. Reads, continues and single steps
 * (PEEK*, GETREGS, CONT, SYSCALL: a debugger or strace issues them per
 * stop, thousands a second) are not reported.
 */
static __always_inline int ptrace_reported(long request)
{
	switch (request) {
	case PG_PTRACE_TRACEME:
	case PG_PTRACE_POKETEXT:
	case PG_PTRACE_POKEDATA:
	case PG_PTRACE_POKEUSR:
	case PG_PTRACE_SETREGS:
	case PG_PTRACE_SETFPREGS:
	case PG_PTRACE_ATTACH:
	case PG_PTRACE_SETREGSET:
	case PG_PTRACE_SEIZE:
		return 1;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int handle_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	if (!ptrace_reported(ctx->args[0]))
		return 0;
	return priv_enter(ctx, PG_KIND_PTRACE, PG_SYS_PTRACE, 2);
}

/* The walk of tracer->ptraced, per CPU: loop state stays off the stack (lib/walk.h). */
struct ptrace_find {
	__u64 head; /* &tracer->ptraced */
	__u64 pos;
	__u64 found; /* struct task_struct * */
	__u32 vpid; /* the pid argument */
	__u32 level; /* the tracer's pid namespace level */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ptrace_find);
} pg_ptrace_find SEC(".maps");

struct ptrace_find_ctx {
	struct ptrace_find *p;
};

/* One step along tracer->ptraced: the tracee whose pid at the tracer's level is vpid. */
static long ptrace_find_step(__u32 i, void *ctx)
{
	struct ptrace_find *p = ((struct ptrace_find_ctx *)ctx)->p;
	struct list_head *pos = (void *)p->pos;
	struct list_head *next = BPF_CORE_READ(pos, next);
	struct task_struct *t;
	struct pid *pid;
	struct upid upid = {};
	__u32 level = p->level & 31; /* a local: bpf_core_read() would relocate p->level too */

	if (!next || (__u64)next == p->head)
		return 1;
	t = (void *)((char *)next - bpf_core_field_offset(struct task_struct, ptrace_entry));
	pid = BPF_CORE_READ(t, thread_pid);
	if (BPF_CORE_READ(pid, level) >= level) {
		bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]);
		if (upid.nr == p->vpid) {
			p->found = (__u64)t;
			return 1;
		}
	}
	p->pos = (__u64)next;
	return 0;
}

/*
 * The tracee is found in the kernel, not guessed from the pid argument: after
 * a successful attach (and for every later request) it is on the tracer's
 * ptraced list (attach adds it at the head), and its pid at the tracer's pid
 * namespace level is the argument. For PTRACE_TRACEME the other side is the
 * parent, now the tracer. A failed attach leaves only the pid argument.
 */
SEC("tracepoint/syscalls/sys_exit_ptrace")
int handle_exit_ptrace(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = current_task();
	struct task_struct *target = NULL;
	struct pg_ptrace_event *e;
	struct priv_state *st;
	__u32 tid;

	st = priv_state(PG_SYS_PTRACE, &tid);
	if (!st)
		return 0;
	e = priv_reserve(sizeof(*e));
	if (!e)
		goto out;
	__builtin_memset(e, 0, sizeof(*e));
	header(&e->hdr, PG_REC_PTRACE, sizeof(*e), bpf_ktime_get_ns());
	pg_sys_fill(&e->sys, task, &st->rules, st->kind, PG_SYS_PTRACE, ctx->ret);
	e->request = st->args[0];
	e->target_vpid = st->args[1];

	if (e->request == PG_PTRACE_TRACEME) {
		if (ctx->ret == 0)
			target = BPF_CORE_READ(task, parent);
	} else {
		__u32 zero = 0;
		struct ptrace_find *p = bpf_map_lookup_elem(&pg_ptrace_find, &zero);
		struct ptrace_find_ctx c = {.p = p};

		if (p) {
			p->head = (__u64)&task->ptraced;
			p->pos = p->head;
			p->found = 0;
			p->vpid = e->target_vpid;
			p->level = BPF_CORE_READ(task, thread_pid, level);
			bpf_loop(64, ptrace_find_step, &c, 0);
			target = (void *)p->found;
		}
	}
	if (target) {
		e->sys.flags |= PG_SYS_TARGET_FOUND;
		__u32 ttgid = BPF_CORE_READ(target, tgid);

		e->target_pid = ttgid;
		e->target_tid = BPF_CORE_READ(target, pid);
		if (pg_identity(target, &e->target))
			e->sys.flags |= PG_SYS_TARGET_KEY_GUESSED;
	} else {
		count(PG_STAT_PTRACE_NO_TARGET);
	}
	priv_submit(e);
out:
	bpf_map_delete_elem(&pg_priv_state, &tid);
	return 0;
}

/* ---- prctl ---- */

/*
 * Options that change what the process may do or who may touch it:
 * PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_CAPBSET_DROP, PR_SET_KEEPCAPS,
 * PR_SET_SECUREBITS, PR_CAP_AMBIENT (not its IS_SET query), PR_SET_DUMPABLE,
 * PR_SET_PTRACER, PR_SET_MM (rewrites exe / argv / env addresses:
 * masquerading). PR_SET_NAME is not reported: every thread pool names its
 * threads with it (pthread_setname_np), and a renamed comm shows in the
 * process's next event anyway.
 */
static __always_inline int prctl_reported(long option, long arg2)
{
	switch (option) {
	case PG_PR_SET_DUMPABLE:
	case PG_PR_SET_KEEPCAPS:
	case PG_PR_SET_SECCOMP:
	case PG_PR_CAPBSET_DROP:
	case PG_PR_SET_SECUREBITS:
	case PG_PR_SET_MM:
	case PG_PR_SET_NO_NEW_PRIVS:
	case PG_PR_SET_PTRACER:
		return 1;
	case PG_PR_CAP_AMBIENT:
		return arg2 != PG_PR_CAP_AMBIENT_IS_SET;
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_prctl")
int handle_enter_prctl(struct trace_event_raw_sys_enter *ctx)
{
	if (!prctl_reported(ctx->args[0], ctx->args[1]))
		return 0;
	return priv_enter(ctx, PG_KIND_PRIV_PRCTL, PG_SYS_PRCTL, 2);
}

SEC("tracepoint/syscalls/sys_exit_prctl")
int handle_exit_prctl(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = current_task();
	struct pg_prctl_event *e;
	struct priv_state *st;
	__u32 tid;

	st = priv_state(PG_SYS_PRCTL, &tid);
	if (!st)
		return 0;
	e = priv_reserve(sizeof(*e));
	if (e) {
		__builtin_memset(e, 0, sizeof(*e));
		header(&e->hdr, PG_REC_PRCTL, sizeof(*e), bpf_ktime_get_ns());
		pg_sys_fill(&e->sys, task, &st->rules, st->kind, PG_SYS_PRCTL, ctx->ret);
		e->option = st->args[0];
		e->arg2 = st->args[1];
		priv_submit(e);
	}
	bpf_map_delete_elem(&pg_priv_state, &tid);
	return 0;
}
