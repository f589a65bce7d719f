/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * FNV-1a 64 over a path, and over its last component, in one pass. Policy
 * maps are keyed by these hashes (binaries, exact paths); user space computes
 * the same function (src/policy/hash.ts). A collision can only let a record
 * through to user space, which re-checks the real strings.
 *
 * The bytes are copied into the per-CPU walk buffer first (lib/walk.h) and
 * hashed there by a global function: one verification per program whatever
 * buffer the caller holds, and a loop whose state the verifier need not track.
 */
#ifndef PG_LIB_HASH_H
#define PG_LIB_HASH_H

#include "lib/walk.h"

#define PG_FNV_OFFSET 0xcbf29ce484222325ULL
#define PG_FNV_PRIME 0x100000001b3ULL

static long pg_hash_step(__u32 i, void *ctx)
{
	struct walk_state *w = ((struct walk_ctx *)ctx)->w;
	__u8 c;

	if (i >= w->len)
		return 1;
	c = w->buf[i & (PG_PATH_BUF_SIZE - 1)];
	w->full = (w->full ^ c) * PG_FNV_PRIME;
	if (c == '/')
		w->name = PG_FNV_OFFSET;
	else
		w->name = (w->name ^ c) * PG_FNV_PRIME;
	return 0;
}

/* Hashes w->buf[0 .. len) of walk slot `slot` into w->full and w->name; returns w->full. */
__noinline __u64 pg_hash_text(__u32 slot, __u32 len)
{
	struct walk_state *w = pg_walk_get(slot);
	struct walk_ctx c;

	if (!w)
		return 0;
	w->len = len > PG_PATH_MAX ? PG_PATH_MAX : len;
	w->full = PG_FNV_OFFSET;
	w->name = PG_FNV_OFFSET;
	c.w = w;
	bpf_loop(PG_PATH_MAX, pg_hash_step, &c, 0);
	return w->full;
}

/* Copies src[0 .. len) (any kernel memory) into walk slot `slot`; returns the length kept. */
static __always_inline __u32 pg_walk_load(__u32 slot, const char *src, __u32 n)
{
	struct walk_state *w = pg_walk_get(slot);
	__u64 len = pg_clamp(n, PG_PATH_MAX);

	if (!w)
		return 0;
	if (len && bpf_probe_read_kernel(w->buf, len, src))
		return 0;
	return len;
}

/*
 * Hashes buf[start .. end) (end - start <= PG_PATH_MAX) with walk slot
 * `slot`; *name gets the hash of the part after the last '/'.
 */
static __always_inline __u64 pg_hash_path_slot(const char *buf, __u32 mask, __u32 start, __u32 end,
					       __u64 *name, __u32 slot)
{
	__u32 len = pg_walk_load(slot, &buf[start & mask], end > start ? end - start : 0);
	__u64 full = pg_hash_text(slot, len);
	struct walk_state *w = pg_walk_get(slot);

	*name = w ? w->name : PG_FNV_OFFSET;
	return full;
}

#endif /* PG_LIB_HASH_H */
