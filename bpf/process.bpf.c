// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Process sensor: exec, fork and exit of whole processes, plus a task
 * iterator that seeds the same identities for processes alive at start.
 * pg_execs is the kernel-side authority on process identity and parentage.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "events.h"
#include "lib/maps.h"
#include "lib/filter.h"
#include "lib/hash.h"
#include "lib/creds.h"
#include "lib/ns.h"
#include "lib/path.h"
#include "lib/task.h"
#include "lib/enforce.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* argv bytes kept per exec, <= PG_ARGS_MAX. */
const volatile __u32 args_max = PG_ARGS_MAX;

/* Record scratch: fixed part + path + args + cwd + cgroup fits; offsets are masked to it. */
#define PG_REC_BUF_SIZE 16384
#define PG_REC_MASK (PG_REC_BUF_SIZE - 1)
#define PG_SCRATCH_SLOTS 2

struct process_scratch {
	char rec[PG_REC_BUF_SIZE];
	char path[PG_PATH_BUF_SIZE];
	/* Kept here, not on the stack: the path checks stack their frames on top of the hook's. */
	struct pg_exec_entry entry;
	struct pg_filter f;
};

/*
 * Slot 0 serves the tracepoints, which run with preemption disabled; slot 1
 * serves the task iterator, which runs preemptible under migrate_disable()
 * and could otherwise be overwritten mid-record by an exec on its CPU.
 */
enum scratch_slot {
	SCRATCH_TP = 0,
	SCRATCH_ITER = 1,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_SCRATCH_SLOTS);
	__type(key, __u32); /* enum scratch_slot */
	__type(value, struct process_scratch);
} pg_scratch SEC(".maps");

/*
 * The process object owns every shared map, the policy filter's included
 * (lib/filter.h): the agent loads it first and the other sensors reuse them.
 *
 * Anchors for BTF: scripts/gen-records.ts generates the TypeScript side from
 * the object's BTF, which only holds types some global uses by value (a
 * pointer would leave a bare forward declaration). Costs ~500 bytes of .rodata.
 */
const volatile struct {
	enum pg_schema schema;
	enum pg_record_type type;
	enum pg_limits limits;
	enum pg_exec_flag exec_flag;
	enum pg_fork_flag fork_flag;
	enum pg_exit_flag exit_flag;
	enum pg_stat stat;
	struct pg_header header;
	struct pg_exec_key key;
	struct pg_exec_entry entry;
	struct pg_fork_event fork;
	struct pg_exit_event exit;
	enum pg_policy_limits policy_limits;
	enum pg_kind kind;
	enum pg_dim dim;
	enum pg_set set;
	enum pg_access access;
	enum pg_action action;
	struct pg_rules rules;
	struct pg_filter_config filter_config;
	struct pg_value_key value_key;
	struct pg_allow_deny allow_deny;
	struct pg_path_key path_key;
	struct pg_prefix_key prefix_key;
	struct pg_addr_key addr_key;
	struct pg_rule_action rule_action;
	struct pg_exec_event exec; /* last: it ends in a flexible array */
} pg_schema_anchor __attribute__((unused));

/*
 * The identity of a process: its pg_execs entry, or when absent (before the
 * seeding iterator reached it, or evicted) the deterministic {tgid, start_time}.
 * Returns 1 when computed.
 */
static __always_inline int lookup_key(struct task_struct *task, struct pg_exec_key *key)
{
	if (!pg_identity(task, key))
		return 0;
	count(PG_STAT_KEY_MISS);
	return 1;
}

/* Bounds a length for the verifier: (len & mask) can't be proven <= max by itself. */
static __always_inline __u32 clamp(__u32 len, __u32 max)
{
	return len > max ? max : len;
}

/*
 * Appends the path resolved into s->path (start offset `start`) at data offset
 * `off`; off <= 2 * PG_PATH_MAX so off + len stays inside rec.
 */
static __always_inline __u32 append_path(struct process_scratch *s, __u32 off, __u32 start)
{
	__u32 len = PG_PATH_MAX - clamp(start, PG_PATH_MAX);

	off = clamp(off, 2 * PG_PATH_MAX);
	len = clamp(len, PG_PATH_MAX);
	bpf_probe_read_kernel(&s->rec[sizeof(struct pg_exec_event) + off], len,
			      &s->path[start & (PG_PATH_MAX - 1)]);
	return len;
}

/*
 * Fills everything exec and proc records share. `file` is the binary (exec:
 * bprm->file, proc: mm->exe_file). Returns the data offset after path.
 */
static __always_inline __u32 fill_process(struct task_struct *task, struct file *file,
					  struct process_scratch *s, struct pg_exec_event *e,
					  __u32 slot)
{
	struct task_struct *parent = BPF_CORE_READ(task, real_parent);
	struct tty_struct *tty = BPF_CORE_READ(task, signal, tty);
	__u32 res = 0, start;

	e->pid = BPF_CORE_READ(task, tgid);
	e->tid = BPF_CORE_READ(task, pid);
	e->ppid = BPF_CORE_READ(parent, tgid);
	if (lookup_key(parent, &e->parent))
		e->flags |= PG_EXEC_PARENT_GUESSED;
	if (self_tgid && e->pid == self_tgid)
		e->flags |= PG_EXEC_SELF;
	pg_creds_fill(task, e);
	if (e->euid != e->uid)
		e->flags |= PG_EXEC_SETUID;
	if (e->egid != e->gid)
		e->flags |= PG_EXEC_SETGID;
	pg_ns_fill(task, e);
	e->cgroup_id = pg_task_cgroup_id(task);
	e->start_time = BPF_CORE_READ(task, start_time);
	e->start_boottime = BPF_CORE_READ(task, start_boottime);
	if (tty)
		bpf_core_read_str(e->tty, sizeof(e->tty), &tty->name);
	bpf_core_read_str(e->comm, sizeof(e->comm), &task->comm);

	if (!file) {
		e->flags |= PG_EXEC_NO_EXE;
		return 0;
	}
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	e->exe_ino = BPF_CORE_READ(inode, i_ino);
	e->exe_mode = BPF_CORE_READ(inode, i_mode);
	e->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);

	start = pg_path_of_slot(&file->f_path, BPF_CORE_READ(task, fs), s->path, &res, slot);
	if (res & PG_PATH_TRUNCATED) {
		e->flags |= PG_EXEC_PATH_TRUNCATED;
		count(PG_STAT_PATH_TRUNCATED);
	}
	if (res & PG_PATH_DELETED)
		e->flags |= PG_EXEC_EXE_DELETED;
	if (res & PG_PATH_ANON)
		e->flags |= PG_EXEC_EXE_ANON;
	if (res & PG_PATH_MEMFD)
		e->flags |= PG_EXEC_EXE_MEMFD;
	e->path_len = append_path(s, 0, start);
	return e->path_len;
}

/* Binary hashes for the identity map: this binary's (from the record's path) and its parent's. */
static __always_inline void fill_hashes(struct task_struct *task, struct process_scratch *s,
					struct pg_exec_event *e, struct pg_exec_entry *entry,
					__u32 slot)
{
	__u32 ptgid = BPF_CORE_READ(task, real_parent, tgid);
	struct pg_exec_entry *pent = bpf_map_lookup_elem(&pg_execs, &ptgid);
	__u32 len = clamp(e->path_len, PG_PATH_MAX);

	entry->bin_hash = pg_hash_path_slot(&s->rec[sizeof(struct pg_exec_event)], PG_PATH_MAX - 1,
					    0, len, &entry->name_hash, slot);
	if (pent) {
		entry->pbin_hash = pent->bin_hash;
		entry->pname_hash = pent->name_hash;
	}
}

/* Appends cwd and the cgroup leaf name at data offset `off`; returns the record size. */
static __always_inline __u32 fill_tail(struct task_struct *task, struct process_scratch *s,
				       struct pg_exec_event *e, __u32 off, __u32 slot)
{
	struct fs_struct *fs = BPF_CORE_READ(task, fs);
	const char *name;
	__u32 res = 0, start;
	long n;

	if (fs) {
		start = pg_path_of_slot(&fs->pwd, fs, s->path, &res, slot);
		if (res & PG_PATH_TRUNCATED) {
			e->flags |= PG_EXEC_CWD_TRUNCATED;
			count(PG_STAT_PATH_TRUNCATED);
		}
		e->cwd_len = append_path(s, off, start);
		off += e->cwd_len;
	}

	name = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, name);
	off = clamp(off, 3 * PG_PATH_MAX);
	n = bpf_probe_read_kernel_str(&s->rec[sizeof(struct pg_exec_event) + off],
				      PG_CGROUP_NAME_MAX, name);
	if (n > 0) {
		e->cgroup_len = n - 1; /* without the NUL */
		off += n - 1;
	}
	return sizeof(struct pg_exec_event) + off;
}

static __always_inline struct process_scratch *scratch(__u32 slot)
{
	return bpf_map_lookup_elem(&pg_scratch, &slot);
}

/*
 * Kill/signal rules on exec, in the pass that observed it: the binary's path
 * (rec, from bprm->file's dentry) and the identity (pg_execs, just updated
 * with this image's hashes) are already here, so nothing is walked or
 * filled twice. A SIGKILL sent now is delivered on the way back to user
 * space: the new image never runs a single instruction (the shell sees 137).
 * What it cannot undo: exec itself happened (the old image is gone, setuid
 * credentials were computed, the file was read). `deny` on exec needs
 * BPF-LSM (lsm/bprm_check_security); without it such rules are rewritten
 * to kill (fallback: kill) before they get here.
 */
static __always_inline void enforce_exec(struct task_struct *task, struct process_scratch *s,
					 __u32 path_len)
{
	__u32 len = clamp(path_len, PG_PATH_MAX - 1);
	const char *path = &s->rec[sizeof(struct pg_exec_event)];
	struct enf_decision *d;

	if (pg_filter_begin(&s->f, PG_KIND_EXEC) ||
	    pg_filter_path(&s->f, path, PG_PATH_MAX - 1, 0, len))
		return;
	d = pg_enf_decide(&s->f, PG_ENF_CAN_SIGNAL);
	if (d)
		pg_enf_emit_path(task, d, PG_KIND_EXEC, PG_ENF_EXEC, pg_enf_signal(d), path, len);
}

/*
 * sched_process_exec fires after the point of no return of a successful
 * execve/execveat: the new image, credentials (setuid applied) and mm are in
 * place, current is the exec'ing task (already the group leader after
 * de_thread), and bprm->file is the file actually mapped (the interpreter for
 * #! scripts, as /proc/PID/exe). The path comes from that file's dentry, not
 * from the caller's filename string: TOCTOU-safe. argv is read from the new
 * mm's stack, which exec just wrote, so it is present. tp_btf: 5.5+.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct process_scratch *s = scratch(SCRATCH_TP);
	struct pg_exec_entry *entry;
	struct pg_exec_event *e;
	struct mm_struct *mm;
	__u64 now = bpf_ktime_get_ns();
	__u64 arg_start, arg_end, len;
	__u32 off, size;

	if (!s)
		return 0;
	e = (void *)s->rec;
	__builtin_memset(e, 0, sizeof(*e));

	e->key.pid = BPF_CORE_READ(task, tgid);
	e->key.ktime = now;
	lookup_key(task, &e->prev); /* the identity this image replaces */
	off = fill_process(task, BPF_CORE_READ(bprm, file), s, e, PG_WALK_TP);

	mm = BPF_CORE_READ(task, mm);
	arg_start = BPF_CORE_READ(mm, arg_start);
	arg_end = BPF_CORE_READ(mm, arg_end);
	len = arg_end - arg_start;
	if (len > args_max || len > PG_ARGS_MAX) {
		len = args_max < PG_ARGS_MAX ? args_max : PG_ARGS_MAX;
		e->flags |= PG_EXEC_ARGS_TRUNCATED;
		count(PG_STAT_ARGS_TRUNCATED);
	}
	off = clamp(off, PG_PATH_MAX);
	len = clamp(len, PG_ARGS_MAX);
	if (bpf_probe_read_user(&s->rec[sizeof(*e) + off], len, (void *)arg_start)) {
		e->flags |= PG_EXEC_ARGS_FAULT;
		count(PG_STAT_ARGS_FAULT);
		len = 0;
	}
	e->args_len = len;
	off += len;

	size = fill_tail(task, s, e, off, PG_WALK_TP);
	header(&e->hdr, PG_REC_EXEC, size, now);

	entry = &s->entry;
	__builtin_memset(entry, 0, sizeof(*entry));
	entry->key = e->key;
	entry->parent = e->parent;
	entry->flags = e->flags;
	fill_hashes(task, s, e, entry, PG_WALK_TP);
	if (bpf_map_update_elem(&pg_execs, &e->key.pid, entry, BPF_ANY))
		count(PG_STAT_EXECS_FULL);

	if (bpf_ringbuf_output(&pg_events, e, size & PG_REC_MASK, wakeup_flags()))
		count(PG_STAT_EXEC_DROP);
	else
		count(PG_STAT_EXEC);
	enforce_exec(task, s, e->path_len);
	return 0;
}

/*
 * sched_process_fork fires in the parent once the child is fully set up and
 * hashed but before it first runs, so the child's entry exists before it can
 * exec or fork. Threads (CLONE_THREAD) are skipped: they share the process
 * identity. The child's identity is {tgid, start_time} until it execs.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct pg_exec_entry entry = {}, *pent;
	struct pg_fork_event *e;
	__u32 ptgid;
	__u32 pid = BPF_CORE_READ(child, pid);
	__u32 tgid = BPF_CORE_READ(child, tgid);
	__u32 flags = 0;

	if (pid != tgid)
		return 0;

	entry.key.pid = tgid;
	entry.key.ktime = BPF_CORE_READ(child, start_time);
	if (lookup_key(parent, &entry.parent))
		flags |= PG_FORK_PARENT_GUESSED;
	/* The child runs its parent's image: same binary; its parent binary is the forking one. */
	ptgid = BPF_CORE_READ(parent, tgid);
	pent = bpf_map_lookup_elem(&pg_execs, &ptgid);
	if (pent) {
		entry.bin_hash = pent->bin_hash;
		entry.name_hash = pent->name_hash;
		entry.pbin_hash = pent->bin_hash;
		entry.pname_hash = pent->name_hash;
	}
	if (self_tgid && BPF_CORE_READ(parent, tgid) == self_tgid)
		flags |= PG_FORK_SELF;
	entry.flags = flags;
	/* BPF_ANY: a reused tgid replaces whatever stale entry it had. */
	if (bpf_map_update_elem(&pg_execs, &tgid, &entry, BPF_ANY))
		count(PG_STAT_EXECS_FULL);

	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (!e) {
		count(PG_STAT_FORK_DROP);
		return 0;
	}
	header(&e->hdr, PG_REC_FORK, sizeof(*e), bpf_ktime_get_ns());
	e->key = entry.key;
	e->parent = entry.parent;
	e->pid = tgid;
	e->tid = pid;
	e->ppid = BPF_CORE_READ(child, real_parent, tgid);
	e->flags = flags;
	e->start_time = entry.key.ktime;
	bpf_ringbuf_submit(e, wakeup_flags());
	count(PG_STAT_FORK);
	return 0;
}

/*
 * sched_process_exit fires in do_exit() of every thread after it decremented
 * signal->live; the thread that brings it to 0 is the last of the process.
 * Only the task argument is used: 6.16+ added a group_dead argument, older
 * kernels don't have it, and tp_btf rejects reads past the real arguments.
 * Two threads racing out of exit_group() can both see live == 0, so the
 * report is claimed by deleting the pg_execs entry: only one delete succeeds.
 * (A thread that looks up after the winner's delete still reports, with a
 * computed key and PG_EXIT_KEY_GUESSED: user space drops exits of dead pids.)
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	struct pg_exec_entry *ent;
	struct pg_exit_event *e;
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	__u32 tgid = BPF_CORE_READ(task, tgid);
	__u32 flags = 0, code;
	struct pg_exec_key key;

	if (BPF_CORE_READ(sig, live.counter) != 0)
		return 0;

	ent = bpf_map_lookup_elem(&pg_execs, &tgid);
	if (ent) {
		key = ent->key;
		if (bpf_map_delete_elem(&pg_execs, &tgid))
			return 0; /* another thread of the group reported it */
	} else {
		pg_task_key(task, &key);
		flags |= PG_EXIT_KEY_GUESSED;
		count(PG_STAT_KEY_MISS);
	}

	/* What wait() will report: the group's code after exit_group()/fatal signal, else the leader's. */
	if (BPF_CORE_READ(sig, flags) & PG_SIGNAL_GROUP_EXIT) {
		code = BPF_CORE_READ(sig, group_exit_code);
		flags |= PG_EXIT_GROUP;
	} else {
		code = BPF_CORE_READ(task, group_leader, exit_code);
	}
	if (self_tgid && tgid == self_tgid)
		flags |= PG_EXIT_SELF;

	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (!e) {
		count(PG_STAT_EXIT_DROP);
		return 0;
	}
	header(&e->hdr, PG_REC_EXIT, sizeof(*e), bpf_ktime_get_ns());
	e->key = key;
	e->pid = tgid;
	e->tid = BPF_CORE_READ(task, pid);
	e->exit_code = code;
	e->flags = flags;
	bpf_ringbuf_submit(e, wakeup_flags());
	count(PG_STAT_EXIT);
	return 0;
}

/*
 * cgroup_mkdir fires when any cgroup directory is created, before a process
 * can be moved into it: the moment a container's cgroup exists. Rules scoped
 * to containers list the cgroup ids known at compile time; a new v2 cgroup is
 * entered here as accepted by them (PG_SET_CGROUP_NEW) in the live
 * generation, so the container's first exec already reaches user space, which
 * holds it until the container's metadata is known. The next policy apply
 * rebuilds the maps from what user space knows. tp_btf: 5.5+.
 */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(handle_cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	struct pg_value_key key = {.dim = PG_DIM_CGROUP};
	const struct pg_filter_config *cfg;
	const struct pg_rules *scoped;
	struct pg_allow_deny ad = {};
	__u32 zero = 0;

	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return 0; /* a v1 hierarchy: the filter keys on v2 ids */
	cfg = bpf_map_lookup_elem(&pg_f_config, &zero);
	if (!cfg)
		return 0;
	key.gen = cfg->gen & 1;
	scoped = pg_set(key.gen, PG_SET_CGROUP_NEW);
	if (!scoped || pg_rules_empty(scoped))
		return 0;
	key.value = BPF_CORE_READ(cgrp, kn, id);
	ad.allow = *scoped;
	bpf_map_update_elem(&pg_f_values, &key, &ad, BPF_NOEXIST);
	return 0;
}

/*
 * Seeds user space and pg_execs with the processes that exist at start: one
 * PG_REC_PROC record per thread-group leader, written to the iterator's seq
 * file (read(2) by user space after the tracepoints are attached, so nothing
 * falls between). An entry already made by a live event wins over the seed.
 * argv is not collected here (current is the reader, not the task: user space
 * reads /proc/PID/cmdline); the record says so with PG_EXEC_NO_ARGS.
 */
SEC("iter/task")
int handle_task_iter(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct process_scratch *s;
	struct pg_exec_entry entry = {}, *ent;
	struct pg_exec_event *e;
	struct file *exe = NULL;
	__u32 off, size, tgid;

	if (!task)
		return 0;
	tgid = BPF_CORE_READ(task, tgid);
	if (BPF_CORE_READ(task, pid) != tgid)
		return 0;
	s = scratch(SCRATCH_ITER);
	if (!s)
		return 0;
	e = (void *)s->rec;
	__builtin_memset(e, 0, sizeof(*e));

	e->flags = PG_EXEC_NO_ARGS;
	if (BPF_CORE_READ(task, flags) & PG_PF_KTHREAD)
		e->flags |= PG_EXEC_KTHREAD;
	else
		exe = BPF_CORE_READ(task, mm, exe_file);
	off = fill_process(task, exe, s, e, PG_WALK_ITER);
	off = clamp(off, PG_PATH_MAX);
	size = fill_tail(task, s, e, off, PG_WALK_ITER);

	ent = bpf_map_lookup_elem(&pg_execs, &tgid);
	if (ent) {
		e->key = ent->key;
		e->parent = ent->parent;
	} else {
		pg_task_key(task, &e->key);
		entry.key = e->key;
		entry.parent = e->parent;
		entry.flags = e->flags;
		fill_hashes(task, s, e, &entry, PG_WALK_ITER);
		/* NOEXIST: a fork or exec racing with the seed is newer and wins. */
		bpf_map_update_elem(&pg_execs, &tgid, &entry, BPF_NOEXIST);
	}
	header(&e->hdr, PG_REC_PROC, size, bpf_ktime_get_ns());

	if (bpf_seq_write(seq, e, size & PG_REC_MASK))
		count(PG_STAT_PROC_DROP);
	else
		count(PG_STAT_PROC);
	return 0;
}
