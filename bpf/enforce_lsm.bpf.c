// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The BPF-LSM deny path (5.7+, only where the kernel runs with lsm=...,bpf):
 * security hooks that return -EPERM so the operation fails and the process
 * lives. Loaded only when the feature probe says BPF-LSM works; on other
 * kernels deny rules are attested degraded/audit/refused instead. Also the
 * deny half of self-protection (task_kill, bpf, unlink of pinned objects).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "policy.h"
#include "lib/maps.h"
#include "lib/filter.h"
#include "lib/path.h"
#include "lib/task.h"
#include "lib/enforce.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PG_AF_INET 2
#define PG_AF_INET6 10
#define PG_FMODE_READ 0x1
#define PG_FMODE_WRITE 0x2
#define PG_O_CREAT 0100
#define PG_O_TRUNC 01000

/* The path buffer of the deny hooks' walks. */
struct lsm_scratch {
	char path[PG_PATH_BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsm_scratch);
} pg_lsm_scratch SEC(".maps");

static __always_inline struct lsm_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pg_lsm_scratch, &zero);
}

/* Reports decision d on the path s->path[start .. PG_PATH_MAX). */
static __always_inline void emit_path(struct lsm_scratch *s, struct task_struct *task,
				      const struct enf_decision *d, __u32 kind, __u32 backend,
				      __u32 flags, __u32 start)
{
	__u64 at = pg_clamp(start, PG_PATH_MAX);

	pg_enf_emit_path(task, d, kind, backend, flags, &s->path[at & (PG_PATH_MAX - 1)],
			 PG_PATH_MAX - at);
}

/*
 * One path-based deny: the rules of `kind` accepting the process, narrowed
 * by the path (resolved from kernel objects: TOCTOU-safe) and the access.
 * Returns -EPERM when an enforcing deny rule matches.
 */
static __always_inline int deny_path(struct dentry *dentry, struct vfsmount *mnt, __u32 kind,
				     __u32 backend, int access)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct enf_decision *d;
	struct lsm_scratch *s;
	struct fs_struct *fs;
	struct pg_filter f;
	__u32 res = 0, start, flags;

	if (pg_filter_begin(&f, kind))
		return 0;
	if (access >= 0 && pg_filter_access(&f, access))
		return 0;
	s = scratch();
	if (!s)
		return 0;
	fs = BPF_CORE_READ(task, fs);
	start = pg_path_resolve(dentry, mnt, BPF_CORE_READ(fs, root.dentry),
				BPF_CORE_READ(fs, root.mnt), s->path, &res);
	if (pg_filter_path(&f, s->path, PG_PATH_BUF_SIZE - 1, start & (PG_PATH_MAX - 1),
			   PG_PATH_MAX))
		return 0;
	if (!(d = pg_enf_decide(&f, PG_ENF_CAN_DENY)))
		return 0;
	flags = pg_enf_deny_flags(d);
	emit_path(s, task, d, kind, backend, flags, start);
	return d->deny ? -PG_EPERM : 0;
}

/*
 * security_file_open runs in do_dentry_open before the file's ->open and
 * before O_TRUNC is applied (handle_truncate comes after vfs_open): a denied
 * open creates no fd and truncates nothing (an O_CREAT create of a new file
 * has already made the inode, empty).
 */
SEC("lsm/file_open")
int BPF_PROG(handle_file_open, struct file *file, int ret)
{
	__u32 mode, fl, access = 0;

	if (ret)
		return ret;
	mode = BPF_CORE_READ(file, f_mode);
	fl = BPF_CORE_READ(file, f_flags);
	if (mode & PG_FMODE_READ)
		access |= PG_ACCESS_READ;
	if (mode & PG_FMODE_WRITE)
		access |= PG_ACCESS_WRITE;
	if (fl & PG_O_CREAT)
		access |= PG_ACCESS_CREATE;
	if (fl & PG_O_TRUNC)
		access |= PG_ACCESS_TRUNCATE;
	return deny_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			 PG_KIND_FILE_OPEN, PG_ENF_LSM_FILE_OPEN, access);
}

/*
 * security_bprm_check runs before exec's point of no return: execve fails
 * with EPERM and the caller keeps its image (a shell reports 126). The
 * process is still the caller here, so `binaries` selects the caller and
 * `paths` the file about to run.
 */
SEC("lsm/bprm_check_security")
int BPF_PROG(handle_bprm_check, struct linux_binprm *bprm, int ret)
{
	struct file *file = BPF_CORE_READ(bprm, file);

	if (ret || !file)
		return ret;
	return deny_path(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			 PG_KIND_EXEC, PG_ENF_LSM_BPRM, -1);
}

/*
 * security_path_unlink (CONFIG_SECURITY_PATH): before the directory entry is
 * removed. Also the deny half of self-protection: nobody but the agent
 * removes our pins under the pin directory when guard_deny is set.
 */
SEC("lsm/path_unlink")
int BPF_PROG(handle_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	struct vfsmount *mnt = BPF_CORE_READ(dir, mnt);
	__u32 me = bpf_get_current_pid_tgid() >> 32;

	if (ret)
		return ret;
	if (guard_deny && pin_prefix_len && self_tgid && me != self_tgid) {
		struct lsm_scratch *s = scratch();
		struct task_struct *task = bpf_get_current_task_btf();
		struct fs_struct *fs = BPF_CORE_READ(task, fs);
		__u32 res = 0, start, i;
		int inside = 1;

		if (s) {
			start = pg_path_resolve(dentry, mnt, BPF_CORE_READ(fs, root.dentry),
						BPF_CORE_READ(fs, root.mnt), s->path, &res);
			for (i = 0; i < sizeof(pin_prefix); i++) {
				if (i >= pin_prefix_len)
					break;
				if (s->path[(start + i) & (PG_PATH_BUF_SIZE - 1)] !=
				    pin_prefix[i]) {
					inside = 0;
					break;
				}
			}
			if (inside) {
				tamper(PG_TAMPER_BPF, 0, self_tgid, 0, -PG_EPERM, NULL,
				       PG_ENF_DENIED);
				return -PG_EPERM;
			}
		}
	}
	return deny_path(dentry, mnt, PG_KIND_FILE_UNLINK, PG_ENF_LSM_PATH_UNLINK, -1);
}

/* An inet sockaddr (kernel copy) narrowed by port and address; returns 1 when no rule is left. */
static __always_inline int narrow_sockaddr(struct pg_filter *f, struct sockaddr *address,
					   __u16 *port, __u32 *family, __u8 *addr)
{
	__u16 fam = BPF_CORE_READ(address, sa_family);

	if (fam == PG_AF_INET) {
		struct sockaddr_in *in = (void *)address;

		*port = bpf_ntohs(BPF_CORE_READ(in, sin_port));
		bpf_core_read(addr, 4, &in->sin_addr);
	} else if (fam == PG_AF_INET6) {
		struct sockaddr_in6 *in6 = (void *)address;

		*port = bpf_ntohs(BPF_CORE_READ(in6, sin6_port));
		bpf_core_read(addr, 16, &in6->sin6_addr);
		if (!(addr[0] | addr[1] | addr[2] | addr[3] | addr[4] | addr[5] | addr[6] |
		      addr[7] | addr[8] | addr[9]) &&
		    addr[10] == 0xff && addr[11] == 0xff) {
			fam = PG_AF_INET;
			__builtin_memmove(addr, &addr[12], 4);
			__builtin_memset(&addr[4], 0, 12);
		}
	} else {
		return 1;
	}
	*family = fam;
	return pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PATH) || pg_filter_port(f, *port) ||
	       pg_filter_addr(f, fam, addr);
}

static __always_inline int deny_sock(struct sockaddr *address, __u32 kind, __u32 backend)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct enf_decision *d;
	struct pg_enforce_event *e;
	struct pg_filter f;
	__u8 addr[16] = {};
	__u32 family = 0, flags;
	__u16 port = 0;

	if (!address || pg_filter_begin(&f, kind))
		return 0;
	if (narrow_sockaddr(&f, address, &port, &family, addr))
		return 0;
	if (!(d = pg_enf_decide(&f, PG_ENF_CAN_DENY)))
		return 0;
	flags = pg_enf_deny_flags(d);
	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (e) {
		pg_enf_fill(e, task, d, kind, backend, flags, sizeof(*e));
		e->family = family;
		e->port = port;
		e->protocol = 0;
		e->path_len = 0;
		e->_pad0 = 0;
		__builtin_memcpy(e->addr, addr, 16);
		bpf_ringbuf_submit(e, wakeup_flags());
	}
	return d->deny ? -PG_EPERM : 0;
}

/* security_socket_connect: the address is the kernel's copy (move_addr_to_kernel). */
SEC("lsm/socket_connect")
int BPF_PROG(handle_socket_connect, struct socket *sock, struct sockaddr *address, int addrlen,
	     int ret)
{
	if (ret)
		return ret;
	return deny_sock(address, PG_KIND_NET_CONNECT, PG_ENF_LSM_SOCKET_CONNECT);
}

/* security_socket_sendmsg: datagrams with a destination (msg_name, a kernel copy). */
SEC("lsm/socket_sendmsg")
int BPF_PROG(handle_socket_sendmsg, struct socket *sock, struct msghdr *msg, int size, int ret)
{
	if (ret)
		return ret;
	return deny_sock(BPF_CORE_READ(msg, msg_name), PG_KIND_NET_SEND, PG_ENF_LSM_SOCKET_SENDMSG);
}

/*
 * security_task_kill: signals sent by user space (kill, tgkill, ...) to the
 * agent. With guard_deny, SIGKILL/SIGTERM/SIGINT/SIGSTOP from other
 * processes fail with EPERM; every attempt is reported.
 */
SEC("lsm/task_kill")
int BPF_PROG(handle_task_kill, struct task_struct *p, struct kernel_siginfo *info, int sig,
	     const struct cred *cred, int ret)
{
	__u32 me = bpf_get_current_pid_tgid() >> 32;

	if (ret || !guard_deny || !self_tgid || BPF_CORE_READ(p, tgid) != self_tgid ||
	    me == self_tgid)
		return ret;
	if (sig != 2 && sig != 9 && sig != 15 && sig != 19)
		return 0;
	tamper(PG_TAMPER_SIGNAL, sig, self_tgid, 0, -PG_EPERM, NULL, PG_ENF_DENIED);
	return -PG_EPERM;
}

/* security_bpf: with guard_deny, other processes may not detach programs. */
SEC("lsm/bpf")
int BPF_PROG(handle_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	__u32 me = bpf_get_current_pid_tgid() >> 32;

	if (ret || !guard_deny || !self_tgid || me == self_tgid)
		return ret;
	if (cmd != BPF_PROG_DETACH && cmd != BPF_LINK_DETACH)
		return 0;
	tamper(PG_TAMPER_BPF, 0, self_tgid, cmd, -PG_EPERM, NULL, PG_ENF_DENIED);
	return -PG_EPERM;
}
