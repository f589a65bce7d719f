/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Helpers of the syscall-tracepoint sensors (privilege, kernel): the common
 * part of their records.
 */
#ifndef PG_LIB_SYS_H
#define PG_LIB_SYS_H

#include "events.h"
#include "lib/filter.h"
#include "lib/task.h"

/*
 * Fills the common part of a record for the current task: its identity
 * (pg_execs entry, else the computed {tgid, start_time}), the matched rules.
 */
static __always_inline void pg_sys_fill(struct pg_sys_common *c, struct task_struct *task,
					const struct pg_rules *rules, __u32 kind, __u32 syscall,
					long ret)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (pg_identity(task, &c->key))
		c->flags |= PG_SYS_KEY_GUESSED;
	c->rules = *rules;
	c->pid = tgid;
	c->tid = BPF_CORE_READ(task, pid);
	c->kind = kind;
	c->syscall = syscall;
	c->ret = ret;
	if (self_tgid && tgid == self_tgid)
		c->flags |= PG_SYS_SELF;
}

#endif /* PG_LIB_SYS_H */
