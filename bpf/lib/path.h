/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Full paths resolved in the kernel from a struct path (dentry + vfsmount),
 * the way d_path() does it: walk d_parent to the mount's root, cross to the
 * parent mount through mnt_mountpoint, stop at the task's root. Reads only
 * kernel objects, so the result is what was opened/exec'd, not what user
 * memory claims (TOCTOU-safe), up to concurrent renames, which d_path also races.
 *
 * The name is written backwards into the per-CPU walk buffer (lib/walk.h):
 * the path ends at offset PG_PATH_MAX and starts at the returned offset,
 * then it is copied to the caller's buffer at the same offsets. Offsets are
 * masked to PG_PATH_MAX - 1 and lengths to PG_NAME_MASK so every store is
 * provably inside the buffer. The walk runs in bpf_loop() (5.17+), one
 * component or one mount crossing per iteration, so depth is bounded by
 * PG_PATH_WALK_MAX rather than by the verifier's instruction budget; its
 * cursor lives in the map, so the callback is verified once (see walk.h),
 * and the walk itself is a global function: verified once per program, not
 * once per call site and caller state.
 */
#ifndef PG_LIB_PATH_H
#define PG_LIB_PATH_H

#include "events.h"
#include "lib/walk.h"

#define PG_NAME_MASK 255 /* NAME_MAX: d_name.len never exceeds it */
/* A 4095-byte path has at most 2047 components; add room for mount crossings. */
#define PG_PATH_WALK_MAX (PG_PATH_MAX / 2 + 64)

enum pg_path_result {
	PG_PATH_OK = 0,
	PG_PATH_TRUNCATED = 1 << 0, /* over PG_PATH_MAX or deeper than the walk: kept the tail */
	PG_PATH_DELETED = 1 << 1, /* the leaf dentry is unlinked */
	PG_PATH_ANON = 1 << 2, /* a pseudo dentry with no parent (memfd, anon inode): name only */
	PG_PATH_MEMFD = 1 << 3, /* an anonymous dentry named "memfd:..." */
};

static __always_inline struct mount *pg_real_mount(struct vfsmount *vfsmnt)
{
	/* container_of with a CO-RE-relocated offset: struct mount is private to fs/ and moves. */
	return (struct mount *)((char *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* Prepends "/" + name; returns 0 when it fit, 1 when the buffer is full. */
static __always_inline int pg_path_prepend(struct walk_state *w, struct dentry *d)
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
	struct walk_state *w = ((struct walk_ctx *)ctx)->w;
	struct dentry *d = (void *)w->dentry;
	struct vfsmount *vfsmnt = (void *)w->vfsmnt;
	struct mount *mnt = (void *)w->mnt;
	struct dentry *parent;

	if (w->dentry == w->root_dentry && w->vfsmnt == w->root_mnt)
		goto done;
	if (d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *m = BPF_CORE_READ(mnt, mnt_parent);

		if (m == mnt) /* the global root of its mount tree (or a detached mount) */
			goto done;
		w->dentry = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (__u64)m;
		w->vfsmnt = (__u64)&m->mnt;
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
	w->dentry = (__u64)parent;
	return 0;
done:
	w->done = 1;
	return 1;
}

/*
 * Walks w->dentry/w->vfsmnt up to w->root_dentry/w->root_mnt of walk slot
 * `slot` (the caller stores them there). Returns the start offset in its
 * buffer (the path is buf[start .. PG_PATH_MAX)); the walk's result bits
 * are left in w->result. The pointers travel through the map, not as
 * arguments: a global function's arguments must be scalars or sized memory,
 * and an LSM or tp_btf hook's own arguments are typed kernel pointers.
 */
__noinline __u32 pg_path_walk(__u32 slot)
{
	struct walk_state *w = pg_walk_get(slot);
	struct hlist_bl_node **pprev;
	struct dentry *leaf;
	struct walk_ctx c;
	__s32 pos;

	if (!w)
		return PG_PATH_MAX;
	leaf = (void *)w->dentry;
	w->result = 0;
	w->pos = PG_PATH_MAX;
	if (!w->dentry || !w->vfsmnt) {
		w->result = PG_PATH_ANON;
		return PG_PATH_MAX;
	}
	w->mnt = (__u64)pg_real_mount((void *)w->vfsmnt);
	w->done = 0;
	c.w = w;
	bpf_loop(PG_PATH_WALK_MAX, pg_path_step, &c, 0);
	if (!w->done)
		w->result |= PG_PATH_TRUNCATED;
	pos = w->pos;
	if (pos < 0 || pos > PG_PATH_MAX)
		pos = PG_PATH_MAX;
	if (pos == PG_PATH_MAX) { /* the root itself */
		pos--;
		w->buf[pos & (PG_PATH_MAX - 1)] = '/';
	}
	if (w->result & PG_PATH_ANON) {
		/* d_path()'s simple_dname() form is "/<name> (deleted)"; keep just "<name>". */
		if (pos < PG_PATH_MAX - 6) {
			char *p;

			pos++;
			p = &w->buf[pos & (PG_PATH_MAX - 1)];
			if (p[0] == 'm' && p[1] == 'e' && p[2] == 'm' && p[3] == 'f' &&
			    p[4] == 'd' && p[5] == ':')
				w->result |= PG_PATH_MEMFD;
		}
	} else {
		/* d_unlinked(): not a root (roots are never hashed) and unhashed. */
		pprev = BPF_CORE_READ(leaf, d_hash.pprev);
		if (!pprev && BPF_CORE_READ(leaf, d_parent) != leaf)
			w->result |= PG_PATH_DELETED;
	}
	w->pos = pos;
	return pos;
}

/*
 * Resolves (dentry, vfsmnt) relative to the root (root_dentry, root_mnt: the
 * task's fs->root) into buf (PG_PATH_BUF_SIZE bytes), using walk slot
 * `slot`. Returns the start offset; the length is PG_PATH_MAX - start.
 * *result gets enum pg_path_result bits.
 */
static __always_inline __u32 pg_path_resolve_slot(struct dentry *dentry, struct vfsmount *vfsmnt,
						  struct dentry *root_dentry,
						  struct vfsmount *root_mnt, char *buf,
						  __u32 *result, __u32 slot)
{
	struct walk_state *w = pg_walk_get(slot);
	__u64 start, len;

	if (!w) {
		*result = PG_PATH_ANON;
		return PG_PATH_MAX;
	}
	w->dentry = (__u64)dentry;
	w->vfsmnt = (__u64)vfsmnt;
	w->root_dentry = (__u64)root_dentry;
	w->root_mnt = (__u64)root_mnt;
	start = pg_path_walk(slot);
	*result = w->result;
	start = pg_clamp(start, PG_PATH_MAX);
	len = PG_PATH_MAX - start;
	bpf_probe_read_kernel(&buf[start & (PG_PATH_MAX - 1)], len,
			      &w->buf[start & (PG_PATH_MAX - 1)]);
	/* Callers clamp again: hide this bound from clang so it keeps their checks. */
	barrier_var(start);
	return start;
}

static __always_inline __u32 pg_path_resolve(struct dentry *dentry, struct vfsmount *vfsmnt,
					     struct dentry *root_dentry, struct vfsmount *root_mnt,
					     char *buf, __u32 *result)
{
	return pg_path_resolve_slot(dentry, vfsmnt, root_dentry, root_mnt, buf, result, PG_WALK_TP);
}

/* Resolves a struct path * (e.g. &file->f_path, &fs->pwd) against the task's root. */
static __always_inline __u32 pg_path_of_slot(const struct path *path, struct fs_struct *fs,
					     char *buf, __u32 *result, __u32 slot)
{
	return pg_path_resolve_slot(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
				    BPF_CORE_READ(fs, root.dentry), BPF_CORE_READ(fs, root.mnt),
				    buf, result, slot);
}

static __always_inline __u32 pg_path_of(const struct path *path, struct fs_struct *fs, char *buf,
					__u32 *result)
{
	return pg_path_of_slot(path, fs, buf, result, PG_WALK_TP);
}

#endif /* PG_LIB_PATH_H */
