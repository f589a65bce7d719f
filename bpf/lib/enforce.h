/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Enforcement decisions shared by every hook that can act: the process
 * sensor's exec hook and the file sensor's open hooks (kill/signal in the
 * same pass that observes), bpf/enforce.bpf.c (cgroup deny, self-protection)
 * and bpf/enforce_lsm.bpf.c (BPF-LSM deny): after the policy filter
 * (lib/filter.h) left some rules, read each one's pg_f_actions entry of the
 * same generation and decide what to do, count it per rule, and report it.
 * The action map is written by the policy compiler; switching a policy
 * between enforce and monitor rewrites `monitor` there with the generation
 * flip, so a hook sees the new mode at once, without a reload.
 */
#ifndef PG_LIB_ENFORCE_H
#define PG_LIB_ENFORCE_H

#include "events.h"
#include "policy.h"
#include "lib/maps.h"
#include "lib/filter.h"
#include "lib/task.h"

#define PG_SIGKILL 9
#define PG_EPERM 1

/* Pin directory prefix (e.g. "/sys/fs/bpf/peregrine"): bpf() OBJ_GET or unlink under it is tampering. */
const volatile char pin_prefix[64] = {};
const volatile __u32 pin_prefix_len = 0;
/* Self-protection: 1 = deny (where the kernel allows: BPF-LSM), 0 = detect and alert only. */
const volatile __u32 guard_deny = 0;

/* Per rule slot, per CPU: actions taken and would-be actions (monitor mode). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_RULE_SLOTS);
	__type(key, __u32); /* rule slot */
	__type(value, struct pg_enforce_count);
} pg_enf_counts SEC(".maps");

/* The verdict over the rules left by the filter (per-CPU, see lib/walk.h). */
struct enf_decision {
	struct pg_rules rules; /* the filter's result */
	__u32 gen; /* the filter's generation */
	__u32 _pad;
	struct pg_rules acted; /* rules whose action is taken or counted */
	struct pg_rules would; /* of those, monitor-mode ones */
	__u32 deny; /* some enforcing rule asks deny (or kill where only deny is possible) */
	__u32 kill; /* some enforcing rule asks kill */
	__u32 signal; /* some enforcing rule asks this signal (the last one seen) */
	__u32 would_action; /* strongest would-be action */
	__u32 mode; /* enum pg_enf_mode: what the hook can do */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_decision);
} pg_enf_dec SEC(".maps");

/* A bpf_loop() context: the decision, the same pointer at every iteration. */
struct enf_ctx {
	struct enf_decision *d;
};

/* What a hook can do; each backend owns the actions it can take and ignores the rest. */
enum pg_enf_mode {
	PG_ENF_CAN_DENY = 1 << 0, /* fail the operation (cgroup, LSM) */
	PG_ENF_CAN_SIGNAL = 1 << 1, /* bpf_send_signal (tracing programs) */
	/* kill where signals are impossible: deny instead (cgroup hooks; attested "degraded") */
	PG_ENF_KILL_AS_DENY = 1 << 2,
};

static __always_inline void pg_rules_set(struct pg_rules *r, __u32 slot)
{
	r->w[(slot >> 6) & (PG_RULE_WORDS - 1)] |= 1ULL << (slot & 63);
}

static __always_inline __u32 pg_enf_rank(__u32 action)
{
	/* kill > deny > signal: the strongest action names the record */
	return action == PG_ACTION_KILL ? 3 : action == PG_ACTION_DENY ? 2 : action ? 1 : 0;
}

static long pg_enf_step(__u32 i, void *ctx)
{
	struct enf_decision *d = ((struct enf_ctx *)ctx)->d;
	const struct pg_rule_action *a;
	struct pg_enforce_count *c;
	__u32 slot = i & (PG_RULE_SLOTS - 1), key, act;

	if (!((d->rules.w[(slot >> 6) & (PG_RULE_WORDS - 1)] >> (slot & 63)) & 1))
		return 0;
	key = (d->gen & 1) * PG_RULE_SLOTS + slot;
	a = bpf_map_lookup_elem(&pg_f_actions, &key);
	if (!a)
		return 0;
	act = a->action;
	/* A hook that cannot fail the operation ignores deny rules (another backend owns them). */
	if (act == PG_ACTION_DENY && !(d->mode & PG_ENF_CAN_DENY))
		return 0;
	/*
	 * kill and signal belong to the signalling hooks; a cgroup hook turns
	 * kill into deny (the caller gets EPERM), an LSM hook leaves them to
	 * the tracepoints (one record per operation).
	 */
	if (act == PG_ACTION_KILL && !(d->mode & PG_ENF_CAN_SIGNAL))
		act = (d->mode & PG_ENF_KILL_AS_DENY) ? PG_ACTION_DENY : PG_ACTION_AUDIT;
	if (act == PG_ACTION_SIGNAL && !(d->mode & PG_ENF_CAN_SIGNAL))
		act = PG_ACTION_AUDIT;
	if (act == PG_ACTION_AUDIT)
		return 0;
	pg_rules_set(&d->acted, slot);
	c = bpf_map_lookup_elem(&pg_enf_counts, &slot);
	if (a->monitor) {
		pg_rules_set(&d->would, slot);
		if (pg_enf_rank(act) > pg_enf_rank(d->would_action))
			d->would_action = act;
		if (c)
			c->would++;
		return 0;
	}
	if (c)
		c->taken++;
	if (act == PG_ACTION_KILL)
		d->kill = 1;
	else if (act == PG_ACTION_DENY)
		d->deny = 1;
	else
		d->signal = a->signal;
	return 0;
}

/*
 * Decides over f->rules. Returns NULL when nothing is to be done or reported
 * (only audit rules matched). Costs nothing unless some rule matched: the
 * hooks call it only after the filter left rules.
 */
static __always_inline struct enf_decision *pg_enf_decide(const struct pg_filter *f, __u32 mode)
{
	__u32 zero = 0;
	struct enf_decision *d = bpf_map_lookup_elem(&pg_enf_dec, &zero);
	struct enf_ctx c;

	/* Most matches are audit rules: no scan unless some rule left can act. */
	if (!d || pg_rules_disjoint(&f->rules, pg_set(f->gen, PG_SET_ACTING)))
		return NULL;
	__builtin_memset(d, 0, sizeof(*d));
	d->rules = f->rules;
	d->gen = f->gen;
	d->mode = mode;
	c.d = d;
	bpf_loop(PG_RULE_SLOTS, pg_enf_step, &c, 0);
	return pg_rules_empty(&d->acted) ? NULL : d;
}

/* The strongest action taken, or would-be in monitor mode. */
static __always_inline __u32 pg_enf_action(const struct enf_decision *d)
{
	if (d->kill)
		return PG_ACTION_KILL;
	if (d->deny)
		return PG_ACTION_DENY;
	if (d->signal)
		return PG_ACTION_SIGNAL;
	return d->would_action;
}

/*
 * The record flags of a decision in a hook that only denies (cgroup, LSM).
 * No bpf_send_signal call here: cgroup programs may not reference the helper
 * before 6.x kernels ("unknown func bpf_send_signal" on 6.1), even unreached.
 */
static __always_inline __u32 pg_enf_deny_flags(const struct enf_decision *d)
{
	if (d->deny || d->kill)
		return PG_ENF_DENIED;
	return d->signal ? 0 : PG_ENF_MONITOR;
}

/*
 * Sends the signals the decision asks for to the current process (the
 * whole thread group), from tracing hooks only. A signal is delivered on the
 * way back to user space: the operation in progress completes first.
 */
static __always_inline __u32 pg_enf_signal(const struct enf_decision *d)
{
	if (d->kill)
		return bpf_send_signal(PG_SIGKILL) ? PG_ENF_SIGNAL_FAILED : PG_ENF_KILLED;
	if (d->signal)
		return bpf_send_signal(d->signal) ? PG_ENF_SIGNAL_FAILED : PG_ENF_SIGNALLED;
	return PG_ENF_MONITOR;
}

/* Fills the fixed part of an enforcement record (not the network or path parts). */
static __always_inline void pg_enf_fill(struct pg_enforce_event *e, struct task_struct *task,
					const struct enf_decision *d, __u32 kind, __u32 backend,
					__u32 flags, __u32 size)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	header(&e->hdr, PG_REC_ENFORCE, size, bpf_ktime_get_ns());
	if (pg_identity(task, &e->key))
		flags |= PG_ENF_KEY_GUESSED;
	if (self_tgid && tgid == self_tgid)
		flags |= PG_ENF_SELF;
	e->rules = d->acted;
	e->would = d->would;
	e->pid = tgid;
	e->tid = BPF_CORE_READ(task, pid);
	e->kind = kind;
	e->backend = backend;
	e->action = pg_enf_action(d);
	e->flags = flags;
	e->signal = d->kill ? PG_SIGKILL : d->signal;
}

/* An enforcement record with a path: variable-sized, so built here and copied out. */
struct enf_record {
	char rec[sizeof(struct pg_enforce_event) + PG_ENF_PATH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct enf_record);
} pg_enf_rec SEC(".maps");

/*
 * Reports decision d on an operation of `kind` on the file path[0 .. n)
 * (any kernel memory): one PG_REC_ENFORCE record, the one way every hook
 * reports an action on a path (exec, open, LSM file hooks).
 */
static __always_inline void pg_enf_emit_path(struct task_struct *task, const struct enf_decision *d,
					     __u32 kind, __u32 backend, __u32 flags,
					     const char *path, __u32 n)
{
	__u32 zero = 0;
	struct enf_record *r = bpf_map_lookup_elem(&pg_enf_rec, &zero);
	struct pg_enforce_event *e;
	__u64 len = pg_clamp(n, PG_ENF_PATH_MAX - 1);

	if (!r)
		return;
	e = (void *)r->rec;
	__builtin_memset(e, 0, sizeof(*e));
	if (len)
		bpf_probe_read_kernel(e->data, len, path);
	pg_enf_fill(e, task, d, kind, backend, flags, sizeof(*e) + len);
	e->path_len = len;
	if (bpf_ringbuf_output(&pg_events, e, sizeof(*e) + len, wakeup_flags()))
		count(PG_STAT_ENFORCE_DROP);
}

/* Reports someone aiming at the agent or its pinned objects (PG_REC_TAMPER). */
static __always_inline void tamper(__u32 what, __u32 sig, __u32 target, __u32 cmd, __s32 result,
				   const char *user_path, __u32 flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pg_tamper_event *e;
	__u32 tgid = BPF_CORE_READ(task, tgid);

	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (!e)
		return;
	__builtin_memset(e, 0, sizeof(*e));
	header(&e->hdr, PG_REC_TAMPER, sizeof(*e), bpf_ktime_get_ns());
	pg_identity(task, &e->key);
	e->pid = tgid;
	e->tid = BPF_CORE_READ(task, pid);
	e->what = what;
	e->signal = sig;
	e->target = target;
	e->bpf_cmd = cmd;
	e->result = result;
	e->flags = flags;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (user_path)
		bpf_probe_read_user_str(e->path, sizeof(e->path), user_path);
	bpf_ringbuf_submit(e, wakeup_flags());
}

#endif /* PG_LIB_ENFORCE_H */
