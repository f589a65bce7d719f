/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Sockets seen from the kernel's side: a task's fd → struct file → struct
 * socket → struct sock, and the addresses, ports and unix paths the kernel
 * holds in a sock. Everything here reads kernel memory, never the caller's.
 */
#ifndef PG_LIB_SOCK_H
#define PG_LIB_SOCK_H

#include "events.h"

#define PG_AF_UNIX 1
#define PG_AF_INET 2
#define PG_AF_INET6 10
#define PG_IPPROTO_UDP 17
#define PG_IPPROTO_UDPLITE 136
#define PG_S_IFMT 00170000 /* include/uapi/linux/stat.h */
#define PG_S_IFSOCK 0140000
/* Buffer for a unix path: PG_UNIX_PATH_MAX rounded up to a power of two, so indexes can be masked. */
#define PG_UNIX_PATH_BUF 128

/*
 * The sock behind `fd` in `task`'s fd table, or NULL when fd is not an open
 * socket. A socket file is recognised by its sockfs inode (S_IFSOCK) and by
 * its struct socket pointing back at the file: an O_PATH descriptor of a
 * socket's filesystem node also has S_IFSOCK but no struct socket.
 * Another thread may close the fd meanwhile; the reads are probe reads, so
 * the worst case is a NULL or a stale sock, never a fault.
 */
static __always_inline struct sock *pg_sock_of_fd(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;
	struct socket *sock;

	if (fd < 0 || !fdt || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & PG_S_IFMT) != PG_S_IFSOCK)
		return NULL;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != file)
		return NULL;
	return BPF_CORE_READ(sock, sk);
}

/*
 * Family, protocol, type, network namespace, and for inet/inet6 the bound
 * (rcv_saddr, num) and connected (daddr, dport) ends of a sock into a record.
 * The local port is skc_num, or inet_sport when a failed TCP connect already
 * released the port (inet_put_port zeroes skc_num, not inet_sport).
 */
static __always_inline void pg_sock_read(struct sock *sk, struct pg_net_event *e)
{
	struct inet_sock *inet = (struct inet_sock *)sk;
	__u16 port;

	e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->protocol = BPF_CORE_READ(sk, sk_protocol);
	e->type = BPF_CORE_READ(sk, sk_type);
	e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (e->family == PG_AF_INET) {
		bpf_core_read(e->local_addr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->remote_addr, 4, &sk->__sk_common.skc_daddr);
	} else if (e->family == PG_AF_INET6) {
		bpf_core_read(e->local_addr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->remote_addr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return;
	}
	port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!port)
		port = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	e->local_port = port;
	e->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/*
 * The name a unix sock is bound to (unix_sk(sk)->addr) into dst (room for
 * PG_UNIX_PATH_MAX bytes); returns its length. Filesystem names lose the NUL
 * the kernel counts in addr->len; abstract names keep their leading NUL.
 * dst must hold PG_UNIX_PATH_BUF bytes.
 */
static __always_inline __u32 pg_unix_path(struct sock *sk, char *dst, __u32 *flags)
{
	struct unix_address *addr = BPF_CORE_READ((struct unix_sock *)sk, addr);
	int raw;
	__u64 len; /* 64-bit: a 32-bit clamp leaves the verifier without a bound for the read */

	if (!addr)
		return 0;
	raw = BPF_CORE_READ(addr, len) - (int)sizeof(__u16); /* minus sun_family */
	if (raw <= 0)
		return 0;
	len = raw;
	if (len > PG_UNIX_PATH_MAX) {
		len = PG_UNIX_PATH_MAX;
		*flags |= PG_NET_PATH_TRUNCATED;
	}
	if (bpf_core_read(dst, len, &addr->name[0].sun_path))
		return 0;
	if (dst[0] && !dst[(len - 1) & (PG_UNIX_PATH_BUF - 1)])
		len--;
	return len;
}

#endif /* PG_LIB_SOCK_H */
