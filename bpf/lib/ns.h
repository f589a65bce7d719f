/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Namespace inode numbers of a task (as /proc/PID/ns/<name> shows them) and its namespaced pid. */
#ifndef PG_LIB_NS_H
#define PG_LIB_NS_H

#include "events.h"

static __always_inline void pg_ns_fill(struct task_struct *task, struct pg_exec_event *e)
{
	struct nsproxy *nsp = BPF_CORE_READ(task, nsproxy);
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	/*
	 * The task's own pid namespace is the one at its pid's deepest level
	 * (task_active_pid_ns()), not nsproxy->pid_ns_for_children, which
	 * unshare(CLONE_NEWPID) changes for children only.
	 */
	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]);
	e->nspid = upid.nr;
	e->ns_pid = BPF_CORE_READ(upid.ns, ns.inum);
	e->ns_user = BPF_CORE_READ(task, real_cred, user_ns, ns.inum);
	if (!nsp) /* exiting task: exit_task_namespaces() already ran */
		return;
	e->ns_mnt = BPF_CORE_READ(nsp, mnt_ns, ns.inum);
	e->ns_net = BPF_CORE_READ(nsp, net_ns, ns.inum);
	e->ns_uts = BPF_CORE_READ(nsp, uts_ns, ns.inum);
	e->ns_ipc = BPF_CORE_READ(nsp, ipc_ns, ns.inum);
	e->ns_cgroup = BPF_CORE_READ(nsp, cgroup_ns, ns.inum);
	if (bpf_core_field_exists(nsp->time_ns)) /* 5.6+ */
		e->ns_time = BPF_CORE_READ(nsp, time_ns, ns.inum);
}

#endif /* PG_LIB_NS_H */
