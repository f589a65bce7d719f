// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Flood and port-scan detection at the driver (XDP): per-source packet, SYN
 * and UDP counts and distinct destination ports over a window, one record per
 * source, kind and window over a threshold, and XDP_DROP for listed sources.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "events.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define PG_ETH_P_IP 0x0800
#define PG_ETH_P_IPV6 0x86DD
#define PG_ETH_P_8021Q 0x8100
#define PG_ETH_P_8021AD 0x88A8
#define PG_IPPROTO_TCP 6
#define PG_IPPROTO_UDP 17
#define PG_AF_INET 2
#define PG_AF_INET6 10

/* Anchor for BTF: the flood types reach src/generated/records.ts through this object. */
const volatile struct {
	enum pg_flood_kind kind;
	enum pg_flood_stat stat;
	enum pg_flood_limits limits;
	struct pg_flood_config config;
	struct pg_flood_key key;
	struct pg_flood_src src;
	struct pg_flood_event event;
} pg_flood_anchor __attribute__((unused));

/* Records are rare (one per source, kind and window): a small ring buffer of its own. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
} pg_fl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_flood_config);
} pg_fl_config SEC(".maps");

/*
 * Per-source counters. One shared LRU hash (not per-CPU): a flood spread by
 * RSS over several queues still adds up to one count per source, with
 * atomic adds; the LRU evicts the quietest sources when a spoofed flood
 * fills it (then those sources start again from zero). Resized from config.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pg_flood_key);
	__type(value, struct pg_flood_src);
} pg_fl_srcs SEC(".maps");

/* Sources to drop: CIDRs as IPv4-mapped IPv6 prefixes (prefixlen 96 + n for IPv4 /n). */
struct pg_flood_lpm {
	__u32 prefixlen;
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct pg_flood_lpm);
	__type(value, __u32); /* index of the listed CIDR (for user space) */
} pg_fl_deny SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PG_FL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} pg_fl_stats SEC(".maps");

static __always_inline void fl_count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&pg_fl_stats, &stat);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/* What one packet tells us, parsed once. */
struct fl_pkt {
	struct pg_flood_key key;
	__u32 family;
	__u8 protocol;
	__u8 syn; /* TCP SYN without ACK */
	__u16 port; /* destination port, host order; 0 when not TCP/UDP */
};

/* Ethernet (one or two VLAN tags), IPv4 or IPv6 (no extension headers), TCP/UDP ports. */
static __always_inline int fl_parse(struct xdp_md *ctx, struct fl_pkt *p)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *l4;
	__u16 proto;
	int i;

	if ((void *)(eth + 1) > end)
		return -1;
	proto = eth->h_proto;
	l4 = eth + 1;
#pragma unroll
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *vh = l4;

		if (proto != bpf_htons(PG_ETH_P_8021Q) && proto != bpf_htons(PG_ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > end)
			return -1;
		proto = vh->h_vlan_encapsulated_proto;
		l4 = vh + 1;
	}
	if (proto == bpf_htons(PG_ETH_P_IP)) {
		struct iphdr *ip = l4;

		if ((void *)(ip + 1) > end)
			return -1;
		p->family = PG_AF_INET;
		p->key.addr[10] = 0xff;
		p->key.addr[11] = 0xff;
		__builtin_memcpy(&p->key.addr[12], &ip->saddr, 4);
		p->protocol = ip->protocol;
		/* Only the first fragment carries the ports. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;
		l4 = (void *)ip + ip->ihl * 4;
	} else if (proto == bpf_htons(PG_ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l4;

		if ((void *)(ip6 + 1) > end)
			return -1;
		p->family = PG_AF_INET6;
		__builtin_memcpy(p->key.addr, &ip6->saddr, 16);
		p->protocol = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return 1; /* not IP: passed, not counted */
	}
	if (p->protocol == PG_IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end)
			return -1;
		p->port = bpf_ntohs(th->dest);
		p->syn = th->syn && !th->ack;
	} else if (p->protocol == PG_IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return -1;
		p->port = bpf_ntohs(uh->dest);
	}
	return 0;
}

static __always_inline void fl_alert(struct xdp_md *ctx, struct pg_flood_src *s, struct fl_pkt *p,
				     struct pg_flood_config *c, __u32 kind, __u64 count,
				     __u64 threshold, __u64 now)
{
	struct pg_flood_event *e;

	if (!threshold || count < threshold || (s->alerted & kind))
		return;
	/*
	 * Not atomic: two CPUs crossing together may both report (one extra
	 * record at most per CPU); an atomic fetch-or needs v3 atomics (5.12+).
	 */
	s->alerted |= kind;
	e = bpf_ringbuf_reserve(&pg_fl_events, sizeof(*e), 0);
	if (!e) {
		fl_count(PG_FL_STAT_ALERT_DROP);
		return;
	}
	e->hdr.type = PG_REC_FLOOD;
	e->hdr.version = PG_SCHEMA_VERSION;
	e->hdr.size = sizeof(*e);
	e->hdr.ktime = now;
	e->kind = kind;
	e->family = p->family;
	if (p->family == PG_AF_INET) {
		__builtin_memcpy(e->addr, &p->key.addr[12], 4);
		__builtin_memset(&e->addr[4], 0, 12);
	} else {
		__builtin_memcpy(e->addr, p->key.addr, 16);
	}
	e->count = count;
	e->threshold = threshold;
	e->window_ns = c->window_ns;
	e->elapsed_ns = now - s->window_start;
	e->ifindex = ctx->ingress_ifindex;
	e->port = p->port;
	e->protocol = p->protocol;
	e->_pad0 = 0;
	bpf_ringbuf_submit(e, 0);
	fl_count(PG_FL_STAT_ALERTS);
}

/*
 * XDP (4.8+; attached through a bpf_link, 5.9+): runs for every received
 * packet before the stack allocates anything, so a flood costs one parse,
 * one LPM lookup and one hash update per packet, and a dropped source costs
 * no socket buffer at all. Native mode where the driver has it, generic
 * (after the skb is built) elsewhere: the kernel picks at attach.
 */
SEC("xdp")
int handle_xdp_flood(struct xdp_md *ctx)
{
	struct fl_pkt p = {};
	struct pg_flood_config *c;
	struct pg_flood_src *s, fresh = {};
	struct pg_flood_lpm lpm;
	__u64 now, *w;
	__u32 zero = 0, bit;
	int listed, r;

	fl_count(PG_FL_STAT_PACKETS);
	r = fl_parse(ctx, &p);
	if (r > 0)
		return XDP_PASS;
	if (r < 0) {
		fl_count(PG_FL_STAT_TRUNCATED);
		return XDP_PASS;
	}
	c = bpf_map_lookup_elem(&pg_fl_config, &zero);
	if (!c)
		return XDP_PASS;
	fl_count(PG_FL_STAT_IP);
	now = bpf_ktime_get_ns();

	lpm.prefixlen = 128;
	__builtin_memcpy(lpm.addr, p.key.addr, 16);
	listed = bpf_map_lookup_elem(&pg_fl_deny, &lpm) != NULL;

	s = bpf_map_lookup_elem(&pg_fl_srcs, &p.key);
	if (!s) {
		fresh.window_start = now;
		/* NOEXIST: another CPU may have created it meanwhile; keep that one. */
		bpf_map_update_elem(&pg_fl_srcs, &p.key, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&pg_fl_srcs, &p.key);
		if (!s) {
			fl_count(PG_FL_STAT_SRC_FULL);
			goto verdict;
		}
	}
	if (now - s->window_start >= c->window_ns) {
		/* A new window: racy across CPUs, which at worst loses a few counts at the boundary. */
		s->window_start = now;
		s->packets = 0;
		s->syns = 0;
		s->udp = 0;
		s->ports = 0;
		s->alerted = 0;
		__builtin_memset(s->ports_seen, 0, sizeof(s->ports_seen));
	}
	__sync_fetch_and_add(&s->packets, 1);
	if (p.syn) {
		__sync_fetch_and_add(&s->syns, 1);
		fl_count(PG_FL_STAT_SYN);
	} else if (p.protocol == PG_IPPROTO_UDP) {
		__sync_fetch_and_add(&s->udp, 1);
		fl_count(PG_FL_STAT_UDP);
	}
	if (p.syn || p.protocol == PG_IPPROTO_UDP) {
		/* Fibonacci hash of the port to one of 1024 bits (linear counting, user space estimates). */
		bit = (p.port * 0x9E3779B1u) >> 22;
		w = &s->ports_seen[(bit >> 6) & (PG_FLOOD_PORT_BITS / 64 - 1)];
		if (!(*w & (1ULL << (bit & 63)))) {
			__sync_fetch_and_or(w, 1ULL << (bit & 63));
			__sync_fetch_and_add(&s->ports, 1);
		}
	}
	fl_alert(ctx, s, &p, c, PG_FLOOD_PACKETS, s->packets, c->packets, now);
	fl_alert(ctx, s, &p, c, PG_FLOOD_SYN, s->syns, c->syns, now);
	fl_alert(ctx, s, &p, c, PG_FLOOD_UDP, s->udp, c->udp, now);
	fl_alert(ctx, s, &p, c, PG_FLOOD_PORT_SCAN, s->ports, c->ports, now);
	if (listed && c->drop)
		__sync_fetch_and_add(&s->dropped, 1);
verdict:
	if (!listed)
		return XDP_PASS;
	if (!c->drop) {
		fl_count(PG_FL_STAT_WOULD_DROP);
		return XDP_PASS;
	}
	fl_count(PG_FL_STAT_DROPPED);
	return XDP_DROP;
}
