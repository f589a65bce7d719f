/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Credentials of a task into a pg_exec_event: ids, audit login ids, capabilities. */
#ifndef PG_LIB_CREDS_H
#define PG_LIB_CREDS_H

#include "events.h"

/*
 * kernel_cap_t is { u64 val } since 6.3 and { u32 cap[2] } before: both are 8
 * bytes with the low word first, so an 8-byte read at the CO-RE-relocated
 * field offset gives the same u64 mask on every kernel.
 */
#define pg_read_caps(dst, cred, field) bpf_core_read(dst, 8, &(cred)->field)

/* Reads the objective credentials (real_cred: what /proc/PID/status shows). */
static __always_inline void pg_creds_fill(struct task_struct *task, struct pg_exec_event *e)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

	e->uid = BPF_CORE_READ(cred, uid.val);
	e->gid = BPF_CORE_READ(cred, gid.val);
	e->euid = BPF_CORE_READ(cred, euid.val);
	e->egid = BPF_CORE_READ(cred, egid.val);
	e->suid = BPF_CORE_READ(cred, suid.val);
	e->sgid = BPF_CORE_READ(cred, sgid.val);
	e->fsuid = BPF_CORE_READ(cred, fsuid.val);
	e->fsgid = BPF_CORE_READ(cred, fsgid.val);
	pg_read_caps(&e->cap_effective, cred, cap_effective);
	pg_read_caps(&e->cap_permitted, cred, cap_permitted);
	pg_read_caps(&e->cap_inheritable, cred, cap_inheritable);
	/* loginuid/sessionid exist only with CONFIG_AUDIT; (u32)-1 means unset, as in /proc. */
	e->loginuid = (__u32)-1;
	e->sessionid = (__u32)-1;
	if (bpf_core_field_exists(task->loginuid)) {
		e->loginuid = BPF_CORE_READ(task, loginuid.val);
		e->sessionid = BPF_CORE_READ(task, sessionid);
	}
}

#endif /* PG_LIB_CREDS_H */
