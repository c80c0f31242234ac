/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The classifier of the kernel LAN ports: gw_classify (XDP, ingress) and
 * gw_egress (TC, egress).  What they read and write, and why, is in
 * gw_bpf_abi.h; policy/tables.c's pol_tables_classify() is the same
 * classification over plain arrays and must stay step for step equal to
 * gw_classify_pkt() below.
 *
 * Every loop is bounded by a constant.  Per packet, the programs never
 * fail: they pass, drop or answer, and count why.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "gw_bpf_abi.h"
#include "pktlimits.h"

#define ETH_P_IP     0x0800
#define ETH_P_IPV6   0x86DD
#define ETH_P_8021Q  0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IP_OFFSET_MASK 0x1fff
#define IPV6_EXT_OFF_MAX 0x3fff /* p->l4 is a __u16; a pointer's offset stays < 64 KiB */
#define TC_ACT_OK 0 /* uapi pkt_cls.h: macros are not in vmlinux.h */
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7
#define AF_INET_  2
#define AF_INET6_ 10

/* The two hooks the classifier runs at (docs/ebpf.md, "Two hooks"): XDP,
 * or TC ingress where XDP would copy every packet (a veth).  One source:
 * the classification, flow table, counters, events and forward are the
 * same code; what differs (the context's fields, the conntrack kfuncs,
 * how the buffer is resized, the return codes) is behind the small
 * inline helpers below, which take the hook as a constant and compile
 * to one side.  The shared code speaks XDP's verdicts (XDP_PASS, _DROP,
 * _TX, _REDIRECT); gw_classify_tc turns them into TC's. */
#define HOOK_XDP 0
#define HOOK_TC  1

/* A packet pointer of the context, loaded in one instruction: clang may
 * otherwise add the field's offset to the context pointer first (it keeps
 * the offsets in registers across a helper call), which the verifier
 * refuses ("dereference of modified ctx ptr"). */
#define CTX_PTR(ctx, type, field)                                                   \
	({                                                                          \
		void *ptr_;                                                         \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                               \
			     : "=r"(ptr_)                                           \
			     : "r"(ctx), "i"(__builtin_offsetof(type, field)));     \
		ptr_;                                                               \
	})

static __always_inline void *h_data(void *ctx, const int hook)
{
	return hook == HOOK_TC ? CTX_PTR(ctx, struct __sk_buff, data)
			       : CTX_PTR(ctx, struct xdp_md, data);
}

static __always_inline void *h_end(void *ctx, const int hook)
{
	return hook == HOOK_TC ? CTX_PTR(ctx, struct __sk_buff, data_end)
			       : CTX_PTR(ctx, struct xdp_md, data_end);
}

/* The port the packet came in on (at TC ingress, the device the skb is
 * on: its skb_iif too, but for bpf_prog_test_run, which sets only the
 * device). */
static __always_inline __u32 h_ifindex(void *ctx, const int hook)
{
	return hook == HOOK_TC ? ((struct __sk_buff *)ctx)->ifindex
			       : ((struct xdp_md *)ctx)->ingress_ifindex;
}

/* The frame is cut or grown at its end to len bytes (link header
 * included); 0 or a negative errno. */
static __always_inline long h_set_len(void *ctx, const int hook, __u32 len)
{
	if (hook == HOOK_TC)
		return bpf_skb_change_tail(ctx, len, 0);
	/* The length now as a number first: the verifier allows no
	 * arithmetic on the end pointer itself. */
	__u32 now = (__u32)(h_end(ctx, hook) - h_data(ctx, hook));
	asm volatile("" : "+r"(now));
	return bpf_xdp_adjust_tail(ctx, (int)len - (int)now);
}

/* grow bytes more at the front of the frame. */
static __always_inline long h_grow_head(void *ctx, const int hook, __u32 grow)
{
	if (hook == HOOK_TC)
		return bpf_skb_change_head(ctx, grow, 0);
	return bpf_xdp_adjust_head(ctx, -(int)grow);
}

/* What bpf_redirect() returns when it took the target. */
static __always_inline long h_redirected(const int hook)
{
	return hook == HOOK_TC ? TC_ACT_REDIRECT : XDP_REDIRECT;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gw_epoch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS);
	__type(key, __u32);
	__type(value, struct pol_tables_header);
} gw_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_MAX_BITMAPS);
	__type(key, __u32);
	__type(value, struct gwbpf_bitmap);
} gw_bitmaps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_TIMELINES * GWBPF_TIMELINE);
	__type(key, __u32);
	__type(value, struct gwbpf_bitmap);
} gw_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_TIMELINES);
	__type(key, __u32);
	__type(value, struct gwbpf_timeline);
} gw_timeline SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SUMMARIES);
	__type(key, __u32);
	__type(value, __u64);
} gw_summaries SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct pol_tables_rule);
} gw_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GWBPF_MAX_MACS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gwbpf_mac_key);
	__type(value, struct gwbpf_mac_val);
} gw_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_PORTS_PER_SLOT);
	__type(key, __u32);
	__type(value, __u16);
} gw_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GWBPF_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gwbpf_lpm_key);
	__type(value, __u32);
} gw_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GWBPF_MAX_DOMAIN_ADDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gwbpf_addr_key);
	__type(value, struct gwbpf_domain_val);
} gw_domains SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GWBPF_MAX_LOCAL);
	__type(key, struct gwbpf_addr_key);
	__type(value, __u32);
} gw_local SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, GWBPF_MAX_SRC);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gwbpf_src_key);
	__type(value, __u32);
} gw_src SEC(".maps");

/* The flow table (gw_bpf_abi.h, gwbpf_flow_set): an array, so that a
 * lookup is a few direct loads; mmap'ed by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_FLOWS_DEFAULT / GWBPF_FLOW_WAYS); /* the loader's size */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct gwbpf_flow_set);
} gw_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gw_flow_seed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gwbpf_counters);
} gw_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_RULE_STATS);
	__type(key, __u32);
	__type(value, struct gwbpf_rule_stats);
} gw_rule_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GWBPF_MAX_RATES);
	__type(key, struct gwbpf_rate_key);
	__type(value, struct gwbpf_rate);
} gw_rates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GWBPF_EVENTS_BYTES);
} gw_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GWBPF_MAX_DEVICE_STATS);
	__type(key, struct gwbpf_device_key);
	__type(value, struct gwbpf_device_stats);
} gw_device_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GWBPF_MAX_SHAPES);
	__type(key, struct gwbpf_shape_key);
	__type(value, struct gwbpf_shape);
} gw_shapes SEC(".maps");

/* Written by the loader alone (gw_bpf_abi.h): no program reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gw_retired SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GWBPF_MAX_FWD_IFS);
	__type(key, __u32);
	__type(value, __u32); /* GWBPF_FWD_* */
} gw_fwd_ifs SEC(".maps");

#ifdef GWBPF_CT_KFUNCS /* meson: this kernel's BTF has them */
/* The kernel's conntrack, for XDP (net/netfilter/nf_conntrack_bpf.c). */
extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tuple,
					 __u32 tuple_len, struct bpf_ct_opts *opts,
					 __u32 opts_len) __ksym;
extern void bpf_ct_release(struct nf_conn *ct) __ksym;
extern struct nf_conn___init *bpf_xdp_ct_alloc(struct xdp_md *ctx, struct bpf_sock_tuple *tuple,
					       __u32 tuple_len, struct bpf_ct_opts *opts,
					       __u32 opts_len) __ksym;
/* ... and for TC. */
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *ctx, struct bpf_sock_tuple *tuple,
					 __u32 tuple_len, struct bpf_ct_opts *opts,
					 __u32 opts_len) __ksym;
extern struct nf_conn___init *bpf_skb_ct_alloc(struct __sk_buff *ctx, struct bpf_sock_tuple *tuple,
					       __u32 tuple_len, struct bpf_ct_opts *opts,
					       __u32 opts_len) __ksym;
extern void bpf_ct_set_timeout(struct nf_conn___init *ct, __u32 timeout_ms) __ksym;
extern struct nf_conn *bpf_ct_insert_entry(struct nf_conn___init *ct) __ksym;
#endif

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gwbpf_fwd_conf);
} gw_fwd_conf SEC(".maps");

/* The forward's route lookups: off the stack, which gw_classify, the
 * forward and the entry's creation share (512 bytes).  Per CPU, and a
 * program runs to completion. */
struct fwd_scratch {
	struct bpf_fib_lookup fib, rpf;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fwd_scratch);
} gw_fwd_scratch SEC(".maps");

/* The forward's routes, per CPU (gw_bpf_abi.h, "Forwarding in XDP", the
 * caches): a bpf_fib_lookup's answer for (ingress, source, destination,
 * TOS or flow label), and gw_fwd_ifs' flags of its egress, used within the
 * second (CLOCK_MONOTONIC_COARSE) it was looked up in, for packets no
 * longer than the one it was looked up for (the MTU).  A slot per hash of
 * the addresses; a collision looks the route up again. */
#define FWD_ROUTES 64
struct fwd_route {
	__u64 src[2], dst[2];
	__u32 in, out, sec, flags; /* sec: the second + 1 (0: empty) */
	__u32 label;               /* IPv4 TOS, or IPv6 flow info */
	__u16 max_len;
	__u8 family, pad;
	__u8 dmac[6], smac[6];
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FWD_ROUTES);
	__type(key, __u32);
	__type(value, struct fwd_route);
} gw_fwd_routes SEC(".maps");

/* Room for the destination bitmap (address | domains): too big for the
 * stack; and the words gw_first_rule() is to read (the AND of the
 * summaries), which its arguments have no room for.  Per CPU, and a
 * program runs to completion, so no one else uses it meanwhile. */
struct scratch {
	struct gwbpf_bitmap dst;
	__u64 words;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} gw_scratch SEC(".maps");

/* What the parser found. */
struct pkt {
	struct gwbpf_flow_key key;
	__u8 mac[6];
	__u16 len;
	__u16 l3, l4;  /* offsets of the IP header and what follows its headers */
	__u8 first;    /* not a later fragment: l4 holds the transport header */
	__u8 tcp_flags;
};

/* This CPU's counters.  gw_classify looks them up once and counts with
 * cnt(); the rarer paths count() with a lookup of their own. */
static __always_inline struct gwbpf_counters *counters(void)
{
	__u32 z = 0;
	return bpf_map_lookup_elem(&gw_counters, &z);
}

static __always_inline void cnt(struct gwbpf_counters *c, const __u32 which)
{
	if (c && which < GWBPF_CNT_COUNT)
		c->n[which] += 1;
}

static __always_inline void count(const __u32 which)
{
	cnt(counters(), which);
}

/* The live active buffer's timeline entry at jiffies jif (gw_bpf_abi.h,
 * "Schedules"): the last whose start is not after jif.  The entry found
 * last is tried first (two loads); else a binary search, whose answer is
 * left as the next run's hint (every CPU finds the same: a racy store
 * is harmless).  0 where the timeline is missing or empty. */
static __always_inline __u32 timeline_at(__u64 epoch, __u64 jif)
{
	__u32 k = (epoch & GWBPF_EPOCH_SLOT ? 2 : 0) + (epoch & GWBPF_EPOCH_ACTIVE ? 1 : 0);
	struct gwbpf_timeline *t = bpf_map_lookup_elem(&gw_timeline, &k);
	if (!t)
		return 0;
	__u32 n = t->n;
	if (n > GWBPF_TIMELINE)
		n = GWBPF_TIMELINE;
	if (n <= 1)
		return 0;
	__u32 h = t->hint & (GWBPF_TIMELINE - 1);
	if (h < n && t->start[h] <= jif &&
	    (h + 1 >= n || t->start[(h + 1) & (GWBPF_TIMELINE - 1)] > jif))
		return h;
	/* start[lo] <= jif (start[0] is 0), and the answer is below hi. */
	__u32 lo = 0, hi = n;
#pragma unroll
	for (__u32 i = 0; i < 8; i++) { /* log2(GWBPF_TIMELINE) + 1 halvings */
		__u32 mid = (lo + hi) / 2;
		if (mid == lo)
			continue;
		if (t->start[mid & (GWBPF_TIMELINE - 1)] <= jif)
			lo = mid;
		else
			hi = mid;
	}
	lo &= GWBPF_TIMELINE - 1;
	t->hint = lo;
	return lo;
}

/* The gw_rule_stats index of (slot, rule). */
static __always_inline __u32 stats_index(__u32 slot, __u32 rule)
{
	__u32 i = rule < GWBPF_MAX_RULES ? rule
		  : GWBPF_MAX_RULES + (rule == POL_TABLES_RULE_DEFAULT ? 0 : 1);
	return i + slot * GWBPF_RULE_STATS;
}

static __always_inline void count_rule(__u32 i, __u32 len)
{
	struct gwbpf_rule_stats *s = bpf_map_lookup_elem(&gw_rule_stats, &i);
	if (s) {
		s->packets += 1;
		s->bytes += len;
	}
}

/* ---------------------------------------------------------------- flows
 *
 * The set-associative flow table of gw_bpf_abi.h.  A way is read with
 * plain loads between two reads of its ver (flow_still()), so a reader
 * never acts on a way that was emptied or given to another flow meanwhile.
 */

/* A way found: its set, its number, its ver when found. */
struct way {
	struct gwbpf_flow_set *set;
	__u32 w;
	__u64 ver;
};

/* The flow hash's multipliers, made from gw_flow_seed[0] by
 * gwbpf_flow_mults(): given by the loader as load-time constants in
 * .rodata, where the seed was once a map lookup on every packet and the
 * multipliers a multiply more on the way to the set. */
const volatile __u64 gw_hash_m1 = 1, gw_hash_m2 = 1;
/* log2 of gw_flows' sets: the table's size is the loader's (gwd.conf's
 * ebpf_flows), a load-time constant too. */
const volatile __u32 gw_flow_bits = 16;

static __always_inline __u32 flow_hash(const struct gwbpf_flow_key *k, __u64 *tag, __u64 *rtag)
{
	return gwbpf_flow_hash_m(k, gw_hash_m1, gw_hash_m2, gw_flow_bits, tag, rtag);
}

static __always_inline struct gwbpf_flow_set *flow_set(__u32 set)
{
	return bpf_map_lookup_elem(&gw_flows, &set);
}

/* Way key a is packet key b, or (rev) b's reverse tuple: compared as five
 * words, the reverse without building it on the stack (the program's
 * stack, with its calls', is short). */
static __always_inline bool key_eq(const struct gwbpf_flow_key *a, const struct gwbpf_flow_key *b,
				   const bool rev)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	if (!rev)
		return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
	struct gwbpf_flow_key h;
	__builtin_memcpy(&h, b, 8);
	__be16 port = h.sport;
	h.sport = h.dport;
	h.dport = port;
	__u64 h0;
	__builtin_memcpy(&h0, &h, 8);
	return x[0] == h0 && x[1] == y[3] && x[2] == y[4] && x[3] == y[1] && x[4] == y[2];
}

static __always_inline __u64 load_ver(const struct gwbpf_flow_set *s, __u32 w)
{
	return *(volatile const __u64 *)&s->ver[w & (GWBPF_FLOW_WAYS - 1)];
}

/* The flow of key k (rev: of k's reverse tuple) with tag in set s, or NULL. */
static __always_inline struct gwbpf_flow *flow_find(struct gwbpf_flow_set *s,
						   const struct gwbpf_flow_key *k, const bool rev,
						   __u64 tag, struct way *ret)
{
	if (!s)
		return NULL;
#pragma unroll
	for (__u32 w = 0; w < GWBPF_FLOW_WAYS; w++) {
		__u64 v = load_ver(s, w);
		if ((v & (GWBPF_FLOW_VALID | GWBPF_FLOW_BUSY)) != GWBPF_FLOW_VALID || s->tag[w] != tag ||
		    !key_eq(&s->way[w].key, k, rev))
			continue;
		ret->set = s;
		ret->w = w;
		ret->ver = v;
		return &s->way[w].flow;
	}
	return NULL;
}

/* The way still holds the flow flow_find() found there. */
static __always_inline bool flow_still(const struct way *wy)
{
	asm volatile("" ::: "memory");
	return load_ver(wy->set, wy->w) == wy->ver;
}

/* Take a way to write a new epoch's verdict in place: false when it no
 * longer holds the flow found, or another writer has it.  Released with
 * ver unchanged: the way holds the same flow. */
static __always_inline bool flow_take(const struct way *wy)
{
	__u64 *p = &wy->set->ver[wy->w & (GWBPF_FLOW_WAYS - 1)];
	return __sync_val_compare_and_swap(p, wy->ver, wy->ver | GWBPF_FLOW_BUSY) == wy->ver;
}

static __always_inline void flow_release(const struct way *wy)
{
	__u64 *p = &wy->set->ver[wy->w & (GWBPF_FLOW_WAYS - 1)];
	__sync_val_compare_and_swap(p, wy->ver | GWBPF_FLOW_BUSY, wy->ver);
}

/* Insert key k (tag) with flow nf into set s: an empty way, else the
 * least recent flow's.  NULL when the chosen way is being written by
 * someone else: the packet is decided all the same, and not cached. */
static __always_inline struct gwbpf_flow *flow_insert(struct gwbpf_flow_set *s,
						     const struct gwbpf_flow_key *k, __u64 tag,
						     const struct gwbpf_flow *nf)
{
	__u32 victim = GWBPF_FLOW_WAYS;
	if (!s)
		return NULL;
#pragma unroll
	for (__u32 w = 0; w < GWBPF_FLOW_WAYS; w++) {
		if (!(load_ver(s, w) & (GWBPF_FLOW_VALID | GWBPF_FLOW_BUSY))) {
			victim = w;
			break;
		}
	}
	if (victim == GWBPF_FLOW_WAYS) {
		/* A full set: the least recent flow goes. */
		__u64 oldest = ~0ull;
#pragma unroll
		for (__u32 w = 0; w < GWBPF_FLOW_WAYS; w++) {
			if (load_ver(s, w) & GWBPF_FLOW_BUSY)
				continue;
			if (victim == GWBPF_FLOW_WAYS || s->way[w].flow.last_jiffies < oldest) {
				victim = w;
				oldest = s->way[w].flow.last_jiffies;
			}
		}
		if (victim == GWBPF_FLOW_WAYS)
			return NULL;
	}
	victim &= GWBPF_FLOW_WAYS - 1;
	__u64 v = load_ver(s, victim);
	if ((v & GWBPF_FLOW_BUSY) ||
	    __sync_val_compare_and_swap(&s->ver[victim], v, v | GWBPF_FLOW_BUSY) != v)
		return NULL;
	if (v & GWBPF_FLOW_VALID)
		count(GWBPF_CNT_FLOW_EVICT);
	s->tag[victim] = tag;
	s->way[victim].key = *k;
	s->way[victim].flow = *nf;
	__sync_val_compare_and_swap(&s->ver[victim], v | GWBPF_FLOW_BUSY,
				    ((v >> 2) + 1) << 2 | GWBPF_FLOW_VALID);
	return &s->way[victim].flow;
}

/* What parse() makes of a frame it does not hand on. */
#define PARSE_NOT_IP     1  /* no IP in it: not the policy's */
#define PARSE_TRUNCATED  -1 /* headers cut short */
#define PARSE_VLAN_DEEP  -2 /* more tags than GW_PKT_MAX_VLAN */
#define PARSE_IP6_DEEP   -3 /* more extension headers than GW_PKT_MAX_IP6_EXT */

/* 0, or PARSE_*: what cannot be parsed to its transport header within
 * policy/pktlimits.h is never "not IP", so the caller drops it.
 * mac_off: 6 to take the source MAC (ingress: the device sends), 0 to
 * take the destination (egress: the device receives). */
static __always_inline int parse(void *data, void *end, struct pkt *p, __u32 mac_off)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return PARSE_TRUNCATED;
	/* Two loads, not six byte loads and their shifts: the architectures
	 * gw runs on (x86-64, arm64) load unaligned words at no cost, and
	 * the verifier allows it there. */
	const __u8 *m = mac_off ? eth->h_source : eth->h_dest;
	*(__u32 *)p->mac = *(const __u32 *)m;
	*(__u16 *)(p->mac + 4) = *(const __u16 *)(m + 4);
	p->len = (__u16)(end - data);
	__u16 type = eth->h_proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < GW_PKT_MAX_VLAN; i++) {
		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = l3;
		if ((void *)(v + 1) > end)
			return PARSE_TRUNCATED;
		type = v->h_vlan_encapsulated_proto;
		l3 = v + 1;
	}
	/* One tag more than walked: whatever it carries, the kernel could
	 * route it (a priority tag, VID 0, is read as untagged). */
	if (type == bpf_htons(ETH_P_8021Q) || type == bpf_htons(ETH_P_8021AD))
		return PARSE_VLAN_DEEP;

	__u8 proto;
	void *l4;
	bool first = true;
	if (type == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return PARSE_TRUNCATED;
		if (ip->version != 4 || ip->ihl < 5)
			return PARSE_TRUNCATED;
		p->key.family = 4;
		__builtin_memcpy(p->key.src, &ip->saddr, 4);
		__builtin_memcpy(p->key.dst, &ip->daddr, 4);
		proto = ip->protocol;
		first = !(ip->frag_off & bpf_htons(IP_OFFSET_MASK));
		l4 = l3 + ip->ihl * 4;
	} else if (type == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return PARSE_TRUNCATED;
		p->key.family = 6;
		__builtin_memcpy(p->key.src, &ip6->saddr, 16);
		__builtin_memcpy(p->key.dst, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < GW_PKT_MAX_IP6_EXT; i++) {
			/* The headers so far as a bounded offset, not as a
			 * pointer whose range sums their lengths: every path
			 * (option, AH, fragment headers in any order) then
			 * reaches the next pass in one state, and the verifier
			 * walks each pass once instead of once per path.
			 * Headers past IPV6_EXT_OFF_MAX are cut short. */
			__u64 off = l4 - data;
			barrier_var(off);
			if (off > IPV6_EXT_OFF_MAX)
				return PARSE_TRUNCATED;
			l4 = data + off;
			if (!GW_PKT_IP6_IS_EXT(proto))
				break;
			struct ipv6_opt_hdr *o = l4;
			if ((void *)(o + 1) > end)
				return PARSE_TRUNCATED;
			if (proto == IPPROTO_FRAGMENT_) {
				struct frag_hdr *fh = l4;
				if ((void *)(fh + 1) > end)
					return PARSE_TRUNCATED;
				first = !(fh->frag_off & bpf_htons(0xfff8));
				proto = fh->nexthdr;
				l4 = fh + 1;
				if (!first)
					break;
				continue;
			}
			__u32 len = proto == IPPROTO_AH_ ? ((__u32)o->hdrlen + 2) * 4
						       : ((__u32)o->hdrlen + 1) * 8;
			proto = o->nexthdr;
			l4 += len;
		}
		/* Still an extension header after all that were walked: the
		 * ports are somewhere past it.  (A later fragment stops the
		 * walk: what follows its header is payload.) */
		if (first && GW_PKT_IP6_IS_EXT(proto))
			return PARSE_IP6_DEEP;
	} else {
		return PARSE_NOT_IP;
	}
	p->key.proto = proto;
	p->l3 = (__u16)(l3 - data);
	p->l4 = (__u16)(l4 - data);
	p->first = first;
	if (!first) {
		count(GWBPF_CNT_FRAGMENT);
		return 0;
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return PARSE_TRUNCATED;
		p->key.sport = ports[0];
		p->key.dport = ports[1];
		__u8 *tf = l4 + 13;
		if (proto == IPPROTO_TCP && (void *)(tf + 1) <= end)
			p->tcp_flags = *tf;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
		if (l4 + 4 > end)
			return PARSE_TRUNCATED;
	}
	return 0;
}

/* Traffic the policy does not govern: to the gateway itself, multicast,
 * broadcast and IPv6 link-local. */
static __always_inline bool is_local(const struct pkt *p)
{
	const __u8 *d = p->key.dst;
	if (p->key.family == 4) {
		if ((d[0] & 0xf0) == 0xe0 || (d[0] == 255 && d[1] == 255 && d[2] == 255 && d[3] == 255))
			return true;
	} else {
		if (d[0] == 0xff || (d[0] == 0xfe && (d[1] & 0xc0) == 0x80))
			return true;
	}
	struct gwbpf_addr_key k = { .family = p->key.family };
	__builtin_memcpy(k.addr, d, 16);
	return bpf_map_lookup_elem(&gw_local, &k) != NULL;
}

/* The source is one of the port's (gw_src): a device sends from its own
 * addresses, never from the internet's or another port's. */
static __always_inline bool src_ok(const struct pkt *p, __u32 ifindex)
{
	struct gwbpf_src_key k = {
		.prefixlen = GWBPF_SRC_HEAD + (p->key.family == 4 ? 32 : 128),
		.ifindex = ifindex,
		.family = p->key.family,
	};
	__builtin_memcpy(k.addr, p->key.src, 16);
	return bpf_map_lookup_elem(&gw_src, &k) != NULL;
}

/* The two MACs are one. */
static __always_inline bool same_mac(const __u8 *a, const __u8 *b)
{
	return *(const __u32 *)a == *(const __u32 *)b &&
	       *(const __u16 *)(a + 4) == *(const __u16 *)(b + 4);
}

static __always_inline const struct gwbpf_bitmap *bitmap(__u32 slot, __u32 i)
{
	__u32 k = slot * GWBPF_MAX_BITMAPS + i;
	return bpf_map_lookup_elem(&gw_bitmaps, &k);
}

/* A bitmap's summary (gw_summaries); all words when it is missing, which
 * costs time, never a wrong answer. */
static __always_inline __u64 summary(__u32 i)
{
	const __u64 *s = bpf_map_lookup_elem(&gw_summaries, &i);
	return s ? *s : ~0ull;
}

/* The index of the lowest set bit of m != 0, without a branch (a
 * De Bruijn sequence): a branch per step would give the verifier a state
 * per path through every loop that calls it. */
static const __u8 debruijn[64] = {
	0, 1, 2, 53, 3, 7, 54, 27, 4, 38, 41, 8, 34, 55, 48, 28,
	62, 5, 39, 46, 44, 42, 22, 9, 24, 35, 59, 56, 49, 18, 29, 11,
	63, 52, 6, 26, 37, 40, 33, 47, 61, 45, 43, 21, 23, 58, 17, 10,
	51, 25, 36, 32, 60, 20, 57, 16, 50, 31, 19, 15, 30, 14, 13, 12,
};

static __always_inline __u32 lowest_bit(__u64 m)
{
	return debruijn[((m & -m) * 0x022fdd63cc95386dull) >> 58];
}

/* Global functions are verified once, on their own, whatever the number of
 * call sites and the state of the caller: the loops over the bitmaps live
 * in them (here, gw_first_rule() and gw_or_domains()) so that the
 * verifier's work stays small.  Their frames count towards the 512-byte
 * stack of the deepest chain of calls, gw_egress -> gw_classify_pkt ->
 * gw_or_domains -> gw_or_bitmap (480 bytes with clang 14). */
__noinline int gw_or_bitmap(struct gwbpf_bitmap *dst, const struct gwbpf_bitmap *src)
{
	if (!dst || !src)
		return -1;
	for (__u32 w = 0; w < GWBPF_WORDS; w++)
		dst->w[w] |= src->w[w];
	return 0;
}

/* The first rule set in all five bitmaps, or -1.  Only the words named
 * in gw_scratch's `words` (the AND of the five summaries) can hold one. */
__noinline int gw_first_rule(const struct gwbpf_bitmap *a, const struct gwbpf_bitmap *b,
			     const struct gwbpf_bitmap *c, const struct gwbpf_bitmap *d,
			     const struct gwbpf_bitmap *e)
{
	__u32 z = 0;
	const struct scratch *sc = bpf_map_lookup_elem(&gw_scratch, &z);
	if (!a || !b || !c || !d || !e || !sc)
		return -1;
	__u64 words = sc->words;
	for (__u32 i = 0; i < GWBPF_WORDS; i++) {
		if (!words)
			break;
		__u32 w = lowest_bit(words) & (GWBPF_WORDS - 1);
		words &= words - 1;
		__u64 m = a->w[w] & b->w[w] & c->w[w] & d->w[w] & e->w[w];
		if (m)
			return (int)(w * 64 + lowest_bit(m));
	}
	return -1;
}

/* OR the bitmaps of the slot's domain sets named in `sets` (bit s: set s)
 * into gw_scratch's dst, and their summaries into its `words`; 0, or -1
 * when a bitmap is missing.  One pass per set bit, the lowest first, with
 * no branch but the exits; global, so that the verifier walks the loop
 * once, not once per state of gw_classify_pkt() that reaches it. */
__noinline int gw_or_domains(__u32 slot, __u64 sets)
{
	__u32 z = 0;
	struct scratch *sc = bpf_map_lookup_elem(&gw_scratch, &z);
	if (!sc)
		return -1;
	slot &= 1;
	__u64 words = sc->words;
	for (__u32 i = 0; i < 64; i++) {
		if (!sets)
			break;
		__u32 s = lowest_bit(sets) & 63;
		sets &= sets - 1;
		if (gw_or_bitmap(&sc->dst, bitmap(slot, POL_TABLES_BM_DOMAIN0 + s)) < 0)
			return -1;
		words |= summary(slot * GWBPF_MAX_BITMAPS + POL_TABLES_BM_DOMAIN0 + s);
	}
	sc->words = words;
	return 0;
}

/* The bit-vector classification (policy/tables.h); 0, or -1 when a policy map
 * lacks an entry the loader always writes.  Global, so verified once on its
 * own: as a static function it was verified again for every state of its
 * callers that reached a call (see "Verifier load time" in
 * docs/performance.md). */
__noinline int gw_classify_pkt(const struct pkt *p, __u64 epoch, __u32 entry,
			       struct gwbpf_flow *ret)
{
	if (!p || !ret)
		return -1;
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	__u32 k = slot;
	const struct pol_tables_header *pol = bpf_map_lookup_elem(&gw_policy, &k);
	if (!pol)
		return -1;

	struct gwbpf_mac_key mk = { .slot = (__u8)slot };
	__builtin_memcpy(mk.mac, p->mac, 6);
	const struct gwbpf_mac_val *mv = bpf_map_lookup_elem(&gw_macs, &mk);

	__u32 si = slot * GWBPF_MAX_BITMAPS, subj_i = mv ? mv->subject : pol->subj_new;
	const struct gwbpf_bitmap *subj = bitmap(slot, subj_i);
	__u64 words = summary(si + subj_i);

	const struct gwbpf_bitmap *proto, *port;
	__u8 pr = p->key.proto;
	if (pr == IPPROTO_TCP || pr == IPPROTO_UDP) {
		__u32 proto_i = pr == IPPROTO_TCP ? POL_TABLES_BM_TCP : POL_TABLES_BM_UDP;
		proto = bitmap(slot, proto_i);
		k = slot * GWBPF_PORTS_PER_SLOT + bpf_ntohs(p->key.dport);
		const __u16 *pc = bpf_map_lookup_elem(&gw_ports, &k);
		if (!pc)
			return -1;
		port = bitmap(slot, *pc);
		words &= summary(si + proto_i) & summary(si + *pc);
	} else {
		__u32 proto_i = pr == IPPROTO_ICMP || pr == IPPROTO_ICMPV6_ ? POL_TABLES_BM_ICMP
									    : POL_TABLES_BM_OTHER;
		proto = bitmap(slot, proto_i);
		port = proto; /* no port: AND-ing a bitmap twice changes nothing */
		words &= summary(si + proto_i);
	}

	struct gwbpf_lpm_key lk = {
		.prefixlen = GWBPF_LPM_HEAD + (p->key.family == 4 ? 32 : 128),
		.slot = (__u8)slot,
		.family = p->key.family,
	};
	__builtin_memcpy(lk.addr, p->key.dst, 16);
	const __u32 *ac = bpf_map_lookup_elem(&gw_prefixes, &lk);
	__u32 addr_i = ac ? *ac : pol->addr_miss;
	const struct gwbpf_bitmap *addr = bitmap(slot, addr_i);
	__u64 dst_words = summary(si + addr_i);

	/* The schedule mask: the live buffer's timeline entry now. */
	k = (slot * 2 + (epoch & GWBPF_EPOCH_ACTIVE ? 1 : 0)) * GWBPF_TIMELINE +
	    (entry & (GWBPF_TIMELINE - 1));
	const struct gwbpf_bitmap *act = bpf_map_lookup_elem(&gw_active, &k);
	words &= summary(GWBPF_SUMMARY_ACTIVE + k);
	if (!subj || !proto || !port || !addr || !act)
		return -1;

	/* The destination bitmap is the address's, unless the address is in
	 * domain sets: then a copy OR'ed with theirs. */
	const struct gwbpf_bitmap *dst = addr;
	__u64 sets = 0;
	if (pol->flags & POL_TABLES_F_DOMAINS) {
		struct gwbpf_addr_key dk = { .slot = (__u8)slot, .family = p->key.family };
		__builtin_memcpy(dk.addr, p->key.dst, 16);
		const struct gwbpf_domain_val *dv = bpf_map_lookup_elem(&gw_domains, &dk);
		sets = dv && dv->expires_ns > bpf_ktime_get_ns() ? dv->sets : 0;
	}
	k = 0;
	struct scratch *sc = bpf_map_lookup_elem(&gw_scratch, &k);
	if (!sc)
		return -1;
	if (sets) {
		sc->dst = *addr;
		dst = &sc->dst;
		sc->words = dst_words;
		if (gw_or_domains(slot, sets) < 0)
			return -1;
		dst_words = sc->words;
	}
	sc->words = words & dst_words;

	ret->device = mv ? mv->device : ~0u;
	ret->rule = mv ? POL_TABLES_RULE_DEFAULT : POL_TABLES_RULE_DEFAULT_NEW;
	ret->action = mv ? pol->default_action : pol->default_new;
	ret->flags = 0;
	int rule = gw_first_rule(subj, proto, port, dst, act);
	if (rule < 0)
		return 0;
	k = slot * GWBPF_MAX_RULES + (__u32)rule;
	const struct pol_tables_rule *r = bpf_map_lookup_elem(&gw_rules, &k);
	if (!r)
		return -1;
	ret->rule = (__u32)rule;
	ret->action = r->action;
	ret->flags = r->flags;
	return 0;
}

/* ---------------------------------------------------------------- reject
 *
 * The answer is built in the packet's own buffer and sent back where it came
 * from (XDP_TX), VLAN tags and all: a TCP RST for TCP, else an ICMP or
 * ICMPv6 port unreachable quoting the packet's IP headers and 8 bytes (as
 * nftables' `reject` answers on the kernel path).  Never an answer to a RST,
 * an ICMP error or a later fragment: those are dropped.
 */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define L2_MAX (14 + 4 * GW_PKT_MAX_VLAN) /* Ethernet and its VLAN tags */
#define L3_HDR_MAX 120 /* IP header, options or extension headers, quoted */
#define CSUM_WORDS ((20 + 8 + L3_HDR_MAX + 8) / 2)

/* One's complement sums of 16-bit words: a fixed count on the stack, and
 * up to n words of the packet at off (global, so verified once, whatever
 * the count: the verifier would otherwise carry one state per length). */
static __always_inline __u32 sum_stack(const void *w, const __u32 n)
{
	__u32 s = 0;
	const __u16 *p = w;
#pragma unroll
	for (__u32 i = 0; i < n; i++)
		s += p[i];
	return s;
}

static __always_inline __u32 sum_packet(void *ctx, const int hook, __u32 off, __u32 n)
{
	void *data = h_data(ctx, hook), *end = h_end(ctx, hook);
	__u32 s = 0;
	if (off > L2_MAX + L3_HDR_MAX + 48)
		return 0;
	const __u16 *p = data + off;
	for (__u32 i = 0; i < CSUM_WORDS; i++) {
		if (i >= n || (const void *)(p + i + 1) > end)
			break;
		s += p[i];
	}
	return s;
}

__noinline __u32 gw_sum_packet(struct xdp_md *ctx, __u32 off, __u32 n)
{
	return sum_packet(ctx, HOOK_XDP, off, n);
}

__noinline __u32 gw_sum_packet_tc(struct __sk_buff *ctx, __u32 off, __u32 n)
{
	return sum_packet(ctx, HOOK_TC, off, n);
}

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* The pseudo-header of TCP and ICMPv6 checksums. */
struct pseudo6 {
	__u8 src[16], dst[16];
	__be32 len;
	__u8 zero[3], next;
};

struct pseudo4 {
	__u8 src[4], dst[4];
	__u8 zero, proto;
	__be16 len;
};

static __always_inline __u32 pseudo_sum(const struct pkt *p, __u8 proto, __u16 len)
{
	/* The answer goes from the packet's destination to its source. */
	if (p->key.family == 4) {
		struct pseudo4 ph = { .proto = proto, .len = bpf_htons(len) };
		__builtin_memcpy(ph.src, p->key.dst, 4);
		__builtin_memcpy(ph.dst, p->key.src, 4);
		return sum_stack(&ph, sizeof(ph) / 2);
	}
	struct pseudo6 ph = { .len = bpf_htonl(len), .next = proto };
	__builtin_memcpy(ph.src, p->key.dst, 16);
	__builtin_memcpy(ph.dst, p->key.src, 16);
	return sum_stack(&ph, sizeof(ph) / 2);
}

/* Turn the Ethernet header around, and write the answer's IP header at l3
 * for `payload` bytes of `proto`.  0, or -1 if the buffer is too short. */
static __always_inline int answer_l2_l3(void *data, void *end, const struct pkt *p, __u32 l3,
					__u8 proto, __u16 payload)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__u8 mac[6];
	__builtin_memcpy(mac, eth->h_source, 6);
	__builtin_memcpy(eth->h_source, eth->h_dest, 6);
	__builtin_memcpy(eth->h_dest, mac, 6);
	/* Headers are built on the stack and copied: read back from the
	 * packet, they would need bounds the compiler does not keep. */
	if (p->key.family == 4) {
		__u16 tot = 20 + payload;
		__u8 h[20] = {
			0x45, 0, (__u8)(tot >> 8), (__u8)tot,
			0, 0, 0x40, 0, /* id 0, DF */
			64, proto, 0, 0,
		};
		__builtin_memcpy(h + 12, p->key.dst, 4);
		__builtin_memcpy(h + 16, p->key.src, 4);
		__u16 check = fold(sum_stack(h, 10));
		__builtin_memcpy(h + 10, &check, 2);
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > end)
			return -1;
		__builtin_memcpy(ip, h, 20);
		return 0;
	}
	__u8 h[40] = { 0x60, 0, 0, 0, (__u8)(payload >> 8), (__u8)payload, proto, 64 };
	__builtin_memcpy(h + 8, p->key.dst, 16);
	__builtin_memcpy(h + 24, p->key.src, 16);
	struct ipv6hdr *ip6 = data + l3;
	if ((void *)(ip6 + 1) > end)
		return -1;
	__builtin_memcpy(ip6, h, 40);
	return 0;
}

/* In TC the frame is made linear first: the answer is written over it. */
static __always_inline int h_linear(void *ctx, const int hook)
{
	if (hook != HOOK_TC)
		return 0;
	struct __sk_buff *skb = ctx;
	return bpf_skb_pull_data(skb, skb->len) ? -1 : 0;
}

static __always_inline int reject_tcp(void *ctx, const int hook, const struct pkt *p)
{
	if (!p || h_linear(ctx, hook))
		return -1;
	void *data = h_data(ctx, hook), *end = h_end(ctx, hook);
	__u32 l3 = p->l3, l4 = p->l4;
	if (l3 > L2_MAX || l4 > L2_MAX + L3_HDR_MAX)
		return -1;
	__u8 *t = data + l4;
	if ((void *)(t + 20) > end)
		return -1;
	__u8 flags = t[13];
	if (flags & TCP_RST)
		return -1;
	__u32 seq = bpf_ntohl(*(__be32 *)(t + 4)), ack = bpf_ntohl(*(__be32 *)(t + 8));
	__u32 hl = l4 - l3, doff = (__u32)(t[12] >> 4) * 4, total;
	if (p->key.family == 4) {
		struct iphdr *ip = data + l3;
		if ((void *)(ip + 1) > end)
			return -1;
		total = bpf_ntohs(ip->tot_len);
	} else {
		struct ipv6hdr *ip6 = data + l3;
		if ((void *)(ip6 + 1) > end)
			return -1;
		total = 40 + bpf_ntohs(ip6->payload_len);
	}
	__u32 seglen = total > hl + doff ? total - hl - doff : 0;
	seglen += !!(flags & TCP_SYN) + !!(flags & TCP_FIN);

	__u32 ipl = p->key.family == 4 ? 20 : 40;
	if (h_set_len(ctx, hook, l3 + ipl + 20))
		return -1;
	data = h_data(ctx, hook);
	end = h_end(ctx, hook);
	if (answer_l2_l3(data, end, p, l3, IPPROTO_TCP, 20) < 0)
		return -1;
	__u8 h[20] = {};
	__builtin_memcpy(h, &p->key.dport, 2);
	__builtin_memcpy(h + 2, &p->key.sport, 2);
	/* RFC 9293 3.10.7.1: an ACK is answered from its ack number; anything
	 * else with an ACK of what it carried. */
	*(__be32 *)(h + 4) = bpf_htonl(flags & TCP_ACK ? ack : 0);
	*(__be32 *)(h + 8) = bpf_htonl(flags & TCP_ACK ? 0 : seq + seglen);
	h[12] = 5 << 4; /* no options; window and urgent pointer 0 */
	h[13] = flags & TCP_ACK ? TCP_RST : TCP_RST | TCP_ACK;
	*(__u16 *)(h + 16) = fold(pseudo_sum(p, IPPROTO_TCP, 20) + sum_stack(h, 10));
	t = data + l3 + ipl;
	if ((void *)(t + 20) > end)
		return -1;
	__builtin_memcpy(t, h, 20);
	return 0;
}

/* Global, so verified once on its own: see gw_or_bitmap(). */
__noinline int gw_reject_tcp(struct xdp_md *ctx, const struct pkt *p)
{
	return reject_tcp(ctx, HOOK_XDP, p);
}

__noinline int gw_reject_tcp_tc(struct __sk_buff *ctx, const struct pkt *p)
{
	return reject_tcp(ctx, HOOK_TC, p);
}

static __always_inline int reject_icmp(void *ctx, const int hook, const struct pkt *p)
{
	if (!p || h_linear(ctx, hook))
		return -1;
	void *data = h_data(ctx, hook), *end = h_end(ctx, hook);
	__u32 l3 = p->l3, l4 = p->l4;
	if (l3 > L2_MAX || l4 > L2_MAX + L3_HDR_MAX || l4 < l3)
		return -1;
	__u32 hl = l4 - l3;
	if (hl > L3_HDR_MAX)
		return -1;
	__u8 *t = data + l4;
	if (p->key.proto == IPPROTO_ICMP || p->key.proto == IPPROTO_ICMPV6_) {
		if ((void *)(t + 1) > end)
			return -1;
		__u8 type = t[0];
		if (p->key.family == 4 && p->key.proto == IPPROTO_ICMP &&
		    (type == 3 || type == 4 || type == 5 || type == 11 || type == 12))
			return -1;
		if (p->key.family == 6 && p->key.proto == IPPROTO_ICMPV6_ && type < 128)
			return -1;
	}
	/* Quote the IP headers and 8 bytes of what follows, if there. */
	__u32 q = (void *)(t + 8) <= end ? hl + 8 : hl;
	__u32 ipl = p->key.family == 4 ? 20 : 40, grow = ipl + 8;

	if (h_grow_head(ctx, hook, grow))
		return -1;
	data = h_data(ctx, hook);
	end = h_end(ctx, hook);
	/* The link header moves to the new front; the old IP header stays
	 * where it was and becomes the quote. */
	__u8 *d = data;
	/* Always L2_MAX bytes: past l3 they land where the new IP header is
	 * written next; source and destination never overlap (grow > L2_MAX). */
	if (grow == 28) {
		if ((void *)(d + 28 + L2_MAX) > end)
			return -1;
		__builtin_memcpy(d, d + 28, L2_MAX);
	} else {
		if ((void *)(d + 48 + L2_MAX) > end)
			return -1;
		__builtin_memcpy(d, d + 48, L2_MAX);
	}
	if (h_set_len(ctx, hook, l3 + grow + q))
		return -1;
	data = h_data(ctx, hook);
	end = h_end(ctx, hook);
	if (answer_l2_l3(data, end, p, l3, p->key.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6_,
			 (__u16)(8 + q)) < 0)
		return -1;
	__u8 *ic = data + l3 + ipl;
	if ((void *)(ic + 8) > end)
		return -1;
	/* Port unreachable: ICMP 3/3, ICMPv6 1/4. */
	ic[0] = p->key.family == 4 ? 3 : 1;
	ic[1] = p->key.family == 4 ? 3 : 4;
	*(__u16 *)(ic + 2) = 0;
	*(__u32 *)(ic + 4) = 0;
	__u32 sum = hook == HOOK_TC ? gw_sum_packet_tc(ctx, l3 + ipl, (8 + q) / 2)
				    : gw_sum_packet(ctx, l3 + ipl, (8 + q) / 2);
	if (p->key.family == 6)
		sum += pseudo_sum(p, IPPROTO_ICMPV6_, (__u16)(8 + q));
	data = h_data(ctx, hook);
	end = h_end(ctx, hook);
	ic = data + l3 + ipl;
	if ((void *)(ic + 8) > end)
		return -1;
	*(__u16 *)(ic + 2) = fold(sum);
	return 0;
}

__noinline int gw_reject_icmp(struct xdp_md *ctx, const struct pkt *p)
{
	return reject_icmp(ctx, HOOK_XDP, p);
}

__noinline int gw_reject_icmp_tc(struct __sk_buff *ctx, const struct pkt *p)
{
	return reject_icmp(ctx, HOOK_TC, p);
}

/* ---------------------------------------------------------------- rate */

/* Take len bytes from the bucket of (rule, device, dir); false when it
 * lacks them.  Buckets are shared by the CPUs without a lock: two CPUs
 * refilling at once may let a few extra bytes through, never fewer. */
__noinline int gw_rate_take(const struct pkt *p, __u32 slot, const struct gwbpf_flow *f,
			    __u32 len, __u32 dir)
{
	if (!p || !f)
		return true;
	__u32 rule = f->rule, device = f->device;
	__u32 k = slot * GWBPF_MAX_RULES + rule;
	const struct pol_tables_rule *r = bpf_map_lookup_elem(&gw_rules, &k);
	if (!r || !(r->flags & POL_TABLES_RULE_RATE) || !r->rate_bps)
		return true;
	__u64 bytes_per_s = r->rate_bps / 8 ? r->rate_bps / 8 : 1;
	if (bytes_per_s > 10000000000ull) /* 80 Gbit/s: beyond, no limit bites */
		return true;
	__u64 burst = bytes_per_s * POL_TABLES_RATE_BURST_MS / 1000;
	if (burst < POL_TABLES_RATE_BURST_MIN)
		burst = POL_TABLES_RATE_BURST_MIN;

	struct gwbpf_rate_key rk = { .rule = rule, .device = device, .slot = (__u8)slot,
				     .dir = dir };
	if (device == ~0u)
		__builtin_memcpy(rk.mac, p->mac, 6);
	__u64 now = bpf_ktime_get_ns();
	struct gwbpf_rate *b = bpf_map_lookup_elem(&gw_rates, &rk);
	if (!b) {
		struct gwbpf_rate nb = { .tokens = burst, .last_ns = now };
		bpf_map_update_elem(&gw_rates, &rk, &nb, BPF_NOEXIST);
		b = bpf_map_lookup_elem(&gw_rates, &rk);
		if (!b)
			return true;
	}
	__u64 elapsed = now > b->last_ns ? now - b->last_ns : 0;
	/* A second fills any bucket; the cap also keeps the product small. */
	if (elapsed > 1000000000ull)
		elapsed = 1000000000ull;
	__u64 tokens = b->tokens + elapsed * bytes_per_s / 1000000000ull;
	if (tokens > burst)
		tokens = burst;
	b->last_ns = now;
	if (tokens < len) {
		b->tokens = tokens;
		return false;
	}
	b->tokens = tokens - len;
	return true;
}

/* The class of flow f's rate in slot (gw_bpf_abi.h, "Rates"): its
 * download on port ifindex, or its upload (ifindex 0); or 0: none yet.
 * Then it is asked for (a GWBPF_EV_SHAPE event, at most every
 * GWBPF_SHAPE_ASK_NS), and the caller polices the rate meanwhile.
 * *ret_ifb: where an upload goes to be shaped. */
__noinline __u32 gw_shape_class(const struct pkt *p, __u32 slot, const struct gwbpf_flow *f,
				__u32 ifindex, __u32 *ret_ifb)
{
	if (!p || !f || !ret_ifb)
		return 0;
	__u32 dir = ifindex ? GWBPF_DIR_DOWN : GWBPF_DIR_UP;
	struct gwbpf_shape_key k = { .rule = f->rule, .device = f->device, .slot = (__u8)slot,
				     .dir = (__u8)dir, .ifindex = ifindex };
	if (f->device == ~0u)
		__builtin_memcpy(k.mac, p->mac, 6);
	struct gwbpf_shape *s = bpf_map_lookup_elem(&gw_shapes, &k);
	if (s && s->classid) {
		*ret_ifb = s->ifindex;
		return s->classid;
	}
	__u64 now = bpf_ktime_get_ns();
	if (s) {
		if (now - s->asked_ns < GWBPF_SHAPE_ASK_NS)
			return 0;
		s->asked_ns = now;
	} else {
		struct gwbpf_shape ns = { .asked_ns = now };
		/* Another CPU's request got there first: it asks. */
		if (bpf_map_update_elem(&gw_shapes, &k, &ns, BPF_NOEXIST))
			return 0;
	}
	struct gwbpf_event *e = bpf_ringbuf_reserve(&gw_events, sizeof(*e), 0);
	if (!e) {
		count(GWBPF_CNT_EVENT_LOST);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->kind = GWBPF_EV_SHAPE;
	e->action = f->action;
	e->flags = f->flags;
	e->rule = f->rule;
	e->device = f->device;
	e->epoch = f->epoch;
	__builtin_memcpy(e->mac, p->mac, 6);
	e->time_ns = now;
	e->key = p->key;
	e->ifindex = ifindex;
	e->dir = (__u8)dir;
	e->slot = (__u8)slot;
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	count(GWBPF_CNT_SHAPE_ASK);
	return 0;
}

/* An upload of a rated flow has its class: gw_ingress, on TC ingress of
 * the same port, hands it to it.  Else the caller polices it.  (XDP cannot
 * tell gw_ingress through the packet's metadata: this kernel refuses
 * bpf_xdp_adjust_meta in a program with subprograms.) */
static __always_inline bool shape_up(const struct pkt *p, __u32 slot, const struct gwbpf_flow *f)
{
	__u32 ifb = 0;
	return gw_shape_class(p, slot, f, 0, &ifb) != 0;
}

/* The verdict as an XDP action; a reject becomes XDP_TX of its answer
 * (in TC: a redirect to the port's egress). */
static __always_inline int verdict(void *ctx, const int hook, const struct pkt *p, __u8 action,
				   struct gwbpf_counters *cn)
{
	if (action == POL_TABLES_ALLOW)
		return XDP_PASS; /* PASS: derived (gw_bpf_abi.h) */
	if (action == POL_TABLES_REJECT) {
		int r = -1;
		if (p->first && hook == HOOK_TC)
			r = p->key.proto == IPPROTO_TCP ? gw_reject_tcp_tc(ctx, p)
							: gw_reject_icmp_tc(ctx, p);
		else if (p->first)
			r = p->key.proto == IPPROTO_TCP ? gw_reject_tcp(ctx, p)
							: gw_reject_icmp(ctx, p);
		if (r == 0) {
			cnt(cn, GWBPF_CNT_REJECT);
			return XDP_TX;
		}
		cnt(cn, GWBPF_CNT_REJECT_DROP);
		return XDP_DROP;
	}
	cnt(cn, GWBPF_CNT_DROP);
	return XDP_DROP;
}

/* When the reader was last woken (CLOCK_MONOTONIC_COARSE), by any CPU:
 * a racy store is harmless, two CPUs at worst both wake it. */
__u64 gw_events_woken = 0;

/* The submit flags of an event at now (gw_bpf_abi.h, "Wakeups"). */
static __always_inline __u64 wake_flags(__u64 now)
{
	__u64 woken = *(volatile __u64 *)&gw_events_woken;
	if (now - woken < GWBPF_EVENTS_WAKE_NS &&
	    bpf_ringbuf_query(&gw_events, BPF_RB_AVAIL_DATA) < GWBPF_EVENTS_WAKE_BYTES)
		return BPF_RB_NO_WAKEUP;
	gw_events_woken = now;
	return BPF_RB_FORCE_WAKEUP;
}

/* time_ns: CLOCK_MONOTONIC_COARSE now, or 0 to have it read here.  The
 * event's key is *key, or (rev) its reverse tuple, written straight into
 * the record rather than built on the stack. */
static __always_inline void event(__u8 kind, const struct pkt *p, const struct gwbpf_flow_key *key,
				  const bool rev, const struct gwbpf_flow *f, __u64 time_ns)
{
	struct gwbpf_event *e = bpf_ringbuf_reserve(&gw_events, sizeof(*e), 0);
	if (!e) {
		count(GWBPF_CNT_EVENT_LOST);
		return;
	}
	e->kind = kind;
	e->action = f->action;
	e->flags = f->flags;
	e->pad = 0;
	e->rule = f->rule;
	e->device = f->device;
	e->epoch = f->epoch;
	__builtin_memcpy(e->mac, p->mac, 6);
	e->pad2[0] = e->pad2[1] = 0;
	__u64 now = time_ns ? time_ns : bpf_ktime_get_coarse_ns();
	e->time_ns = now;
	e->packets = f->packets;
	e->bytes = f->bytes;
	e->packets_down = f->packets_down;
	e->bytes_down = f->bytes_down;
	e->key = *key;
	if (rev) {
		__builtin_memcpy(e->key.src, key->dst, 16);
		__builtin_memcpy(e->key.dst, key->src, 16);
		e->key.sport = key->dport;
		e->key.dport = key->sport;
	}
	bpf_ringbuf_submit(e, wake_flags(now));
}

/* The first FIN or RST of a TCP flow ends it, once. */
static __always_inline void maybe_end(const struct pkt *p, const struct gwbpf_flow_key *key,
				      const bool rev, struct gwbpf_flow *f)
{
	if (p->key.proto != IPPROTO_TCP || !(p->tcp_flags & (TCP_FIN | TCP_RST)) ||
	    (f->state & GWBPF_FLOW_ENDED))
		return;
	f->state |= GWBPF_FLOW_ENDED;
	event(GWBPF_EV_END, p, key, rev, f, 0);
}

/* A packet the flow's device sent.  Plain adds: packets and bytes have
 * one writer, the CPU that takes this flow's packets from the device's
 * port (gw_bpf_abi.h, struct gwbpf_flow), where two locked adds cost an
 * established flow's packet a tenth of its time. */
static __always_inline void flow_count(struct gwbpf_flow *f, __u64 jiffies, __u32 len)
{
	f->packets += 1;
	f->bytes += len;
	f->last_jiffies = jiffies;
}

/* ------------------------------------------------------ forward in XDP */

/* The second (low byte) for a flow's refresh (gw_bpf_abi.h, "Forwarding in
 * XDP"). */
static __always_inline __u8 stack_second(__u64 now_ns)
{
	return (__u8)(now_ns / 1000000000ull);
}

#ifdef GWBPF_CT_KFUNCS
/* The connection's other direction is the inverse of the packet's tuple:
 * no NAT.  t: the other direction's tuple in the entry. */
static __always_inline bool ct_plain(const struct nf_conntrack_tuple *t, const struct pkt *p)
{
	if (t->src.u.all != p->key.dport || t->dst.u.all != p->key.sport)
		return false;
	if (p->key.family == 4)
		return t->src.u3.ip == *(const __u32 *)p->key.dst &&
		       t->dst.u3.ip == *(const __u32 *)p->key.src;
	const __u32 *s = (const __u32 *)p->key.src, *d = (const __u32 *)p->key.dst;
	return t->src.u3.all[0] == d[0] && t->src.u3.all[1] == d[1] &&
	       t->src.u3.all[2] == d[2] && t->src.u3.all[3] == d[3] &&
	       t->dst.u3.all[0] == s[0] && t->dst.u3.all[1] == s[1] &&
	       t->dst.u3.all[2] == s[2] && t->dst.u3.all[3] == s[3];
}

/* The packet's tuple for conntrack's kfuncs: its length. */
static __always_inline __u32 ct_tuple(const struct pkt *p, struct bpf_sock_tuple *t)
{
	if (p->key.family == 4) {
		__builtin_memcpy(&t->ipv4.saddr, p->key.src, 4);
		__builtin_memcpy(&t->ipv4.daddr, p->key.dst, 4);
		t->ipv4.sport = p->key.sport;
		t->ipv4.dport = p->key.dport;
		return sizeof(t->ipv4);
	}
	__builtin_memcpy(t->ipv6.saddr, p->key.src, 16);
	__builtin_memcpy(t->ipv6.daddr, p->key.dst, 16);
	t->ipv6.sport = p->key.sport;
	t->ipv6.dport = p->key.dport;
	return sizeof(t->ipv6);
}

#endif

/* Conntrack holds a confirmed entry of the packet's tuple, without NAT. */
static __always_inline bool ct_confirmed(void *ctx, const int hook, const struct pkt *p)
{
#ifndef GWBPF_CT_KFUNCS
	return false; /* no kfuncs: nothing is forwarded in XDP */
#else
	struct bpf_sock_tuple t = {};
	__u32 tlen = ct_tuple(p, &t);
	struct bpf_ct_opts o = { .netns_id = -1, .l4proto = IPPROTO_UDP };
	struct nf_conn *ct = hook == HOOK_TC ? bpf_skb_ct_lookup(ctx, &t, tlen, &o, sizeof(o))
					     : bpf_xdp_ct_lookup(ctx, &t, tlen, &o, sizeof(o));
	if (!ct)
		return false;
	bool ok = (ct->status & IPS_CONFIRMED) && !(ct->status & IPS_DYING);
	if (ok)
		ok = o.dir == IP_CT_DIR_ORIGINAL ? ct_plain(&ct->tuplehash[IP_CT_DIR_REPLY].tuple, p)
						 : ct_plain(&ct->tuplehash[IP_CT_DIR_ORIGINAL].tuple, p);
	bpf_ct_release(ct);
	return ok;
#endif
}

/* Calls of their own, for their stack (the tuple and options). */
static __noinline bool ct_confirmed_xdp(struct xdp_md *ctx, const struct pkt *p)
{
	return p && ct_confirmed(ctx, HOOK_XDP, p);
}

static __noinline bool ct_confirmed_tc(struct __sk_buff *ctx, const struct pkt *p)
{
	return p && ct_confirmed(ctx, HOOK_TC, p);
}

static __always_inline bool h_ct_confirmed(void *ctx, const int hook, const struct pkt *p)
{
	return hook == HOOK_TC ? ct_confirmed_tc(ctx, p) : ct_confirmed_xdp(ctx, p);
}

/* A new flow's conntrack entry, made here where the guard would accept
 * its first packet (gw_bpf_abi.h, "Forwarding in XDP"): 1 made, 0 not
 * for this packet, -1 the insert failed (a race: the entry is there).
 * A call of its own (ct_create_xdp, _tc), for its stack. */
static __always_inline int ct_create(void *ctx, const int hook, const struct pkt *p,
				     __u32 ifindex)
{
	__u32 z = 0;
	const struct gwbpf_fwd_conf *c = bpf_map_lookup_elem(&gw_fwd_conf, &z);
	if (!c || !c->udp_timeout_ms)
		return 0;
	/* The source is routed back through this port, and is not one of
	 * the gateway's own (a local route: not SUCCESS nor NO_NEIGH). */
	struct fwd_scratch *sc = bpf_map_lookup_elem(&gw_fwd_scratch, &z);
	if (!sc)
		return 0;
	struct bpf_fib_lookup *r = &sc->rpf;
	__builtin_memset(r, 0, sizeof(*r));
	r->l4_protocol = IPPROTO_UDP;
	r->ifindex = ifindex;
	if (p->key.family == 4) {
		r->family = AF_INET_;
		__builtin_memcpy(&r->ipv4_dst, p->key.src, 4);
	} else {
		r->family = AF_INET6_;
		__builtin_memcpy(r->ipv6_dst, p->key.src, 16);
	}
	long rc = bpf_fib_lookup(ctx, r, sizeof(*r), 0);
	if ((rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) ||
	    r->ifindex != ifindex)
		return 0;
#ifndef GWBPF_CT_KFUNCS
	return 0;
#else
	struct bpf_sock_tuple t = {};
	__u32 tlen = ct_tuple(p, &t);
	struct bpf_ct_opts o = { .netns_id = -1, .l4proto = IPPROTO_UDP };
	struct nf_conn___init *ct = hook == HOOK_TC
					    ? bpf_skb_ct_alloc(ctx, &t, tlen, &o, sizeof(o))
					    : bpf_xdp_ct_alloc(ctx, &t, tlen, &o, sizeof(o));
	if (!ct)
		return -1;
	bpf_ct_set_timeout(ct, c->udp_timeout_ms);
	struct nf_conn *in = bpf_ct_insert_entry(ct);
	if (!in)
		return -1;
	bpf_ct_release(in);
	return 1;
#endif
}

static __noinline int ct_create_xdp(struct xdp_md *ctx, const struct pkt *p, __u32 ifindex)
{
	return ct_create(ctx, HOOK_XDP, p, ifindex);
}

static __noinline int ct_create_tc(struct __sk_buff *ctx, const struct pkt *p, __u32 ifindex)
{
	return ct_create(ctx, HOOK_TC, p, ifindex);
}

/* The route of p (bpf_fib_lookup) from rt->in, for rt->max_len bytes with
 * rt->label, into *rt, but for its second: 0, or -1
 * when there is none to forward on (not resolved, back out the port it
 * came in on, or to a device not in gw_fwd_ifs).  A call of its own, for
 * its stack; the same code for both hooks (the helper takes either
 * context). */
static __noinline int route_lookup(void *ctx, const struct pkt *p, struct fwd_route *rt)
{
	__u32 z = 0;
	struct fwd_scratch *sc = bpf_map_lookup_elem(&gw_fwd_scratch, &z);
	if (!sc || !p || !rt)
		return -1;
	__u32 in = rt->in, label = rt->label, len = rt->max_len;
	struct bpf_fib_lookup *fib = &sc->fib;
	__builtin_memset(fib, 0, sizeof(*fib));
	if (p->key.family == 4) {
		fib->family = AF_INET_;
		fib->tos = (__u8)label;
		__builtin_memcpy(&fib->ipv4_src, p->key.src, 4);
		__builtin_memcpy(&fib->ipv4_dst, p->key.dst, 4);
	} else {
		fib->family = AF_INET6_;
		fib->flowinfo = label;
		__builtin_memcpy(fib->ipv6_src, p->key.src, 16);
		__builtin_memcpy(fib->ipv6_dst, p->key.dst, 16);
	}
	fib->tot_len = (__u16)len;
	fib->l4_protocol = IPPROTO_UDP;
	fib->ifindex = in;
	if (bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) != BPF_FIB_LKUP_RET_SUCCESS ||
	    fib->ifindex == in)
		return -1;
	__u32 o = fib->ifindex;
	const __u32 *fl = bpf_map_lookup_elem(&gw_fwd_ifs, &o);
	if (!fl)
		return -1;
	__builtin_memcpy(rt->src, p->key.src, 16);
	__builtin_memcpy(rt->dst, p->key.dst, 16);
	rt->out = o;
	rt->flags = *fl;
	rt->family = p->key.family;
	__builtin_memcpy(rt->dmac, fib->dmac, 6);
	__builtin_memcpy(rt->smac, fib->smac, 6);
	return 0;
}

/* An allowed packet of flow f: forwarded here (XDP_REDIRECT), or XDP_PASS
 * to the stack (gw_bpf_abi.h, "Forwarding in XDP").  fresh: f was made by
 * this packet (its conntrack entry is made here, or it passes).  A call of
 * its own: its stack (the route's and conntrack's arguments) is not added
 * to gw_classify's, which the classification's subprograms share
 * (forward_xdp, forward_tc).  In TC the same: bpf_redirect to the egress
 * device (TC_ACT_REDIRECT), which needs nothing of the target's XDP. */
static __always_inline int forward(void *ctx, const int hook, const struct pkt *p,
				   struct gwbpf_flow *f, struct gwbpf_counters *cn, __u32 fresh)
{
	if (p->key.proto != IPPROTO_UDP || p->l3 != sizeof(struct ethhdr))
		return XDP_PASS;
	void *data = h_data(ctx, hook), *end = h_end(ctx, hook);
	__u32 in = h_ifindex(ctx, hook);
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	__u32 label, len;
	if (p->key.family == 4) {
		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->ttl <= 1 ||
		    (ip->frag_off & bpf_htons(0x3fff)))
			return XDP_PASS;
		label = ip->tos;
		len = bpf_ntohs(ip->tot_len);
	} else {
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_UDP || ip6->hop_limit <= 1)
			return XDP_PASS;
		label = *(__be32 *)ip6 & bpf_htonl(0x0fffffff);
		len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
	}
	__u64 now = bpf_ktime_get_coarse_ns();
	__u32 now_s = (__u32)(now / 1000000000ull) + 1;
	/* The route: this second's answer for these addresses, or a lookup. */
	const __u64 *ks = (const __u64 *)p->key.src, *kd = (const __u64 *)p->key.dst;
	__u64 h = (ks[0] ^ ks[1] ^ kd[0] ^ kd[1]) * GWBPF_HASH_K;
	__u32 slot = (__u32)(h >> 58) ^ (in & (FWD_ROUTES - 1));
	struct fwd_route *rt = bpf_map_lookup_elem(&gw_fwd_routes, &slot);
	if (!rt)
		return XDP_PASS;
	if (rt->sec != now_s || rt->in != in || rt->family != p->key.family ||
	    rt->label != label || len > rt->max_len || rt->src[0] != ks[0] ||
	    rt->src[1] != ks[1] || rt->dst[0] != kd[0] || rt->dst[1] != kd[1]) {
		rt->sec = 0;
		rt->in = in;
		rt->label = label;
		rt->max_len = (__u16)len;
		if (route_lookup(ctx, p, rt) < 0)
			return XDP_PASS;
		rt->sec = now_s;
	}
	__u32 out = rt->out;
	if (hook == HOOK_XDP && !(rt->flags & GWBPF_FWD_XDP))
		return XDP_PASS;
	if (fresh) {
		/* Its stack_s is this second: the next second's packet goes
		 * to the stack.  Conntrack may hold it already (a flow the
		 * classifier's table let go, or gwd flushed): forwarded as an
		 * established one. */
		if (h_ct_confirmed(ctx, hook, p)) {
			f->state |= GWBPF_FLOW_CT;
			goto out;
		}
		if (p->key.family == 4 && (rt->flags & GWBPF_FWD_NAT))
			return XDP_PASS;
		int made = hook == HOOK_TC ? ct_create_tc(ctx, p, in) : ct_create_xdp(ctx, p, in);
		if (made <= 0) {
			if (made < 0)
				cnt(cn, GWBPF_CNT_XDP_CREATE_LOST);
			return XDP_PASS;
		}
		cnt(cn, GWBPF_CNT_XDP_CREATED);
	} else {
		/* Conntrack sees one of the flow's packets a second, and is
		 * asked once in the second after it. */
		__u8 sec = stack_second(now);
		if (f->stack_s != sec) {
			f->stack_s = sec;
			f->state &= ~GWBPF_FLOW_CT;
			cnt(cn, GWBPF_CNT_XDP_REFRESH);
			return XDP_PASS;
		}
		if (!(f->state & GWBPF_FLOW_CT)) {
			if (!h_ct_confirmed(ctx, hook, p))
				return XDP_PASS;
			f->state |= GWBPF_FLOW_CT;
		}
	}
out:
	if (bpf_redirect(out, 0) != h_redirected(hook))
		return XDP_PASS;
	__builtin_memcpy(eth->h_dest, rt->dmac, 6);
	__builtin_memcpy(eth->h_source, rt->smac, 6);
	if (p->key.family == 4) {
		/* As the kernel's ip_decrease_ttl(): RFC 1624's incremental
		 * update for a TTL one less. */
		__u32 c = ip->check;
		c += bpf_htons(0x0100);
		ip->check = (__u16)(c + (c >= 0xffff));
		ip->ttl -= 1;
	} else {
		ip6->hop_limit -= 1;
	}
	cnt(cn, GWBPF_CNT_XDP_FORWARD);
	return XDP_REDIRECT;
}

static __noinline int forward_xdp(struct xdp_md *ctx, const struct pkt *p, struct gwbpf_flow *f,
				  struct gwbpf_counters *cn, __u32 fresh)
{
	return forward(ctx, HOOK_XDP, p, f, cn, fresh);
}

static __noinline int forward_tc(struct __sk_buff *ctx, const struct pkt *p,
				 struct gwbpf_flow *f, struct gwbpf_counters *cn, __u32 fresh)
{
	return forward(ctx, HOOK_TC, p, f, cn, fresh);
}

static __always_inline int h_forward(void *ctx, const int hook, const struct pkt *p,
				     struct gwbpf_flow *f, struct gwbpf_counters *cn, __u32 fresh)
{
	return hook == HOOK_TC ? forward_tc(ctx, p, f, cn, fresh)
			       : forward_xdp(ctx, p, f, cn, fresh);
}

/* The classification of a packet from a device, at either hook: an XDP
 * verdict (TC's are made of it by gw_classify_tc). */
static __always_inline int classify(void *ctx, const int hook)
{
	struct pkt p = {};
	if (hook == HOOK_TC) {
		/* The headers in the linear part, for direct access. */
		struct __sk_buff *skb = ctx;
		__u32 lin = skb->data_end - skb->data, want = skb->len < 128 ? skb->len : 128;
		if (lin < want)
			bpf_skb_pull_data(skb, want);
	}
	int r = parse(h_data(ctx, hook), h_end(ctx, hook), &p, 6);
	if (hook == HOOK_TC) {
		/* The frame's length, not its linear part's. */
		__u32 len = ((struct __sk_buff *)ctx)->len;
		p.len = len > 0xffff ? 0xffff : (__u16)len;
	}
	if (r) {
		count(r == PARSE_NOT_IP ? GWBPF_CNT_NOT_IP
		      : r == PARSE_VLAN_DEEP ? GWBPF_CNT_VLAN_DEEP
		      : r == PARSE_IP6_DEEP ? GWBPF_CNT_IP6_DEEP
		      : GWBPF_CNT_TRUNCATED);
		return r == PARSE_NOT_IP ? XDP_PASS : XDP_DROP;
	}
	__u32 k = 0;
	const __u64 *ep = bpf_map_lookup_elem(&gw_epoch, &k);
	__u64 epoch = ep ? *ep : 0;
	if (!(epoch & GWBPF_EPOCH_VALID)) {
		count(GWBPF_CNT_NO_POLICY);
		return XDP_PASS;
	}
	__u64 jif = bpf_jiffies64();
	/* A flow decided under another timeline entry is decided again, as
	 * under another epoch (gw_bpf_abi.h, "Schedules"). */
	__u32 entry = timeline_at(epoch, jif);
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0, number = (__u32)epoch + entry;
	__u32 ifindex = h_ifindex(ctx, hook);
	__u64 tag, rtag;
	struct gwbpf_flow_set *set = flow_set(flow_hash(&p.key, &tag, &rtag));
	struct way wy = {};

	struct gwbpf_flow *f = flow_find(set, &p.key, false, tag, &wy);
	/* The entry changed hands or is being written while we read it: the
	 * packet is decided afresh, and nothing is cached or announced. */
	bool raced = false;
	/* A flow from another port than the one its device opened it on is
	 * checked and decided again, as a new epoch's: its source was checked
	 * against the prefixes of the port it was opened on. */
	if (f && f->epoch == number && f->ifindex == ifindex) {
		__u8 action = f->action, flags = f->flags;
		__u32 stats = f->stats;
		if (flow_still(&wy)) {
			/* FLOW_HIT: not counted, derived (gw_bpf_abi.h). */
			flow_count(f, jif, p.len);
			maybe_end(&p, &p.key, false, f);
			count_rule(stats, p.len);
			if ((flags & POL_TABLES_RULE_RATE) && !shape_up(&p, slot, f) &&
			    !gw_rate_take(&p, slot, f, p.len, GWBPF_DIR_UP)) {
				count(GWBPF_CNT_RATE_DROP);
				return XDP_DROP;
			}
			/* An allowed packet touches no reason counter
			 * (PASS and FLOW_HIT are derived), unless it is
			 * forwarded here. */
			if (action == POL_TABLES_ALLOW)
				return flags ? XDP_PASS : h_forward(ctx, hook, &p, f, counters(), 0);
			return verdict(ctx, hook, &p, action, counters());
		}
		f = NULL;
		raced = true;
	}
	/* The reason counters, for the paths below: looked up here, not on
	 * an established flow's way. */
	struct gwbpf_counters *cn = counters();
	/* gw_local is looked at only when there is no flow (what goes to the
	 * gateway is never cached): it costs established flows nothing. */
	if (!f && is_local(&p)) {
		cnt(cn, GWBPF_CNT_LOCAL);
		return XDP_PASS;
	}
	/* Anti-spoofing, before a packet can open, reopen or answer a flow. */
	if (!src_ok(&p, ifindex)) {
		cnt(cn, GWBPF_CNT_SPOOFED);
		return XDP_DROP;
	}
	if (!f) {
		struct way rwy = {};
		/* The reverse tuple lives in the same set. */
		struct gwbpf_flow *rf = flow_find(set, &p.key, true, rtag, &rwy);
		/* A reply: the connection's verdict, whoever started it, as
		 * long as that is another device.  A flow a device opened is
		 * never its own reply, or it could open one "from" a blocked
		 * server to itself and make its real connection the reply. */
		if (rf && !same_mac(rf->mac, p.mac)) {
			__u8 action = rf->action;
			if (flow_still(&rwy)) {
				cnt(cn, GWBPF_CNT_FLOW_REPLY);
				/* Counted on its way down, by gw_egress on
				 * the port of the flow's device. */
				rf->last_jiffies = jif;
				/* The flow's key is the reverse tuple. */
				maybe_end(&p, &p.key, true, rf);
				return verdict(ctx, hook, &p, action, cn);
			}
		}
	}

	struct gwbpf_flow nf = {};
	if (gw_classify_pkt(&p, epoch, entry, &nf) < 0) {
		cnt(cn, GWBPF_CNT_MAP_MISS);
		return XDP_DROP;
	}
	nf.epoch = number;
	nf.stats = (__u16)stats_index(slot, nf.rule);
	count_rule(nf.stats, p.len);
	if (f) {
		cnt(cn, GWBPF_CNT_FLOW_RECLASS);
		if (flow_take(&wy)) {
			f->epoch = nf.epoch;
			f->rule = nf.rule;
			f->device = nf.device;
			f->action = nf.action;
			f->flags = nf.flags;
			f->stats = nf.stats;
			f->ifindex = ifindex;
			flow_count(f, jif, p.len);
			event(GWBPF_EV_DECIDED, &p, &p.key, false, f, 0);
			maybe_end(&p, &p.key, false, f);
			flow_release(&wy);
		} else {
			cnt(cn, GWBPF_CNT_FLOW_UNCACHED);
		}
	} else if (raced) {
		cnt(cn, GWBPF_CNT_FLOW_RACED);
		cnt(cn, GWBPF_CNT_FLOW_UNCACHED);
	} else {
		cnt(cn, GWBPF_CNT_FLOW_NEW);
		__builtin_memcpy(nf.mac, p.mac, 6);
		nf.ifindex = ifindex;
		__u64 now = bpf_ktime_get_coarse_ns();
		nf.first_s = (__u32)(now / 1000000000ull);
		nf.stack_s = stack_second(now); /* this packet goes to the stack */
		nf.last_jiffies = jif;
		nf.packets = 1;
		nf.bytes = p.len;
		/* A full set gives up its least recent flow; should the
		 * insert still fail, the packet is decided all the same. */
		struct gwbpf_flow *ne = flow_insert(set, &p.key, tag, &nf);
		if (!ne)
			cnt(cn, GWBPF_CNT_FLOW_UNCACHED);
		event(GWBPF_EV_NEW, &p, &p.key, false, &nf, now);
		/* A flow that starts with its end (a RST out of nowhere) ends
		 * at once. */
		if (ne)
			maybe_end(&p, &p.key, false, ne);
		/* A plain allow: forwarded from its first packet, if it may be
		 * and gwd asks for new flows in XDP (a timeout for their
		 * entries): else a new flow costs no more than before. */
		if (ne && nf.action == POL_TABLES_ALLOW && !nf.flags && p.key.proto == IPPROTO_UDP) {
			__u32 z = 0;
			const struct gwbpf_fwd_conf *fc = bpf_map_lookup_elem(&gw_fwd_conf, &z);
			if (fc && fc->udp_timeout_ms)
				return h_forward(ctx, hook, &p, ne, cn, 1);
		}
	}
	if ((nf.flags & POL_TABLES_RULE_RATE) && nf.action == POL_TABLES_ALLOW &&
	    !shape_up(&p, slot, &nf) && !gw_rate_take(&p, slot, &nf, p.len, GWBPF_DIR_UP))
		goto over_rate;
	return verdict(ctx, hook, &p, nf.action, cn);
over_rate:
	cnt(cn, GWBPF_CNT_RATE_DROP);
	return XDP_DROP;
}

SEC("xdp")
int gw_classify(struct xdp_md *ctx)
{
	return classify(ctx, HOOK_XDP);
}

/* ---------------------------------------------------------------- egress */

SEC("tc")
int gw_egress(struct __sk_buff *skb)
{
	struct pkt p = {};
	count(GWBPF_CNT_EGRESS);
	/* The device's view: the frame's destination is the device, and the
	 * tuple is turned round to the one it sent. */
	if (parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p, 0) != 0) {
		count(GWBPF_CNT_EGRESS_NO_FLOW);
		return TC_ACT_OK;
	}
	/* Rejects in TC: gw_classify_tc's TCP reset leaves by the egress of
	 * the port its packet came in on, and its tuple is the rejected
	 * flow's: let by.  (Nothing routed leaves by the port it came in on
	 * as a reset of that port's own flow; ICMP answers have tuples of
	 * their own.) */
	if (p.key.proto == IPPROTO_TCP && (p.tcp_flags & TCP_RST) &&
	    skb->ingress_ifindex == skb->ifindex)
		return TC_ACT_OK;
	struct gwbpf_flow_key k = p.key;
	__builtin_memcpy(k.src, p.key.dst, 16);
	__builtin_memcpy(k.dst, p.key.src, 16);
	k.sport = p.key.dport;
	k.dport = p.key.sport;
	struct way wy = {};
	__u64 tag, rtag;
	struct gwbpf_flow_set *set = flow_set(flow_hash(&k, &tag, &rtag));
	struct gwbpf_flow *f = flow_find(set, &k, false, tag, &wy);
	if (!f) {
		count(GWBPF_CNT_EGRESS_NO_FLOW);
		return TC_ACT_OK;
	}
	__u32 z = 0;
	const __u64 *ep = bpf_map_lookup_elem(&gw_epoch, &z);
	__u64 epoch = ep ? *ep : 0;
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	__u64 jif = bpf_jiffies64();
	__u32 entry = timeline_at(epoch, jif), number = (__u32)epoch + entry;
	__sync_fetch_and_add(&f->packets_down, 1);
	__sync_fetch_and_add(&f->bytes_down, skb->len);
	f->last_jiffies = jif;

	if ((epoch & GWBPF_EPOCH_VALID) && f->epoch != number) {
		/* Classified as the device sent it (p.key is not read after). */
		p.key = k;
		struct gwbpf_flow nf = {};
		if (gw_classify_pkt(&p, epoch, entry, &nf) == 0 && flow_take(&wy)) {
			count(GWBPF_CNT_EGRESS_RECLASS);
			f->epoch = number;
			f->rule = nf.rule;
			f->device = nf.device;
			f->action = nf.action;
			f->flags = nf.flags;
			f->stats = (__u16)stats_index(slot, nf.rule);
			event(GWBPF_EV_DECIDED, &p, &k, false, f, 0);
			flow_release(&wy);
		}
	}
	__u8 action = f->action, flags = f->flags;
	__u32 fepoch = f->epoch;
	if (!flow_still(&wy)) {
		count(GWBPF_CNT_EGRESS_NO_FLOW);
		return TC_ACT_OK;
	}
	if (action != POL_TABLES_ALLOW) {
		count(GWBPF_CNT_EGRESS_DROP);
		return TC_ACT_SHOT;
	}
	if ((flags & POL_TABLES_RULE_RATE) && fepoch == number) {
		/* Into the class on this port's HTB, or policed until there
		 * is one. */
		__u32 ifb = 0, cls = gw_shape_class(&p, slot, f, skb->ifindex, &ifb);
		if (cls) {
			skb->priority = cls;
			count(GWBPF_CNT_SHAPED);
		} else if (!gw_rate_take(&p, slot, f, skb->len, GWBPF_DIR_DOWN)) {
			count(GWBPF_CNT_EGRESS_RATE_DROP);
			return TC_ACT_SHOT;
		}
	}
	return TC_ACT_OK;
}

/* ---------------------------------------------------------------- ingress */

/* TC ingress on the same ports: an upload of a flow with a rate goes to
 * the ifb, into its class (gw_bpf_abi.h, "Rates"), once gw_classify has
 * let it in; every other packet passes untouched.  With no rate in the
 * live policy, that is all it looks at. */
static __always_inline int ingress_rate(struct __sk_buff *skb)
{
	__u32 k = 0;
	const __u64 *ep = bpf_map_lookup_elem(&gw_epoch, &k);
	__u64 epoch = ep ? *ep : 0;
	if (!(epoch & GWBPF_EPOCH_VALID))
		return TC_ACT_OK;
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	k = slot;
	const struct pol_tables_header *pol = bpf_map_lookup_elem(&gw_policy, &k);
	if (!pol || !(pol->flags & POL_TABLES_F_RATES))
		return TC_ACT_OK;
	struct pkt p = {};
	if (parse((void *)(long)skb->data, (void *)(long)skb->data_end, &p, 6) != 0)
		return TC_ACT_OK;
	struct way wy = {};
	__u64 tag, rtag;
	struct gwbpf_flow_set *set = flow_set(flow_hash(&p.key, &tag, &rtag));
	struct gwbpf_flow *f = flow_find(set, &p.key, false, tag, &wy);
	if (!f || f->epoch != (__u32)epoch + timeline_at(epoch, bpf_jiffies64()) ||
	    f->action != POL_TABLES_ALLOW ||
	    !(f->flags & POL_TABLES_RULE_RATE))
		return TC_ACT_OK;
	__u32 ifb = 0, cls = gw_shape_class(&p, slot, f, 0, &ifb);
	if (!cls || !ifb || !flow_still(&wy))
		return TC_ACT_OK;
	skb->priority = cls;
	count(GWBPF_CNT_SHAPED);
	return bpf_redirect(ifb, 0);
}

SEC("tc")
int gw_ingress(struct __sk_buff *skb)
{
	return ingress_rate(skb);
}

/* The classifier at TC ingress (docs/ebpf.md, "Two hooks"), in place of
 * gw_classify on XDP and gw_ingress: the classification, then, for what
 * it lets in, gw_ingress's step, in the order the two hooks take them.
 * A reject's answer, built in place, leaves by the port's own egress
 * (where gw_egress lets gw's own answers by: "Rejects in TC"). */
SEC("tc")
int gw_classify_tc(struct __sk_buff *skb)
{
	switch (classify(skb, HOOK_TC)) {
	case XDP_PASS:
		return ingress_rate(skb);
	case XDP_TX:
		return bpf_redirect(skb->ifindex, 0);
	case XDP_REDIRECT:
		return TC_ACT_REDIRECT;
	default:
		return TC_ACT_SHOT;
	}
}

/* ---------------------------------------------------------------- clock */

extern unsigned int CONFIG_HZ __kconfig __weak;

/* Run by userspace (bpf_prog_test_run): the clocks the flows use, read at
 * one instant, to convert last_jiffies. */
SEC("syscall")
int gw_clock(struct gwbpf_clock *c)
{
	c->jiffies = bpf_jiffies64();
	c->mono_ns = bpf_ktime_get_ns();
	c->hz = CONFIG_HZ;
	return 0;
}
