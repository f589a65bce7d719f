// SPDX-License-Identifier: Apache-2.0
// Virtual-patch exploit helper, compiled at test time: each mode replays one
// exploit's distinguishing system calls without its memory corruption, on
// files of its own (a tmpfs over /usr/bin in a private mount namespace, a
// fresh named cgroup v1 hierarchy, a read-only temp file). Prints what it got.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOBODY 65534

static int fail(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	fflush(stdout);
	return 1;
}

/* A private mount namespace (a "container" for namespaces selectors). */
static int private_ns(void)
{
	if (unshare(CLONE_NEWNS) != 0)
		return fail("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		return fail("make-private");
	return 0;
}

/*
 * Puts a copy of src at /usr/bin/<name> on a tmpfs only this namespace sees.
 * Written under another name and renamed: the write is not the exploit's.
 */
static int stage(const char *src, const char *name)
{
	char dst[256], tmp[256];
	int in, out;
	struct stat st;

	if (private_ns())
		return 1;
	if (mount("tmpfs", "/usr/bin", "tmpfs", 0, "mode=0755") != 0)
		return fail("mount tmpfs");
	snprintf(dst, sizeof(dst), "/usr/bin/%s", name);
	snprintf(tmp, sizeof(tmp), "/usr/bin/.stage-%s", name);
	in = open(src, O_RDONLY);
	if (in < 0 || fstat(in, &st) != 0)
		return fail("open source");
	out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	if (out < 0)
		return fail("create copy");
	if (sendfile(out, in, NULL, st.st_size) != st.st_size)
		return fail("copy");
	close(in);
	close(out);
	if (rename(tmp, dst) != 0)
		return fail("rename copy");
	return 0;
}

/* CVE-2021-4034: pkexec with an empty argv (argc == 0). */
static int do_pkexec(const char *src)
{
	char *argv[] = {NULL};
	char *envp[] = {"pwnkit", "PATH=GCONV_PATH=.", NULL};

	if (stage(src, "pkexec"))
		return 1;
	execve("/usr/bin/pkexec", argv, envp);
	return fail("execve");
}

/* CVE-2021-3156: sudoedit -s with an argument ending in a backslash. */
static int do_sudoedit(const char *src)
{
	char *argv[] = {"sudoedit", "-s", "\\", NULL};
	char *envp[] = {NULL};

	if (stage(src, "sudo"))
		return 1;
	execve("/usr/bin/sudo", argv, envp);
	return fail("execve");
}

/* CVE-2019-5736: O_PATH on /proc/<runc>/exe, runc exits, reopen for writing. */
static int do_runc(const char *src)
{
	char path[64];
	pid_t child;
	int fd, w;

	if (stage(src, "runc"))
		return 1;
	child = fork();
	if (child < 0)
		return fail("fork");
	if (child == 0) {
		execl("/usr/bin/runc", "runc", "5", (char *)NULL);
		_exit(127);
	}
	usleep(200 * 1000);
	snprintf(path, sizeof(path), "/proc/%d/exe", child);
	fd = open(path, O_PATH);
	if (fd < 0)
		return fail("open O_PATH");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	w = open(path, O_WRONLY);
	if (w < 0)
		return fail("reopen for write");
	if (write(w, "#!/bin/sh\n", 10) != 10)
		return fail("write");
	printf("written\n");
	return 0;
}

/* CVE-2022-0492: mount a cgroup v1 hierarchy in a new mount namespace, write its release_agent. */
static int do_release_agent(const char *dir)
{
	char opts[64], path[512];
	const char *how = "cgroup-v1";
	int fd;

	if (private_ns())
		return 1;
	snprintf(opts, sizeof(opts), "none,name=pgvp%d", getpid());
	if (mount("cgroup", dir, "cgroup", 0, opts) != 0) {
		/* No cgroup v1 in this kernel: the same open on a stand-in file. */
		how = "stand-in";
		if (mount("tmpfs", dir, "tmpfs", 0, NULL) != 0)
			return fail("mount");
		snprintf(path, sizeof(path), "%s/release_agent", dir);
		/* created read-only: only the exploit's own open writes it */
		close(open(path, O_CREAT | O_RDONLY, 0644));
	}
	snprintf(path, sizeof(path), "%s/release_agent", dir);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return fail("open release_agent");
	/* An empty agent: harmless on this private hierarchy. */
	if (write(fd, "\n", 1) != 1)
		return fail("write release_agent");
	close(fd);
	printf("written %s\n", how);
	return 0;
}

/* Drops to nobody, then a user and mount namespace: what an unprivileged exploit starts with. */
static int unprivileged_userns(void)
{
	if (setgroups(0, NULL) != 0 || setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
	    setresuid(NOBODY, NOBODY, NOBODY) != 0)
		return fail("drop to nobody");
	/* The uid change made us undumpable: /proc/self/uid_map would stay root's. */
	prctl(PR_SET_DUMPABLE, 1);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
		return fail("unshare user+mount");
	return 0;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(path);
		close(fd);
	}
}

/* CVE-2022-0185: fsopen + fsconfig(FSCONFIG_SET_STRING "source") inside an unprivileged user namespace. */
static int do_fsconfig(void)
{
	int fd;

	if (unprivileged_userns())
		return 1;
	fd = syscall(SYS_fsopen, "ext4", 0);
	if (fd < 0)
		return fail("fsopen");
	if (syscall(SYS_fsconfig, fd, 1 /* FSCONFIG_SET_STRING */, "source", "pgvp", 0) != 0)
		return fail("fsconfig");
	printf("fsconfig ok\n");
	return 0;
}

/* CVE-2023-0386: an overlay mount by an unprivileged user inside its own user namespace. */
static int do_overlay(const char *dir)
{
	char opts[1024], merged[512];

	if (unprivileged_userns())
		return 1;
	write_file("/proc/self/setgroups", "deny");
	write_file("/proc/self/uid_map", "0 65534 1");
	write_file("/proc/self/gid_map", "0 65534 1");
	/* Layers on a tmpfs of this namespace: the upper file system must support tmpfiles. */
	if (mount("tmpfs", dir, "tmpfs", 0, NULL) != 0)
		return fail("mount tmpfs");
	for (const char **d = (const char *[]){"lower", "upper", "work", "merged", NULL}; *d; d++) {
		snprintf(merged, sizeof(merged), "%s/%s", dir, *d);
		if (mkdir(merged, 0755) != 0)
			return fail("mkdir");
	}
	snprintf(opts, sizeof(opts), "lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", dir,
		 dir, dir);
	snprintf(merged, sizeof(merged), "%s/merged", dir);
	if (mount("overlay", merged, "overlay", 0, opts) != 0)
		return fail("mount overlay");
	printf("mounted\n");
	return 0;
}

/* CVE-2022-0847: fill and drain a pipe, splice one byte of a read-only file in, write to the pipe. */
static int do_dirtypipe(const char *file)
{
	static char buf[4096];
	int p[2], fd;
	unsigned int size, i;
	loff_t off = 1;

	fd = open(file, O_RDONLY);
	if (fd < 0 || pipe(p) != 0)
		return fail("open");
	size = fcntl(p[1], F_GETPIPE_SZ);
	for (i = 0; i < size; i += sizeof(buf))
		if (write(p[1], buf, sizeof(buf)) < 0)
			return fail("fill");
	for (i = 0; i < size; i += sizeof(buf))
		if (read(p[0], buf, sizeof(buf)) < 0)
			return fail("drain");
	if (splice(fd, &off, p[1], NULL, 1, 0) != 1)
		return fail("splice");
	if (write(p[1], "PWNED", 5) != 5)
		return fail("write");
	printf("spliced\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "pkexec") && argc == 3)
		return do_pkexec(argv[2]);
	if (!strcmp(argv[1], "sudoedit") && argc == 3)
		return do_sudoedit(argv[2]);
	if (!strcmp(argv[1], "runc") && argc == 3)
		return do_runc(argv[2]);
	if (!strcmp(argv[1], "release-agent") && argc == 3)
		return do_release_agent(argv[2]);
	if (!strcmp(argv[1], "fsconfig"))
		return do_fsconfig();
	if (!strcmp(argv[1], "overlay") && argc == 3)
		return do_overlay(argv[2]);
	if (!strcmp(argv[1], "dirtypipe") && argc == 3)
		return do_dirtypipe(argv[2]);
	fprintf(stderr, "unknown mode\n");
	return 2;
}
