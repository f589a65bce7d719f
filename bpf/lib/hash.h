/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * FNV-1a 64 over a path, and over its last component, in one pass. Policy
 * maps are keyed by these hashes (binaries, exact paths); user space computes
 * the same function (src/policy/hash.ts). A collision can only let a record
 * through to user space, which re-checks the real strings.
 */
#ifndef PG_LIB_HASH_H
#define PG_LIB_HASH_H

#define PG_FNV_OFFSET 0xcbf29ce484222325ULL
#define PG_FNV_PRIME 0x100000001b3ULL

struct pg_hash_walk {
	const char *buf; /* the bytes: buf[start .. end) */
	__u32 start;
	__u32 end;
	__u32 mask; /* buf is mask + 1 bytes: indexes are masked for the verifier */
	__u64 full;
	__u64 name; /* restarts after every '/' */
};

static long pg_hash_step(__u32 i, void *ctx)
{
	struct pg_hash_walk *h = ctx;
	__u32 at = h->start + i;
	__u8 c;

	if (at >= h->end)
		return 1;
	c = h->buf[at & h->mask];
	h->full = (h->full ^ c) * PG_FNV_PRIME;
	if (c == '/')
		h->name = PG_FNV_OFFSET;
	else
		h->name = (h->name ^ c) * PG_FNV_PRIME;
	return 0;
}

/* Hashes buf[start .. end) (end - start <= 4096); *name gets the hash of the part after the last '/'. */
static __always_inline __u64 pg_hash_path(const char *buf, __u32 mask, __u32 start, __u32 end,
					  __u64 *name)
{
	struct pg_hash_walk h = {
		.buf = buf,
		.start = start,
		.end = end,
		.mask = mask,
		.full = PG_FNV_OFFSET,
		.name = PG_FNV_OFFSET,
	};

	bpf_loop(4096, pg_hash_step, &h, 0);
	*name = h.name;
	return h.full;
}

#endif /* PG_LIB_HASH_H */
