// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Network sensor: connect, accept, bind, listen, and UDP sends to new peers
 * (DNS), with family, protocol and both ends' addresses and ports read from
 * the kernel socket after the syscall, and the process that did it.
 *
 * Why syscall tracepoints: this kernel has no kprobes/fentry/LSM, and the
 * socket tracepoints do not fit: inet_sock_set_state fires SYN_SENT inside
 * tcp_v4_connect() before inet_hash_connect() picks the source port (local
 * port 0), and SYN_RECV→ESTABLISHED runs in softirq context, not in the
 * acceptor. sys_enter_X/sys_exit_X pairs exist since 4.7 (6.1, 6.12, 6.18
 * alike) and cover every socket family. The enter half runs the cheap part of
 * the policy filter and remembers the fd; the exit half resolves fd → struct
 * file → struct socket → struct sock and reads what the kernel actually used,
 * so a racing thread rewriting the caller's sockaddr cannot change what is
 * reported (TOCTOU-safe). Only where the kernel keeps no copy (the
 * destination of an unconnected UDP send, the address of a failed connect or
 * bind) does the record fall back to the sockaddr read at enter, and says so
 * with PG_NET_REMOTE_USER / PG_NET_LOCAL_USER.
 *
 * Not seen: io_uring socket ops (IORING_OP_CONNECT/ACCEPT/SEND), the 32-bit
 * socketcall(2) multiplexer, and sockets created by the kernel itself.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "policy.h"
#include "lib/filter.h"
#include "lib/sock.h"
#include "lib/task.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Anchors for BTF (see process.bpf.c): the network record and its enums. */
const volatile struct {
	enum pg_record_type type;
	enum pg_net_flag net_flag;
	enum pg_net_limits net_limits;
	enum pg_kind kind;
	enum pg_stat stat;
	struct pg_net_event net; /* last: it ends in a flexible array */
} pg_schema_anchor __attribute__((unused));

/* A syscall between its enter and exit tracepoints: what the exit half needs. */
struct net_pending {
	struct pg_filter f; /* rules left after pg_filter_begin at enter */
	__s32 fd;
	__u16 kind; /* enum pg_kind */
	__u16 ufamily; /* the caller's sockaddr, read at enter; 0 when none */
	__u16 uport; /* host byte order */
	__u16 flags; /* PG_NET_MMSG */
	__u32 _pad;
	__u8 uaddr[16];
};

/*
 * In-flight socket syscalls by pid_tgid (a thread is in one syscall at a
 * time). LRU: a thread that never reaches sys_exit (none known, but cheap to
 * guard) cannot leak an entry forever. Entries live only between enter and
 * exit, so 16384 covers that many threads blocked in connect/accept at once.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct net_pending);
} pg_net_pending SEC(".maps");

/* A peer a process sent UDP to: network.send reports each once per process identity. */
struct net_peer_key {
	struct pg_exec_key key;
	__u8 addr[16];
	__u16 port;
	__u16 family;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct net_peer_key);
	__type(value, __u64); /* ktime of the first send */
} pg_net_peers SEC(".maps");

/*
 * The record is built here (the unix path makes it variable) and copied to
 * the ring buffer: the fixed part, then the path as its data[].
 */
struct net_scratch {
	__u64 rec[(sizeof(struct pg_net_event) + PG_UNIX_PATH_BUF) / sizeof(__u64)];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct net_scratch);
} pg_net_scratch SEC(".maps");

static __always_inline struct pg_net_event *scratch_event(struct net_scratch *s)
{
	return (struct pg_net_event *)s->rec;
}

/* The path buffer: PG_UNIX_PATH_BUF bytes at data[]. */
static __always_inline char *scratch_path(struct net_scratch *s)
{
	return (char *)s->rec + sizeof(struct pg_net_event);
}

/* The syscall's sockaddr (connect, bind, sendto, sendmsg name), parsed for inet/inet6 only. */
static __always_inline void read_user_addr(struct net_pending *p, const void *uaddr, __u64 len)
{
	__u8 buf[28] = {}; /* sizeof(struct sockaddr_in6) */
	__u16 family;

	if (!uaddr || len < 4)
		return;
	if (len > 28)
		len = 28;
	if (bpf_probe_read_user(buf, len, uaddr))
		return;
	family = *(__u16 *)buf;
	if (family == PG_AF_INET && len >= 8) {
		__builtin_memcpy(p->uaddr, &buf[4], 4);
	} else if (family == PG_AF_INET6 && len >= 24) {
		__builtin_memcpy(p->uaddr, &buf[8], 16);
	} else {
		return;
	}
	p->ufamily = family;
	p->uport = ((__u16)buf[2] << 8) | buf[3];
}

/*
 * Enter half: the cheap filter first (kind, binary, parent, uids, cgroup,
 * namespaces, capabilities); only a process some rule may want costs a map
 * update. Returns the pending entry to complete, NULL when filtered.
 */
static __always_inline struct net_pending *enter(struct net_pending *p, __u32 kind, long fd)
{
	if (pg_filter_begin(&p->f, kind)) {
		count(PG_STAT_NET_FILTERED);
		return NULL;
	}
	p->fd = fd;
	p->kind = kind;
	return p;
}

static __always_inline void remember(struct net_pending *p)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (bpf_map_update_elem(&pg_net_pending, &id, p, BPF_ANY))
		count(PG_STAT_NET_PENDING_FULL);
}

/* Takes this thread's pending entry of `kind` (copied out, deleted); 0 when there is none. */
static __always_inline int take(struct net_pending *out, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct net_pending *p = bpf_map_lookup_elem(&pg_net_pending, &id);

	if (!p)
		return 0;
	*out = *p;
	bpf_map_delete_elem(&pg_net_pending, &id);
	return out->kind == kind;
}

static __always_inline int is_v4_mapped(const __u8 *a)
{
	return !(a[0] | a[1] | a[2] | a[3] | a[4] | a[5] | a[6] | a[7] | a[8] | a[9]) &&
	       a[10] == 0xff && a[11] == 0xff;
}

/*
 * Narrows by the event's port and address (inet) or path (unix). The port
 * and address are the remote end's for connect, send and accept (whom the
 * process talks to), the local end's for bind and listen (the only end).
 * An IPv4-mapped IPv6 address is filtered as the IPv4 address it is, so a
 * dual-stack socket cannot slip past a 10.0.0.0/8 rule. A rule constraining
 * ports or addresses never matches a unix socket; one constraining paths
 * never matches an inet socket.
 */
static __always_inline int narrow(struct pg_filter *f, struct net_scratch *s, int remote)
{
	struct pg_net_event *e = scratch_event(s);
	__u8 addr[16] = {};
	__u32 family = e->family;

	if (family == PG_AF_UNIX) {
		if (pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PORT) ||
		    pg_filter_and_set(f, PG_SET_WILD + PG_DIM_ADDR))
			return 1;
		return pg_filter_path(f, scratch_path(s), PG_UNIX_PATH_BUF - 1, 0,
				      e->path_len > PG_UNIX_PATH_MAX ? PG_UNIX_PATH_MAX
								     : e->path_len);
	}
	if (family != PG_AF_INET && family != PG_AF_INET6)
		return pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PORT) ||
		       pg_filter_and_set(f, PG_SET_WILD + PG_DIM_ADDR) ||
		       pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PATH);
	if (pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PATH))
		return 1;
	/* accept: the port is the listening one (a rule "accepts on 22"), the address the peer's. */
	if (pg_filter_port(f, remote && e->kind != PG_KIND_NET_ACCEPT ? e->remote_port
								      : e->local_port))
		return 1;
	__builtin_memcpy(addr, remote ? e->remote_addr : e->local_addr, 16);
	if (family == PG_AF_INET6 && is_v4_mapped(addr)) {
		if (remote)
			e->flags |= PG_NET_V4_MAPPED;
		family = PG_AF_INET;
		__builtin_memmove(addr, &addr[12], 4);
		__builtin_memset(&addr[4], 0, 12);
	}
	return pg_filter_addr(f, family, addr);
}

/* Whether a UDP send to this peer is the process's first (records it when so). */
static __always_inline int first_send(struct pg_net_event *e)
{
	struct net_peer_key k = {};
	__u64 now = e->hdr.ktime;

	k.key = e->key;
	__builtin_memcpy(k.addr, e->remote_addr, 16);
	k.port = e->remote_port;
	k.family = e->family;
	return !bpf_map_update_elem(&pg_net_peers, &k, &now, BPF_NOEXIST);
}

static __always_inline void forget_send(struct pg_net_event *e)
{
	struct net_peer_key k = {};

	k.key = e->key;
	__builtin_memcpy(k.addr, e->remote_addr, 16);
	k.port = e->remote_port;
	k.family = e->family;
	bpf_map_delete_elem(&pg_net_peers, &k);
}

/*
 * Exit half, shared by every kind: reads the sock behind `fd` after the
 * syscall, fills the record, narrows the filter, and submits.
 */
static __always_inline int report(struct net_pending *p, int fd, long ret)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 zero = 0, tgid, kind = p->kind, len = 0;
	int remote = kind == PG_KIND_NET_CONNECT || kind == PG_KIND_NET_SEND ||
		     kind == PG_KIND_NET_ACCEPT;
	struct net_scratch *s;
	struct pg_net_event *e;
	struct sock *sk;
	__u64 size;

	sk = pg_sock_of_fd(task, fd);
	if (!sk) {
		count(PG_STAT_NET_NO_SOCK);
		return 0;
	}
	s = bpf_map_lookup_elem(&pg_net_scratch, &zero);
	if (!s)
		return 0;
	e = scratch_event(s);
	__builtin_memset(e, 0, sizeof(*e));
	e->flags = p->flags;
	pg_sock_read(sk, e);

	if (e->family == PG_AF_UNIX) {
		struct sock *named = sk;

		/* connect/send: the peer's name (the listener's, for a stream connect). */
		if (remote && kind != PG_KIND_NET_ACCEPT)
			named = BPF_CORE_READ((struct unix_sock *)sk, peer);
		if (named)
			len = pg_unix_path(named, scratch_path(s), &e->flags);
		e->path_len = len;
	} else if (p->ufamily && p->ufamily == e->family) {
		/*
		 * The kernel holds no remote for an unconnected UDP send (the
		 * sockaddr is used and dropped) nor for a connect that failed
		 * early; no local for a bind that failed: the caller's sockaddr.
		 */
		if (remote && (kind == PG_KIND_NET_SEND || !e->remote_port)) {
			__builtin_memcpy(e->remote_addr, p->uaddr, 16);
			e->remote_port = p->uport;
			e->flags |= PG_NET_REMOTE_USER;
			count(PG_STAT_NET_ADDR_USER);
		} else if (kind == PG_KIND_NET_BIND && ret < 0) {
			__builtin_memcpy(e->local_addr, p->uaddr, 16);
			e->local_port = p->uport;
			e->flags |= PG_NET_LOCAL_USER;
			count(PG_STAT_NET_ADDR_USER);
		}
	}

	if (narrow(&p->f, s, remote)) {
		count(PG_STAT_NET_FILTERED_SOCK);
		return 0;
	}

	tgid = BPF_CORE_READ(task, tgid);
	if (pg_identity(task, &e->key)) {
		e->flags |= PG_NET_KEY_GUESSED;
		count(PG_STAT_NET_KEY_MISS);
	}
	e->hdr.ktime = bpf_ktime_get_ns();
	if (kind == PG_KIND_NET_SEND && !first_send(e)) {
		count(PG_STAT_NET_SEND_REPEAT);
		return 0;
	}

	e->rules = p->f.rules;
	e->pid = tgid;
	e->tid = BPF_CORE_READ(task, pid);
	e->kind = kind;
	e->ret = ret;
	if (self_tgid && tgid == self_tgid)
		e->flags |= PG_NET_SELF;
	size = sizeof(*e) + (len & (PG_UNIX_PATH_BUF - 1));
	header(&e->hdr, PG_REC_NET, size, e->hdr.ktime);
	if (bpf_ringbuf_output(&pg_events, e, size, wakeup_flags())) {
		count(PG_STAT_NET_DROP);
		if (kind == PG_KIND_NET_SEND)
			forget_send(e); /* not reported: the next send to it may be */
	} else {
		count(PG_STAT_NET);
	}
	return 0;
}

/* Completes the pending syscall of this thread when it is of `kind`. */
static __always_inline int complete(__u32 kind, long ret)
{
	struct net_pending p;

	if (!take(&p, kind))
		return 0;
	return report(&p, p.fd, ret);
}

/*
 * connect(2): after the call the sock holds the route's source address, the
 * autobound source port (inet_hash_connect) and the destination, also for a
 * non-blocking connect that returns -EINPROGRESS and for UDP.
 */
SEC("tracepoint/syscalls/sys_enter_connect")
int handle_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct net_pending p = {};

	if (!enter(&p, PG_KIND_NET_CONNECT, ctx->args[0]))
		return 0;
	read_user_addr(&p, (const void *)ctx->args[1], ctx->args[2]);
	remember(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int handle_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_CONNECT, ctx->ret);
}

/* bind(2): the bound address and port, from the sock; the caller's sockaddr only when bind failed. */
SEC("tracepoint/syscalls/sys_enter_bind")
int handle_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	struct net_pending p = {};

	if (!enter(&p, PG_KIND_NET_BIND, ctx->args[0]))
		return 0;
	read_user_addr(&p, (const void *)ctx->args[1], ctx->args[2]);
	remember(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int handle_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_BIND, ctx->ret);
}

/* listen(2): read at exit, after inet_csk_listen_start() autobound an unbound socket. */
SEC("tracepoint/syscalls/sys_enter_listen")
int handle_enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	struct net_pending p = {};

	if (!enter(&p, PG_KIND_NET_LISTEN, ctx->args[0]))
		return 0;
	remember(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_listen")
int handle_exit_listen(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_LISTEN, ctx->ret);
}

/*
 * accept(2)/accept4(2): the exit alone suffices. The return value is the new
 * fd, already installed in the acceptor's table, whose sock holds both ends
 * of the accepted connection. Failed accepts (EAGAIN of every event loop)
 * are not reported and cost one comparison.
 */
static __always_inline int accepted(long ret)
{
	struct net_pending p = {};

	if (ret < 0)
		return 0;
	if (!enter(&p, PG_KIND_NET_ACCEPT, ret))
		return 0;
	return report(&p, ret, ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int handle_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int handle_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

/*
 * UDP sends (network.send): only inet/inet6 UDP sockets, each peer once per
 * process (pg_net_peers). The destination is the sendto/sendmsg sockaddr
 * when given (user memory, read at enter: the kernel keeps no copy; flagged
 * PG_NET_REMOTE_USER), else the connected peer in the sock. The local port
 * is read at exit, after the first send autobound it.
 */
static __always_inline struct net_pending *enter_send(struct net_pending *p, long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct sock *sk;
	__u16 family, proto;

	if (!enter(p, PG_KIND_NET_SEND, fd))
		return NULL;
	sk = pg_sock_of_fd(task, fd);
	if (!sk)
		return NULL;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	proto = BPF_CORE_READ(sk, sk_protocol);
	if ((family != PG_AF_INET && family != PG_AF_INET6) ||
	    (proto != PG_IPPROTO_UDP && proto != PG_IPPROTO_UDPLITE))
		return NULL;
	return p;
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int handle_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	struct net_pending p = {};

	if (!enter_send(&p, ctx->args[0]))
		return 0;
	read_user_addr(&p, (const void *)ctx->args[4], ctx->args[5]);
	remember(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int handle_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_SEND, ctx->ret);
}

/* sendmsg/sendmmsg: msg_name of the (first) struct user_msghdr; mmsghdr starts with one. */
static __always_inline int enter_sendmsg(long fd, const struct user_msghdr *msg, __u16 flags)
{
	struct net_pending p = {};
	struct user_msghdr m = {};

	if (!enter_send(&p, fd))
		return 0;
	p.flags = flags;
	if (msg && !bpf_probe_read_user(&m, sizeof(m), msg))
		read_user_addr(&p, m.msg_name, m.msg_namelen);
	remember(&p);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int handle_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return enter_sendmsg(ctx->args[0], (const struct user_msghdr *)ctx->args[1], 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int handle_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_SEND, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int handle_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return enter_sendmsg(ctx->args[0], (const struct user_msghdr *)ctx->args[1], PG_NET_MMSG);
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int handle_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return complete(PG_KIND_NET_SEND, ctx->ret);
}
