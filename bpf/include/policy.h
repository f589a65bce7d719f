/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The in-kernel policy filter's data: what the policy compiler
 * (src/policy/compile.ts) writes into the pg_f_* maps and what every sensor's
 * hook reads (bpf/lib/filter.h). Types here reach user space through BTF like
 * events.h (src/generated/records.ts); never mirror them by hand.
 *
 * Model: every rule of every loaded policy owns one slot (bit) of a
 * struct pg_rules. For each dimension of an event (its kind, binary, parent
 * binary, uid, path, access, port, address, namespace, capabilities, cgroup),
 * a map lookup yields the set of rules that accept the event's value on that
 * dimension; rules that do not constrain the dimension are in its wildcard
 * set. The AND over all dimensions is the set of matching rules; an empty
 * set means the record is never built. Cheap dimensions go first, the path
 * walk last.
 *
 * Live updates without a gap: every key carries a generation (0 or 1). The
 * compiler fills the inactive generation, flips pg_f_config.gen, then clears
 * the old one. A hook reads gen once, so it sees one consistent policy set.
 */
#ifndef PG_POLICY_H
#define PG_POLICY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum pg_policy_limits {
	PG_RULE_WORDS = 4, /* struct pg_rules: 256 rule slots in all loaded policies */
	PG_RULE_SLOTS = PG_RULE_WORDS * 64,
	PG_PREFIX_MAX =
		248, /* bytes of a path prefix in the LPM trie (its data is at most 256 bytes, gen included) */
	PG_SUFFIX_MAX = 248, /* bytes of a file-name suffix (reversed) in the LPM trie */
};

/* A set of rule slots: bit i of w[i / 64] is slot i. */
struct pg_rules {
	__u64 w[PG_RULE_WORDS];
};

/* Event kinds a rule can watch (index into the kind sets). */
enum pg_kind {
	PG_KIND_EXEC = 0,
	PG_KIND_EXIT = 1,
	PG_KIND_FILE_OPEN = 2,
	PG_KIND_FILE_UNLINK = 3,
	PG_KIND_FILE_RENAME = 4,
	PG_KIND_FILE_LINK = 5,
	PG_KIND_FILE_SYMLINK = 6,
	PG_KIND_FILE_CHMOD = 7,
	PG_KIND_FILE_CHOWN = 8,
	PG_KIND_FILE_TRUNCATE = 9,
	PG_KIND_FILE_MOUNT = 10,
	PG_KIND_NET_CONNECT = 11,
	PG_KIND_NET_ACCEPT = 12,
	PG_KIND_NET_BIND = 13,
	PG_KIND_NET_LISTEN = 14,
	PG_KIND_NET_SEND = 15, /* UDP sends to new peers (DNS) */
	PG_KIND_PRIV_SETUID = 16,
	PG_KIND_PRIV_SETGID = 17,
	PG_KIND_PRIV_CAPSET = 18,
	PG_KIND_PRIV_PRCTL = 19,
	PG_KIND_NS_UNSHARE = 20,
	PG_KIND_NS_SETNS = 21,
	PG_KIND_PTRACE = 22,
	PG_KIND_MODULE_LOAD = 23,
	PG_KIND_BPF = 24,
	PG_KIND_KEXEC = 25,
	PG_KIND_MEMFD_CREATE = 26,
	PG_KIND_MAX = 32,
};

/* Dimensions with a wildcard set (rules that do not constrain them). */
enum pg_dim {
	PG_DIM_BINARY = 0, /* the process's binary: full path or base name (allow/deny) */
	PG_DIM_PARENT = 1, /* the parent's binary (allow/deny) */
	PG_DIM_UID = 2, /* effective uid (allow/deny) */
	PG_DIM_GID = 3, /* effective gid (allow/deny) */
	PG_DIM_PATH = 4, /* the event's (first) path: exact, prefix, name suffix */
	PG_DIM_PORT =
		5, /* remote port (connect/send), local port (bind/listen/accept) (allow/deny) */
	PG_DIM_ADDR = 6, /* remote address (connect/send/accept) (allow/deny, CIDR) */
	PG_DIM_CGROUP = 7, /* cgroup v2 id: containers (allow/deny) */
	PG_DIM_CAP = 8, /* effective capabilities: rules needing any of a set */
	PG_DIM_ACCESS = 9, /* open access mode */
	PG_DIM_NS = 10, /* host or container namespaces */
	PG_DIM_MAX = 16,
};

/*
 * Indexes of pg_f_sets (an array of struct pg_rules), per generation:
 * index = gen * PG_SET_MAX + set.
 */
enum pg_set {
	PG_SET_KIND = 0, /* + enum pg_kind: rules watching that kind */
	PG_SET_WILD = 32, /* + enum pg_dim: rules not constraining that dimension */
	PG_SET_ACCESS = 48, /* + access combination (enum pg_access bits): rules accepting it */
	PG_SET_NS_HOST = 64, /* rules accepting processes in the host's namespaces */
	PG_SET_NS_CONTAINER = 65, /* rules accepting processes in other namespaces */
	PG_SET_CAP = 66, /* + capability number (0..63): rules needing that capability */
	PG_SET_ALL = 130, /* every slot in use (a rule set's universe) */
	/*
	 * + enum pg_dim: rules that list values (in or notIn) on that dimension.
	 * When none of the rules still matching is in it, the dimension's
	 * lookups are skipped: every remaining rule leaves it open.
	 */
	PG_SET_LOOKUP = 136,
	/*
	 * Rules scoped to containers (cgroup id sets from selectors): a cgroup
	 * created after the last compile is accepted by them until user space
	 * has looked the container up and re-applied (handle_cgroup_mkdir), so
	 * a new container's first process is never filtered out by a race;
	 * user space then decides with the container's metadata.
	 */
	PG_SET_CGROUP_NEW = 152,
	/*
	 * Rules whose action is not audit (deny, kill, signal; in enforce or
	 * monitor mode): a hook that observes and enforces in one pass skips
	 * the per-rule action scan when none of the rules left is in it.
	 */
	PG_SET_ACTING = 153,
	PG_SET_MAX = 160,
};

/* Access bits of an open (and the combinations indexing PG_SET_ACCESS). */
enum pg_access {
	PG_ACCESS_READ = 1 << 0,
	PG_ACCESS_WRITE = 1 << 1,
	PG_ACCESS_CREATE = 1 << 2,
	PG_ACCESS_TRUNCATE = 1 << 3,
	PG_ACCESS_COMBOS = 16,
};

/* pg_f_config[0]: which generation is live. */
struct pg_filter_config {
	__u32 gen;
	__u32 _pad;
};

/* pg_f_values: exact values of allow/deny dimensions (binary hashes, uids, ports, cgroup ids). */
struct pg_value_key {
	__u32 gen;
	__u32 dim; /* enum pg_dim */
	__u64 value; /* FNV-1a 64 of a binary path or base name; or the id / port / cgroup id */
};

/* What an exact value means to each rule: listed as allowed, or as denied (notIn). */
struct pg_allow_deny {
	struct pg_rules allow;
	struct pg_rules deny;
};

/* pg_f_paths: exact paths by FNV-1a 64 of the full path. */
struct pg_path_key {
	__u32 gen;
	__u32 _pad;
	__u64 hash;
};

/*
 * pg_f_prefix (path prefixes) and pg_f_suffix (file-name suffixes, stored
 * reversed): LPM tries. prefixlen counts bits from `gen`, so a key's
 * prefixlen is 32 + 8 * bytes. The trie returns only the longest match, so
 * the compiler stores in each entry its own rules OR those of every shorter
 * prefix in the set: the longest match then carries all matching rules.
 */
struct pg_prefix_key {
	__u32 prefixlen;
	__u32 gen;
	__u8 data[PG_PREFIX_MAX];
};

/* pg_f_addrs: CIDRs, LPM trie; prefixlen counts bits from gen (32 + 32 + address bits). */
struct pg_addr_key {
	__u32 prefixlen;
	__u32 gen;
	__u32 family; /* AF_INET (2) or AF_INET6 (10) */
	__u8 addr[16];
};

/*
 * Per-rule action, pg_f_actions[gen * PG_RULE_SLOTS + slot]: what to do when
 * the rule matches (enforcement, in the sensors that can act).
 */
enum pg_action {
	PG_ACTION_AUDIT = 0,
	PG_ACTION_DENY = 1,
	PG_ACTION_KILL = 2,
	PG_ACTION_SIGNAL = 3,
};

struct pg_rule_action {
	__u32 action; /* enum pg_action */
	__u32 signal; /* for PG_ACTION_SIGNAL */
	__u32 monitor; /* 1: count the would-be action, do not take it */
	__u32 _pad;
};

#endif /* PG_POLICY_H */
