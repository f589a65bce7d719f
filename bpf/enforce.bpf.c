// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Enforcement on kernels without BPF-LSM (and alongside it): deny socket
 * operations in cgroup sock_addr / sock hooks, and watch for processes
 * aiming at the agent. Decisions come from the shared policy filter maps
 * (lib/filter.h) and pg_f_actions (lib/enforce.h).
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
#include "lib/task.h"
#include "lib/enforce.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PG_AF_INET 2
#define PG_AF_INET6 10

/* Anchor for BTF: the enforcement types reach src/generated/records.ts through this object. */
const volatile struct {
	enum pg_enforce_backend backend;
	enum pg_enforce_flag flag;
	enum pg_enforce_limits limits;
	enum pg_tamper_kind tamper_kind;
	struct pg_enforce_count count;
	struct pg_tamper_event tamper;
	struct pg_enforce_event enforce; /* last: it ends in a flexible array */
} pg_enforce_anchor __attribute__((unused));

/* ---- network: cgroup sock_addr hooks ---------------------------------- */

/*
 * One cgroup sock_addr hook: the rules for `kind` that accept this process,
 * then the port and address (the remote end's for connect and sendmsg, the
 * local end's for bind). Returning 0 makes connect()/bind()/sendmsg() fail
 * with EPERM in the caller, which keeps running. The hook runs before the
 * kernel acts on the address (the address is the one the call uses, copied
 * into kernel memory: TOCTOU-safe). Attached to the cgroup2 root, so every
 * process of the host is covered (4.17+; connect6 etc. alike).
 */
static __always_inline int sock_addr(struct bpf_sock_addr *ctx, __u32 kind, __u32 backend, int v6)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct enf_decision *d;
	struct pg_enforce_event *e;
	struct pg_filter f;
	__u8 addr[16] = {};
	__u32 family = v6 ? PG_AF_INET6 : PG_AF_INET, flags;
	__u16 port = bpf_ntohs(ctx->user_port);

	if (pg_filter_begin(&f, kind))
		return 1;
	if (v6) {
		addr[0] = 0; /* the verifier wants 4-byte reads of user_ip6 */
		*(__u32 *)&addr[0] = ctx->user_ip6[0];
		*(__u32 *)&addr[4] = ctx->user_ip6[1];
		*(__u32 *)&addr[8] = ctx->user_ip6[2];
		*(__u32 *)&addr[12] = ctx->user_ip6[3];
		/* An IPv4-mapped address is matched as the IPv4 address it is. */
		if (!(addr[0] | addr[1] | addr[2] | addr[3] | addr[4] | addr[5] | addr[6] |
		      addr[7] | addr[8] | addr[9]) &&
		    addr[10] == 0xff && addr[11] == 0xff) {
			family = PG_AF_INET;
			__builtin_memmove(addr, &addr[12], 4);
			__builtin_memset(&addr[4], 0, 12);
		}
	} else {
		*(__u32 *)&addr[0] = ctx->user_ip4;
	}
	if (pg_filter_and_set(&f, PG_SET_WILD + PG_DIM_PATH) || pg_filter_port(&f, port) ||
	    pg_filter_addr(&f, family, addr))
		return 1;
	if (!(d = pg_enf_decide(&f, PG_ENF_CAN_DENY | PG_ENF_KILL_AS_DENY)))
		return 1;
	flags = pg_enf_deny_flags(d);

	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (e) {
		pg_enf_fill(e, task, d, kind, backend, flags, sizeof(*e));
		e->family = family;
		e->port = port;
		e->protocol = ctx->protocol;
		e->path_len = 0;
		e->_pad0 = 0;
		__builtin_memcpy(e->addr, addr, 16);
		bpf_ringbuf_submit(e, wakeup_flags());
	}
	return d->deny ? 0 : 1;
}

SEC("cgroup/connect4")
int handle_connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_CONNECT, PG_ENF_CONNECT4, 0);
}

SEC("cgroup/connect6")
int handle_connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_CONNECT, PG_ENF_CONNECT6, 1);
}

SEC("cgroup/bind4")
int handle_bind4(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_BIND, PG_ENF_BIND4, 0);
}

SEC("cgroup/bind6")
int handle_bind6(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_BIND, PG_ENF_BIND6, 1);
}

/* UDP sendmsg()/sendto() with a destination (unconnected sockets): DNS and other datagrams. */
SEC("cgroup/sendmsg4")
int handle_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_SEND, PG_ENF_SENDMSG4, 0);
}

SEC("cgroup/sendmsg6")
int handle_sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr(ctx, PG_KIND_NET_SEND, PG_ENF_SENDMSG6, 1);
}

/*
 * cgroup/sock_create (4.10+): socket(AF_INET*) itself fails with EPERM for a
 * process a rule cuts off the network entirely — a rule that denies both
 * network.connect and network.send with no port or address selector. Such a
 * process never gets an inet socket, so no later hook is needed for it.
 */
SEC("cgroup/sock_create")
int handle_sock_create(struct bpf_sock *ctx)
{
	struct task_struct *task;
	struct enf_decision *d;
	struct pg_enforce_event *e;
	const struct pg_rules *lookup;
	struct pg_filter f;
	__u32 flags, family = ctx->family;

	if (family != PG_AF_INET && family != PG_AF_INET6)
		return 1;
	task = bpf_get_current_task_btf();
	if (pg_filter_begin(&f, PG_KIND_NET_CONNECT))
		return 1;
	if (pg_filter_and_set(&f, PG_SET_KIND + PG_KIND_NET_SEND) ||
	    pg_filter_and_set(&f, PG_SET_WILD + PG_DIM_PORT) ||
	    pg_filter_and_set(&f, PG_SET_WILD + PG_DIM_ADDR) ||
	    pg_filter_and_set(&f, PG_SET_WILD + PG_DIM_PATH))
		return 1;
	/*
	 * WILD only says "no `in` list": a rule with only `notIn` ports or
	 * addresses (default-deny egress: "every peer but these") still depends
	 * on the peer, and must be left to connect/sendmsg.
	 */
	lookup = pg_set(f.gen, PG_SET_LOOKUP + PG_DIM_PORT);
	if (lookup)
		pg_rules_andnot(&f.rules, lookup);
	lookup = pg_set(f.gen, PG_SET_LOOKUP + PG_DIM_ADDR);
	if (lookup)
		pg_rules_andnot(&f.rules, lookup);
	if (pg_rules_empty(&f.rules))
		return 1;
	if (!(d = pg_enf_decide(&f, PG_ENF_CAN_DENY | PG_ENF_KILL_AS_DENY)))
		return 1;
	flags = pg_enf_deny_flags(d);
	e = bpf_ringbuf_reserve(&pg_events, sizeof(*e), 0);
	if (e) {
		pg_enf_fill(e, task, d, PG_KIND_NET_CONNECT, PG_ENF_SOCK_CREATE, flags, sizeof(*e));
		e->family = family;
		e->port = 0;
		e->protocol = ctx->protocol;
		e->path_len = 0;
		e->_pad0 = 0;
		__builtin_memset(e->addr, 0, 16);
		bpf_ringbuf_submit(e, wakeup_flags());
	}
	return d->deny ? 0 : 1;
}

/*
 * Kill and signal actions on exec and open run in the sensors' own hooks
 * (handle_exec in process.bpf.c, handle_exit_open* in file.bpf.c): one pass
 * per hook, the path walked and the identity filled once (lib/enforce.h).
 */

/* ---- self-protection: detect -------------------------------------------- */

/*
 * signal_generate (tp_btf, 5.5+) fires for every signal sent, with the
 * target task: a fatal or stopping signal aimed at the agent by another
 * process is reported (kill -9 cannot be refused without BPF-LSM
 * task_kill; the report goes out before the agent dies, and pinned
 * enforcement keeps running with --keep-enforcing).
 */
SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *t,
	     int group, int result)
{
	__u32 target = BPF_CORE_READ(t, tgid);
	__u32 me = bpf_get_current_pid_tgid() >> 32;

	if (!self_tgid || target != self_tgid || me == self_tgid)
		return 0;
	/* SIGINT 2, SIGKILL 9, SIGTERM 15, SIGSTOP 19: the ones that stop the agent. */
	if (sig != 2 && sig != 9 && sig != 15 && sig != 19)
		return 0;
	tamper(PG_TAMPER_SIGNAL, sig, target, 0, result, NULL, 0);
	return 0;
}

/* bpf() commands that take or drop a handle on someone's objects (include/uapi/linux/bpf.h). */
#define PG_BPF_PROG_DETACH 9
#define PG_BPF_OBJ_GET 7
#define PG_BPF_LINK_DETACH 34

/*
 * bpf() by another process that opens a pinned object under our pin
 * directory (OBJ_GET: the first step to unpin-by-replace or to read our
 * maps) or detaches programs. The path is user memory: good enough for an
 * alert, not for a decision (the LSM path decides on kernel objects).
 */
SEC("tracepoint/syscalls/sys_enter_bpf")
int handle_enter_bpf(struct trace_event_raw_sys_enter *ctx)
{
	__u32 cmd = ctx->args[0], me = bpf_get_current_pid_tgid() >> 32;
	const char *pathname = NULL;
	char buf[64] = {};
	union bpf_attr *attr;
	__u32 i;

	if (!self_tgid || me == self_tgid)
		return 0;
	if (cmd == PG_BPF_PROG_DETACH || cmd == PG_BPF_LINK_DETACH) {
		tamper(PG_TAMPER_BPF, 0, self_tgid, cmd, 0, NULL, 0);
		return 0;
	}
	if (cmd != PG_BPF_OBJ_GET || !pin_prefix_len)
		return 0;
	attr = (union bpf_attr *)ctx->args[1];
	if (bpf_probe_read_user(&pathname, sizeof(pathname), &attr->pathname))
		return 0;
	if (bpf_probe_read_user_str(buf, sizeof(buf), pathname) <= 0)
		return 0;
	for (i = 0; i < sizeof(buf); i++) {
		if (i >= pin_prefix_len)
			break;
		if (buf[i] != pin_prefix[i])
			return 0;
	}
	tamper(PG_TAMPER_BPF, 0, self_tgid, cmd, 0, pathname, 0);
	return 0;
}
