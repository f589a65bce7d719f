/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU state of every loop the kernel programs run (path walks, hashes,
 * suffix scans): the cursor and the bytes it walks live in this map, never
 * on the stack of the caller.
 *
 * Why: since 6.7 the verifier checks a bpf_loop() callback again and again
 * until the state at its entry stops changing. A cursor kept on the stack
 * (a position, a pointer, a count) is a scalar the verifier tracks exactly,
 * changes every iteration, and never lets that search converge: the walk of
 * a 4 KiB path was explored thousands of times and passed the one-million
 * instruction limit on 6.18. A value read back from a map is unknown to the
 * verifier, so the callback's entry state is the same every time and is
 * verified once or twice on every kernel from 5.17 on. Callback contexts
 * hold only a pointer to this map's value.
 *
 * Slots: PG_WALK_TP serves the hooks. Tracepoints run with preemption
 * disabled; LSM and cgroup hooks run with migration disabled, so on a
 * preemptible kernel a hook of ours preempting another on the same CPU
 * could reuse the slot mid-walk — the window every per-CPU scratch buffer
 * of a BPF agent has, and the reason each hook copies a walk's result out
 * at once. PG_WALK_ITER serves the task iterator, which runs preemptible
 * for long stretches and would otherwise be overwritten by any hook.
 */
#ifndef PG_LIB_WALK_H
#define PG_LIB_WALK_H

#include "events.h"

#define PG_PATH_BUF_SIZE (2 * PG_PATH_MAX)

enum pg_walk_slot {
	PG_WALK_TP = 0,
	PG_WALK_ITER = 1,
	PG_WALK_SLOTS = 2,
};

/* No pg_ prefix: kernel-private, not a record (scripts/gen-records.ts exports pg_* types). */
struct walk_state {
	/* Path walk cursor (kernel pointers kept as numbers: only ever read through probes). */
	__u64 dentry;
	__u64 vfsmnt;
	__u64 mnt;
	__u64 root_dentry;
	__u64 root_mnt;
	__s32 pos; /* the walked path is buf[pos .. PG_PATH_MAX) */
	__u32 result; /* enum pg_path_result */
	__u32 done;
	/* Byte loops over buf[0 .. len): hashes and suffix scans. */
	__u32 len;
	__u64 full; /* FNV-1a of the whole text */
	__u64 name; /* FNV-1a of the text after its last '/' */
	__u32 suffix_len;
	__u32 _pad;
	char buf[PG_PATH_BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_WALK_SLOTS);
	__type(key, __u32); /* enum pg_walk_slot */
	__type(value, struct walk_state);
} pg_walk SEC(".maps");

static __always_inline struct walk_state *pg_walk_get(__u32 slot)
{
	return bpf_map_lookup_elem(&pg_walk, &slot);
}

/*
 * min(v, max) that the verifier sees on the register later code uses: 64-bit
 * and behind barriers, so clang cannot compare a zero-extended copy and go on
 * with the unchecked original (a global function's __u32 result has unknown
 * upper bits to the verifier).
 */
static __always_inline __u64 pg_clamp(__u64 v, __u64 max)
{
	barrier_var(v);
	if (v > max)
		v = max;
	barrier_var(v);
	return v;
}

/* A bpf_loop() context: one pointer, the same at every iteration. */
struct walk_ctx {
	struct walk_state *w;
};

#endif /* PG_LIB_WALK_H */
