/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * File descriptors to kernel objects: the struct file an fd names in a task's
 * table (task->files->fdt->fd[fd]) and the directory a *at() call's dirfd
 * names. Reads kernel memory only, so what a hook reports is what the kernel
 * uses (or, at sys_enter, what it is about to use), not what user memory says.
 */
#ifndef PG_LIB_FD_H
#define PG_LIB_FD_H

#define PG_AT_FDCWD -100 /* include/uapi/linux/fcntl.h */

/*
 * The struct file of fd in task's table, NULL when out of range or closed.
 * Unlocked like /proc's fd walk from BPF: the table can change under us, but
 * struct file and fdtable are RCU-freed and a tracepoint runs in an RCU
 * read-side section, so the worst is a stale answer, never a bad pointer.
 */
static __always_inline struct file *pg_fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (fd < 0 || !fdt)
		return NULL;
	if ((__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* The directory a dirfd names: the cwd (task->fs->pwd) for AT_FDCWD, else the fd's f_path. */
static __always_inline const struct path *pg_dirfd_path(struct task_struct *task, int dfd)
{
	struct file *file;

	if (dfd == PG_AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		return fs ? &fs->pwd : NULL;
	}
	file = pg_fd_file(task, dfd);
	return file ? &file->f_path : NULL;
}

#endif /* PG_LIB_FD_H */
