// SPDX-License-Identifier: GPL-2.0
// Feature probes: one tiny program per hook kind; src/kernel/features.ts loads
// each alone (autoload off for the rest) and attaches it to learn what this
// kernel allows. None of them does any work when it fires.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

/* Smallest ring buffer the kernel accepts: one page. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} pg_probe_rb SEC(".maps");

/* Syscall tracepoints: the fallback hook for everything (any kernel with BPF). */
SEC("tp/syscalls/sys_enter_getpid")
int probe_tp(void *ctx)
{
	return 0;
}

/* BTF-typed tracepoint (5.5+): typed arguments, no bpf_probe_read needed. */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int probe_raw_tp(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

/* BPF-LSM (5.7+, needs CONFIG_BPF_LSM and "bpf" in the lsm= list): the deny path. */
SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

/* fentry/fexit (5.5+, needs BPF trampolines on this arch). */
SEC("fentry/do_unlinkat")
int BPF_PROG(probe_fentry, int dfd, struct filename *name)
{
	return 0;
}

SEC("fexit/do_unlinkat")
int BPF_PROG(probe_fexit, int dfd, struct filename *name, long ret)
{
	return 0;
}

SEC("kprobe/do_unlinkat")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

/*
 * bpf_override_return needs CONFIG_BPF_KPROBE_OVERRIDE (absent on most
 * distribution kernels): the verifier rejects the helper, so load fails.
 */
SEC("kprobe/security_file_open")
int probe_override(struct pt_regs *ctx)
{
	if (bpf_get_current_pid_tgid() == 0)
		bpf_override_return(ctx, 0);
	return 0;
}

/* cgroup sock_addr hook (4.17+): network deny without LSM. 1 = allow. */
SEC("cgroup/connect4")
int probe_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sock_create")
int probe_sock(struct bpf_sock *ctx)
{
	return 1;
}

SEC("xdp")
int probe_xdp(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* BPF ring buffer (5.8+). */
SEC("tp/syscalls/sys_enter_getpid")
int probe_ringbuf(void *ctx)
{
	__u64 *slot = bpf_ringbuf_reserve(&pg_probe_rb, sizeof(*slot), 0);

	if (slot)
		bpf_ringbuf_discard(slot, 0);
	return 0;
}

/* bpf_send_signal (5.3+): enforcement fallback, kill from a syscall tracepoint. */
SEC("tp/syscalls/sys_enter_getpid")
int probe_signal(void *ctx)
{
	/* pid 0 (idle task) never calls getpid: the helper is verified, never run. */
	if ((__u32)bpf_get_current_pid_tgid() == 0)
		bpf_send_signal(9);
	return 0;
}

/* Task iterator (5.8+): /proc-free process table bootstrap. */
SEC("iter/task")
int probe_iter(struct bpf_iter__task *ctx)
{
	return 0;
}
