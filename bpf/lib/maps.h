/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps every sensor object shares, and the helpers that use them. Each
 * object declares them identically; the agent loads the process object first
 * and makes every other object reuse its maps (bpf_map__reuse_fd), so all
 * sensors write one ring buffer (records of one CPU stay in order), read one
 * identity map, and count into one pg_stats array (each sensor its own range).
 */
#ifndef PG_LIB_MAPS_H
#define PG_LIB_MAPS_H

#include "events.h"

/* Wake the consumer once this many bytes are queued; 0 = adaptive (whenever it waits). */
const volatile __u64 wakeup_bytes = 0;
/* The agent's own tgid: its records are flagged *_SELF, not dropped. */
const volatile __u32 self_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* default; user space resizes before load */
} pg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tgid */
	__type(value, struct pg_exec_entry);
} pg_execs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_STAT_MAX);
	__type(key, __u32); /* enum pg_stat */
	__type(value, __u64);
} pg_stats SEC(".maps");

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&pg_stats, &stat);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* BPF_RB_NO_WAKEUP until wakeup_bytes are queued, so a busy host wakes the consumer once per batch. */
static __always_inline __u64 wakeup_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	if (bpf_ringbuf_query(&pg_events, BPF_RB_AVAIL_DATA) >= wakeup_bytes) {
		count(PG_STAT_WAKEUP);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline void header(struct pg_header *h, __u16 type, __u32 size, __u64 now)
{
	h->type = type;
	h->version = PG_SCHEMA_VERSION;
	h->size = size;
	h->ktime = now;
}

#endif /* PG_LIB_MAPS_H */
