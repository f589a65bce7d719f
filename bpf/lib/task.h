/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Process identity and task-level facts shared by the process programs. */
#ifndef PG_LIB_TASK_H
#define PG_LIB_TASK_H

#include "events.h"
#include "lib/maps.h"

#define PG_SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h, stable since 2.6 */
#define PG_PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/*
 * The identity a process has when no exec of it was seen: {tgid, start time
 * of its thread-group leader}. Deterministic, so the task iterator, a fork
 * handler and a late parent lookup all compute the same key for it.
 */
static __always_inline void pg_task_key(struct task_struct *task, struct pg_exec_key *key)
{
	key->pid = BPF_CORE_READ(task, tgid);
	key->_pad = 0;
	key->ktime = BPF_CORE_READ(task, group_leader, start_time);
}

/*
 * The identity of task's process, the one way every record names it: its
 * pg_execs entry's key, else the computed {tgid, start time}; returns 1 when
 * computed (guessed). The lookup key is on the stack: 6.1 refuses
 * ring-buffer memory as a map key.
 */
static __always_inline int pg_identity(struct task_struct *task, struct pg_exec_key *key)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	struct pg_exec_entry *ent = bpf_map_lookup_elem(&pg_execs, &tgid);

	if (ent) {
		*key = ent->key;
		return 0;
	}
	pg_task_key(task, key);
	return 1;
}

/* cgroup v2 (default hierarchy) id of a task; equals bpf_get_current_cgroup_id() for current. */
static __always_inline __u64 pg_task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

#endif /* PG_LIB_TASK_H */
