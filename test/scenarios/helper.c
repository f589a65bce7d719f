// SPDX-License-Identifier: Apache-2.0
// Scenario helper, compiled at test time: one attacker primitive per mode
// (ptrace attach, user namespace, capset as non-root (after dropping to nobody,
// or `raise` from file capabilities), setuid 0 as non-root,
// bpf() program load, finit_module of a file). Every mode undoes what it did.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

/* Attaches to a child `sleep` with PTRACE_ATTACH, then detaches and kills it. */
static int do_ptrace(void)
{
	pid_t child = fork();
	if (child < 0)
		return perror("fork"), 1;
	if (child == 0) {
		execl("/bin/sleep", "sleep", "5", (char *)NULL);
		_exit(127);
	}
	usleep(100 * 1000);
	int rc = 0;
	if (ptrace(PTRACE_ATTACH, child, 0, 0) != 0) {
		perror("ptrace");
		rc = 1;
	} else {
		waitpid(child, NULL, __WALL);
		ptrace(PTRACE_DETACH, child, 0, 0);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return rc;
}

/* Becomes nobody while keeping the permitted capabilities (effective is cleared). */
static int drop_to_nobody(void)
{
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
		return perror("prctl"), 1;
	if (setresgid(NOBODY, NOBODY, NOBODY) != 0 || setresuid(NOBODY, NOBODY, NOBODY) != 0)
		return perror("setresuid"), 1;
	return 0;
}

/* As nobody, raises CAP_SETUID (and CAP_SYS_ADMIN) from permitted into effective. */
static int raise_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return perror("capget"), 1;
	data[0].effective |= (1u << CAP_SETUID) | (1u << CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &hdr, data) != 0)
		return perror("capset"), 1;
	return 0;
}

static int do_capset(void)
{
	return drop_to_nobody() || raise_caps();
}

static int do_setuid(void)
{
	if (drop_to_nobody() || raise_caps())
		return 1;
	if (setuid(0) != 0)
		return perror("setuid"), 1;
	return 0;
}

static int do_userns(void)
{
	if (unshare(CLONE_NEWUSER) != 0)
		return perror("unshare"), 1;
	return 0;
}

/* Loads (and closes) a two-instruction socket filter: r0 = 0; exit. */
static int do_bpf(void)
{
	struct bpf_insn insns[2];
	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[1].code = BPF_JMP | BPF_EXIT;
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	attr.insn_cnt = 2;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.license = (uint64_t)(uintptr_t) "GPL";
	strncpy(attr.prog_name, "pg_scenario", sizeof(attr.prog_name) - 1);
	long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (fd < 0)
		return perror("bpf"), 1;
	close((int)fd);
	return 0;
}

/* finit_module of a file that is not a module: the kernel refuses it; the attempt is the behaviour. */
static int do_module(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return perror("open"), 1;
	long rc = syscall(SYS_finit_module, fd, "", 0);
	int err = errno;
	close(fd);
	if (rc == 0)
		return fprintf(stderr, "finit_module unexpectedly succeeded\n"), 1;
	fprintf(stderr, "finit_module: %s (expected)\n", strerror(err));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s ptrace|capset|raise|setuid|userns|bpf|module FILE\n", argv[0]);
		return 2;
	}
	const char *m = argv[1];
	if (!strcmp(m, "ptrace"))
		return do_ptrace();
	if (!strcmp(m, "capset"))
		return do_capset();
	if (!strcmp(m, "raise"))
		return raise_caps();
	if (!strcmp(m, "setuid"))
		return do_setuid();
	if (!strcmp(m, "userns"))
		return do_userns();
	if (!strcmp(m, "bpf"))
		return do_bpf();
	if (!strcmp(m, "module") && argc > 2)
		return do_module(argv[2]);
	fprintf(stderr, "unknown mode %s\n", m);
	return 2;
}
