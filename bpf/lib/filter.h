/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The in-kernel policy filter (data model in include/policy.h). A hook calls
 * pg_filter_begin() first: it returns the rules that watch this kind and
 * accept the current process (binary, parent binary, uids, namespaces,
 * capabilities, cgroup) — all cheap lookups. Only when that set is non-empty
 * does the hook do its expensive work (path walk, socket reads) and narrow
 * the set further with pg_filter_path(), pg_filter_access(), pg_filter_port(),
 * pg_filter_addr(). An empty result means no record is built; the hook counts
 * it as filtered (proof that uninteresting events never reached user space).
 */
#ifndef PG_LIB_FILTER_H
#define PG_LIB_FILTER_H

#include "events.h"
#include "policy.h"
#include "lib/maps.h"
#include "lib/walk.h"
#include "lib/hash.h"

/* Host namespaces, set by the agent before load (it runs in them): "host or not" selectors. */
const volatile __u32 host_mnt_ns = 0;
const volatile __u32 host_pid_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_filter_config);
} pg_f_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PG_SET_MAX);
	__type(key, __u32); /* gen * PG_SET_MAX + enum pg_set */
	__type(value, struct pg_rules);
} pg_f_sets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pg_value_key);
	__type(value, struct pg_allow_deny);
} pg_f_values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pg_path_key);
	__type(value, struct pg_rules);
} pg_f_paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_prefix_key);
	__type(value, struct pg_rules);
} pg_f_prefix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_prefix_key);
	__type(value, struct pg_rules);
} pg_f_suffix SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_addr_key);
	__type(value, struct pg_allow_deny);
} pg_f_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * PG_RULE_SLOTS);
	__type(key, __u32); /* gen * PG_RULE_SLOTS + slot */
	__type(value, struct pg_rule_action);
} pg_f_actions SEC(".maps");

/*
 * Per-CPU scratch: LPM keys (too big for the stack) and the capability
 * scan's state (kept here, not on the stack, for the reason in lib/walk.h).
 */
struct pg_filter_scratch {
	struct pg_prefix_key key;
	__u64 caps;
	__u32 gen;
	__u32 _pad;
	struct pg_rules any;
	struct pg_rules allow; /* pg_filter_text's result being built */
	struct pg_path_key path_key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_filter_scratch);
} pg_f_scratch SEC(".maps");

/* The state of one evaluation: the live generation and the rules still matching. */
struct pg_filter {
	__u32 gen;
	__u32 _pad;
	struct pg_rules rules;
};

static __always_inline int pg_rules_empty(const struct pg_rules *r)
{
	return !(r->w[0] | r->w[1] | r->w[2] | r->w[3]);
}

static __always_inline void pg_rules_and(struct pg_rules *r, const struct pg_rules *o)
{
	r->w[0] &= o->w[0];
	r->w[1] &= o->w[1];
	r->w[2] &= o->w[2];
	r->w[3] &= o->w[3];
}

static __always_inline void pg_rules_or(struct pg_rules *r, const struct pg_rules *o)
{
	r->w[0] |= o->w[0];
	r->w[1] |= o->w[1];
	r->w[2] |= o->w[2];
	r->w[3] |= o->w[3];
}

static __always_inline void pg_rules_andnot(struct pg_rules *r, const struct pg_rules *o)
{
	r->w[0] &= ~o->w[0];
	r->w[1] &= ~o->w[1];
	r->w[2] &= ~o->w[2];
	r->w[3] &= ~o->w[3];
}

/* True when r and o share no rule (a missing o counts as empty). */
static __always_inline int pg_rules_disjoint(const struct pg_rules *r, const struct pg_rules *o)
{
	if (!o)
		return 1;
	return !((r->w[0] & o->w[0]) | (r->w[1] & o->w[1]) | (r->w[2] & o->w[2]) |
		 (r->w[3] & o->w[3]));
}

static __always_inline const struct pg_rules *pg_set(__u32 gen, __u32 set)
{
	__u32 idx = gen * PG_SET_MAX + set;

	return bpf_map_lookup_elem(&pg_f_sets, &idx);
}

/* f->rules &= set; returns 1 when nothing is left. */
static __always_inline int pg_filter_and_set(struct pg_filter *f, __u32 set)
{
	const struct pg_rules *r = pg_set(f->gen, set);

	if (!r) {
		__builtin_memset(&f->rules, 0, sizeof(f->rules));
		return 1;
	}
	pg_rules_and(&f->rules, r);
	return pg_rules_empty(&f->rules);
}

/*
 * An allow/deny dimension over up to two values (a binary's full-path hash
 * and base-name hash): rules that leave it open, or list one of the values
 * as allowed, and list neither as denied. A global function: its keys and
 * sets live in its own frame, not in every caller's (stack budget).
 */
__noinline int pg_filter_values(struct pg_filter *f, __u32 dim, __u64 v1, __u64 v2, __u32 two)
{
	struct pg_value_key key = {.dim = dim, .value = v1};
	const struct pg_allow_deny *a, *b = NULL;
	const struct pg_rules *wild;
	struct pg_rules allow;

	if (!f)
		return 1;
	key.gen = f->gen;
	wild = pg_set(f->gen, PG_SET_WILD + dim);
	if (!wild)
		return 1;
	if (pg_rules_disjoint(&f->rules, pg_set(f->gen, PG_SET_LOOKUP + dim)))
		return 0; /* no remaining rule lists values here: all leave it open */
	allow = *wild;
	a = bpf_map_lookup_elem(&pg_f_values, &key);
	if (two) {
		key.value = v2;
		b = bpf_map_lookup_elem(&pg_f_values, &key);
	}
	if (a)
		pg_rules_or(&allow, &a->allow);
	if (b)
		pg_rules_or(&allow, &b->allow);
	if (a)
		pg_rules_andnot(&allow, &a->deny);
	if (b)
		pg_rules_andnot(&allow, &b->deny);
	pg_rules_and(&f->rules, &allow);
	return pg_rules_empty(&f->rules);
}

/* A bpf_loop() context: the scratch, the same pointer at every iteration. */
struct pg_scratch_ctx {
	struct pg_filter_scratch *s;
};

/* One capability bit: the rules needing it join s->any when the process has it. */
static long pg_cap_step(__u32 bit, void *ctx)
{
	struct pg_filter_scratch *s = ((struct pg_scratch_ctx *)ctx)->s;
	const struct pg_rules *r;
	__u64 caps = s->caps;

	if (!(caps >> bit))
		return 1;
	if (!((caps >> bit) & 1))
		return 0;
	r = pg_set(s->gen, PG_SET_CAP + bit);
	if (r)
		pg_rules_or(&s->any, r);
	return 0;
}

/*
 * Starts an evaluation for `kind` in the context of the current task: the
 * rules watching the kind and accepting the process. Returns 0 and fills f
 * when some rule is left; 1 when none is (the hook returns at once). A
 * global function: verified once per program, and its locals live in its
 * own frame, not in every hook's.
 */
__noinline int pg_filter_begin(struct pg_filter *f, __u32 kind)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	__u32 zero = 0, tgid, mnt;
	const struct pg_filter_config *cfg = bpf_map_lookup_elem(&pg_f_config, &zero);
	const struct pg_rules *r;
	struct pg_exec_entry *ent;
	const struct cred *cred;
	__u64 caps;

	if (!f || !cfg || kind >= PG_KIND_MAX)
		return 1;
	f->gen = cfg->gen & 1;
	r = pg_set(f->gen, PG_SET_KIND + kind);
	if (!r || pg_rules_empty(r))
		return 1;
	f->rules = *r;

	tgid = BPF_CORE_READ(task, tgid);
	ent = bpf_map_lookup_elem(&pg_execs, &tgid);
	if (ent) {
		if (pg_filter_values(f, PG_DIM_BINARY, ent->bin_hash, ent->name_hash, 1))
			return 1;
		if (pg_filter_values(f, PG_DIM_PARENT, ent->pbin_hash, ent->pname_hash, 1))
			return 1;
	} else {
		/* Unknown process: only rules that leave binaries open can match. */
		if (pg_filter_and_set(f, PG_SET_WILD + PG_DIM_BINARY) ||
		    pg_filter_and_set(f, PG_SET_WILD + PG_DIM_PARENT))
			return 1;
	}

	cred = BPF_CORE_READ(task, cred);
	if (pg_filter_values(f, PG_DIM_UID, BPF_CORE_READ(cred, euid.val), 0, 0))
		return 1;
	if (pg_filter_values(f, PG_DIM_GID, BPF_CORE_READ(cred, egid.val), 0, 0))
		return 1;
	if (pg_filter_values(f, PG_DIM_CGROUP, BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id), 0,
			     0))
		return 1;

	mnt = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
	if (pg_filter_and_set(f, mnt == host_mnt_ns ? PG_SET_NS_HOST : PG_SET_NS_CONTAINER))
		return 1;

	/* Capabilities: skip the walk when every remaining rule leaves them open. */
	r = pg_set(f->gen, PG_SET_WILD + PG_DIM_CAP);
	if (r) {
		struct pg_rules need = f->rules;

		pg_rules_andnot(&need, r);
		if (!pg_rules_empty(&need)) {
			struct pg_filter_scratch *s = bpf_map_lookup_elem(&pg_f_scratch, &zero);
			struct pg_scratch_ctx c = {.s = s};

			if (!s)
				return 1;
			bpf_core_read(&caps, sizeof(caps), &cred->cap_effective);
			s->caps = caps;
			s->gen = f->gen;
			s->any = *r;
			bpf_loop(64, pg_cap_step, &c, 0);
			pg_rules_and(&f->rules, &s->any);
		}
	}
	return pg_rules_empty(&f->rules);
}

/* A bpf_loop() context for the suffix scan: the text and the key it fills. */
struct pg_suffix_ctx {
	struct walk_state *w;
	struct pg_filter_scratch *s;
};

/* Copies the base name of w->buf[0 .. len) backwards, one byte per call, until '/' or the start. */
static long pg_suffix_step(__u32 i, void *ctx)
{
	struct pg_suffix_ctx *c = ctx;
	struct walk_state *w = c->w;
	__u32 len = w->len;
	char ch;

	if (i >= PG_SUFFIX_MAX || i >= len)
		return 1;
	ch = w->buf[(len - 1 - i) & (PG_PATH_BUF_SIZE - 1)];
	if (ch == '/')
		return 1;
	barrier_var(i); /* keep the bound check and the store on one register */
	if (i >= PG_SUFFIX_MAX)
		return 1;
	c->s->key.data[i] = ch;
	w->suffix_len = i + 1;
	return 0;
}

/*
 * Narrows by the path in walk slot PG_WALK_TP's buf[0 .. len): rules that
 * leave paths open, or whose exact path, prefix or file-name suffix
 * matches. A global function: verified once per program, whatever the
 * caller's state, with every loop's state in per-CPU maps.
 */
__noinline int pg_filter_text(struct pg_filter *f, __u32 len)
{
	struct walk_state *w = pg_walk_get(PG_WALK_TP);
	struct pg_filter_scratch *s;
	const struct pg_rules *wild, *r;
	struct pg_suffix_ctx c;
	__u32 zero = 0, n;
	__u64 plen;

	if (!f)
		return 1;
	s = bpf_map_lookup_elem(&pg_f_scratch, &zero);
	wild = pg_set(f->gen, PG_SET_WILD + PG_DIM_PATH);
	if (!w || !s || !wild)
		return 1;
	/* Keys and the set being built live in the scratch: this frame is in every path check's chain. */
	s->allow = *wild;
	s->path_key.gen = f->gen;
	s->path_key._pad = 0;
	s->path_key.hash = pg_hash_text(PG_WALK_TP, len);
	r = bpf_map_lookup_elem(&pg_f_paths, &s->path_key);
	if (r)
		pg_rules_or(&s->allow, r);

	/*
	 * 64-bit on purpose: with a __u32, clang compares a zero-extended
	 * copy and reads with the original, whose bound the verifier never
	 * learns ("size 4095" into the 248-byte key).
	 */
	plen = w->len;
	if (plen > PG_PREFIX_MAX)
		plen = PG_PREFIX_MAX;
	s->key.gen = f->gen;
	s->key.prefixlen = 32 + 8 * plen;
	if (plen)
		bpf_probe_read_kernel(s->key.data, plen, w->buf);
	r = bpf_map_lookup_elem(&pg_f_prefix, &s->key);
	if (r)
		pg_rules_or(&s->allow, r);

	/* The base name, reversed, against the suffix trie. */
	w->suffix_len = 0;
	c.w = w;
	c.s = s;
	bpf_loop(PG_SUFFIX_MAX, pg_suffix_step, &c, 0);
	n = w->suffix_len;
	s->key.prefixlen = 32 + 8 * (n > PG_SUFFIX_MAX ? PG_SUFFIX_MAX : n);
	r = bpf_map_lookup_elem(&pg_f_suffix, &s->key);
	if (r)
		pg_rules_or(&s->allow, r);
	pg_rules_and(&f->rules, &s->allow);
	return pg_rules_empty(&f->rules);
}

/*
 * Narrows by path: `buf[start .. end)` is the path, masked by `mask` (a
 * power-of-two buffer size minus one); it must not wrap. Copied to the walk
 * buffer (one probe read) and matched there by pg_filter_text().
 */
static __always_inline int pg_filter_path(struct pg_filter *f, const char *buf, __u32 mask,
					  __u32 start, __u32 end)
{
	__u32 len = pg_walk_load(PG_WALK_TP, &buf[start & mask], end > start ? end - start : 0);

	return pg_filter_text(f, len);
}

/* Narrows by open access: a combination of enum pg_access bits. */
static __always_inline int pg_filter_access(struct pg_filter *f, __u32 access)
{
	return pg_filter_and_set(f, PG_SET_ACCESS + (access & (PG_ACCESS_COMBOS - 1)));
}

/* Narrows by port (host byte order). */
static __always_inline int pg_filter_port(struct pg_filter *f, __u16 port)
{
	return pg_filter_values(f, PG_DIM_PORT, port, 0, 0);
}

/*
 * Narrows by address: family AF_INET (4 bytes) or AF_INET6 (16 bytes),
 * network byte order, as two 8-byte halves (a global function's pointer
 * arguments are sized by their type: a __u8 * would be one byte).
 */
__noinline int pg_filter_addr_words(struct pg_filter *f, __u32 family, __u64 lo, __u64 hi)
{
	const struct pg_rules *wild;
	struct pg_addr_key key = {};
	const struct pg_allow_deny *a;
	struct pg_rules allow;

	if (!f)
		return 1;
	wild = pg_set(f->gen, PG_SET_WILD + PG_DIM_ADDR);
	if (!wild)
		return 1;
	if (pg_rules_disjoint(&f->rules, pg_set(f->gen, PG_SET_LOOKUP + PG_DIM_ADDR)))
		return 0;
	allow = *wild;
	key.gen = f->gen;
	key.family = family;
	__builtin_memcpy(key.addr, &lo, 8);
	__builtin_memcpy(&key.addr[8], &hi, 8);
	key.prefixlen = 64 + (family == 2 ? 32 : 128);
	a = bpf_map_lookup_elem(&pg_f_addrs, &key);
	if (a) {
		pg_rules_or(&allow, &a->allow);
		pg_rules_andnot(&allow, &a->deny);
	}
	pg_rules_and(&f->rules, &allow);
	return pg_rules_empty(&f->rules);
}

static __always_inline int pg_filter_addr(struct pg_filter *f, __u32 family, const __u8 *addr)
{
	__u64 lo, hi;

	__builtin_memcpy(&lo, addr, 8);
	__builtin_memcpy(&hi, &addr[8], 8);
	return pg_filter_addr_words(f, family, lo, hi);
}

#endif /* PG_LIB_FILTER_H */
