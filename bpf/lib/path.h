/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Full paths resolved in the kernel from a struct path (dentry + vfsmount),
 * the way d_path() does it: walk d_parent to the mount's root, cross to the
 * parent mount through mnt_mountpoint, stop at the task's root. Reads only
 * kernel objects, so the result is what was opened/exec'd, not what user
 * memory claims (TOCTOU-safe), up to concurrent renames, which d_path also races.
 *
 * The name is written backwards into a scratch buffer of 2 * PG_PATH_MAX: the
 * path ends at offset PG_PATH_MAX and starts at the returned offset. Offsets
 * are masked to PG_PATH_MAX - 1 and lengths to PG_NAME_MASK so every store is
 * provably inside the buffer. The walk runs in bpf_loop() (5.17+), one
 * component or one mount crossing per iteration, so depth is bounded by
 * PG_PATH_WALK_MAX rather than by the verifier's instruction budget.
 */
#ifndef PG_LIB_PATH_H
#define PG_LIB_PATH_H

#include "events.h"

#define PG_NAME_MASK 255 /* NAME_MAX: d_name.len never exceeds it */
/* A 4095-byte path has at most 2047 components; add room for mount crossings. */
#define PG_PATH_WALK_MAX (PG_PATH_MAX / 2 + 64)
#define PG_PATH_BUF_SIZE (2 * PG_PATH_MAX)

enum pg_path_result {
	PG_PATH_OK = 0,
	PG_PATH_TRUNCATED = 1 << 0, /* over PG_PATH_MAX or deeper than the walk: kept the tail */
	PG_PATH_DELETED = 1 << 1, /* the leaf dentry is unlinked */
	PG_PATH_ANON = 1 << 2, /* a pseudo dentry with no parent (memfd, anon inode): name only */
	PG_PATH_MEMFD = 1 << 3, /* an anonymous dentry named "memfd:..." */
};

struct pg_path_walk {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct mount *mnt;
	struct dentry *root_dentry;
	struct vfsmount *root_mnt;
	char *buf; /* PG_PATH_BUF_SIZE bytes */
	__s32 pos; /* the path is buf[pos .. PG_PATH_MAX) */
	__u32 result; /* enum pg_path_result */
	__u32 done;
};

static __always_inline struct mount *pg_real_mount(struct vfsmount *vfsmnt)
{
	/* container_of with a CO-RE-relocated offset: struct mount is private to fs/ and moves. */
	return (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* Prepends "/" + name; returns 0 when it fit, 1 when the buffer is full. */
static __always_inline int pg_path_prepend(struct pg_path_walk *w, struct dentry *d)
{
	struct qstr q = BPF_CORE_READ(d, d_name);
	__u32 len = q.len & PG_NAME_MASK;
	__s32 pos = w->pos - (__s32)len - 1;

	if (pos < 0) {
		w->result |= PG_PATH_TRUNCATED;
		return 1;
	}
	bpf_probe_read_kernel(&w->buf[(pos + 1) & (PG_PATH_MAX - 1)], len, q.name);
	w->buf[pos & (PG_PATH_MAX - 1)] = '/';
	w->pos = pos;
	return 0;
}

/* One bpf_loop() step: returns 1 to stop the walk. */
static long pg_path_step(__u32 i, void *ctx)
{
	struct pg_path_walk *w = ctx;
	/* Locals, not w->x, inside BPF_CORE_READ: the macro relocates every access in its argument. */
	struct dentry *d = w->dentry;
	struct vfsmount *vfsmnt = w->vfsmnt;
	struct mount *mnt = w->mnt;
	struct dentry *parent;

	if (d == w->root_dentry && vfsmnt == w->root_mnt)
		goto done;
	if (d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *m = BPF_CORE_READ(mnt, mnt_parent);

		if (m == mnt) /* the global root of its mount tree (or a detached mount) */
			goto done;
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = m;
		w->vfsmnt = &m->mnt;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	if (d == parent) {
		/*
		 * A root that is not a mount root: a pseudo file (memfd, anon
		 * inode) or a disconnected dentry. d_path() prints "/<name>"
		 * for those too (simple_dname); keep the name and flag it.
		 */
		w->result |= PG_PATH_ANON;
		pg_path_prepend(w, d);
		goto done;
	}
	if (pg_path_prepend(w, d))
		goto done;
	w->dentry = parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

/*
 * Resolves path (a kernel struct path) relative to root (the task's
 * fs->root) into buf. Returns the start offset; the length is
 * PG_PATH_MAX - start. *result gets enum pg_path_result bits.
 */
static __always_inline __u32 pg_path_resolve(struct dentry *dentry, struct vfsmount *vfsmnt,
					     struct dentry *root_dentry, struct vfsmount *root_mnt,
					     char *buf, __u32 *result)
{
	struct pg_path_walk w = {
		.dentry = dentry,
		.vfsmnt = vfsmnt,
		.mnt = pg_real_mount(vfsmnt),
		.root_dentry = root_dentry,
		.root_mnt = root_mnt,
		.buf = buf,
		.pos = PG_PATH_MAX,
	};
	struct hlist_bl_node **pprev;

	if (!dentry || !vfsmnt) {
		*result = PG_PATH_ANON;
		return PG_PATH_MAX;
	}
	bpf_loop(PG_PATH_WALK_MAX, pg_path_step, &w, 0);
	if (!w.done)
		w.result |= PG_PATH_TRUNCATED;
	if (w.pos == PG_PATH_MAX) /* the root itself */
		w.buf[--w.pos & (PG_PATH_MAX - 1)] = '/';
	if (w.result & PG_PATH_ANON) {
		/* d_path()'s simple_dname() form is "/<name> (deleted)"; keep just "<name>". */
		if (w.pos < PG_PATH_MAX - 6) {
			w.pos++;
			char *p = &w.buf[w.pos & (PG_PATH_MAX - 1)];
			if (p[0] == 'm' && p[1] == 'e' && p[2] == 'm' && p[3] == 'f' &&
			    p[4] == 'd' && p[5] == ':')
				w.result |= PG_PATH_MEMFD;
		}
	} else {
		/* d_unlinked(): not a root (roots are never hashed) and unhashed. */
		pprev = BPF_CORE_READ(dentry, d_hash.pprev);
		if (!pprev && BPF_CORE_READ(dentry, d_parent) != dentry)
			w.result |= PG_PATH_DELETED;
	}
	*result = w.result;
	return (__u32)w.pos & (PG_PATH_BUF_SIZE - 1);
}

/* Resolves a struct path * (e.g. &file->f_path, &fs->pwd) against the task's root. */
static __always_inline __u32 pg_path_of(const struct path *path, struct fs_struct *fs, char *buf,
					__u32 *result)
{
	return pg_path_resolve(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
			       BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt), buf,
			       result);
}

#endif /* PG_LIB_PATH_H */
