/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The classifier of the kernel LAN ports: gw_classify (XDP, ingress) and
 * gw_egress (TC, egress).  What they read and write, and why, is in
 * gw_bpf_abi.h; compile.c's gwbpf_classify() is the same classification over
 * plain arrays and must stay step for step equal to classify() below.
 *
 * Every loop is bounded by a constant.  Per packet, the programs never
 * fail: they pass, drop or answer, and count why.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "gw_bpf_abi.h"

#define ETH_P_IP     0x0800
#define ETH_P_IPV6   0x86DD
#define ETH_P_8021Q  0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_DSTOPTS_ 60
#define IPPROTO_ICMPV6_ 58
#define IP_OFFSET_MASK 0x1fff
#define IPV6_EXT_MAX 6
#define TC_ACT_OK 0 /* uapi pkt_cls.h: macros are not in vmlinux.h */
#define TC_ACT_SHOT 2

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
	__type(value, struct gwbpf_policy);
} gw_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_MAX_BITMAPS);
	__type(key, __u32);
	__type(value, struct gwbpf_bitmap);
} gw_bitmaps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * 2);
	__type(key, __u32);
	__type(value, struct gwbpf_bitmap);
} gw_active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, GWBPF_SLOTS * GWBPF_MAX_RULES);
	__type(key, __u32);
	__type(value, struct gwbpf_rule);
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
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, GWBPF_MAX_FLOWS);
	__type(key, struct gwbpf_flow_key);
	__type(value, struct gwbpf_flow);
} gw_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GWBPF_CNT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
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

/* Room for the destination bitmap (address | domains): too big for the
 * stack.  Per CPU, and XDP runs to completion, so no one else uses it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gwbpf_bitmap);
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

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&gw_counters, &which);
	if (c)
		*c += 1;
}

static __always_inline void count_rule(__u32 slot, __u32 rule, __u32 len)
{
	__u32 i = rule < GWBPF_MAX_RULES ? rule
		  : GWBPF_MAX_RULES + (rule == GWBPF_RULE_DEFAULT ? 0 : 1);
	i += slot * GWBPF_RULE_STATS;
	struct gwbpf_rule_stats *s = bpf_map_lookup_elem(&gw_rule_stats, &i);
	if (s) {
		s->packets += 1;
		s->bytes += len;
	}
}

/* mac_off: 6 to take the source MAC (ingress: the device sends), 0 to
 * take the destination (egress: the device receives). */
static __always_inline int parse(void *data, void *end, struct pkt *p, __u32 mac_off)
{
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(p->mac, mac_off ? eth->h_source : eth->h_dest, 6);
	p->len = (__u16)(end - data);
	__u16 type = eth->h_proto;
	void *l3 = eth + 1;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (type != bpf_htons(ETH_P_8021Q) && type != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *v = l3;
		if ((void *)(v + 1) > end)
			return -1;
		type = v->h_vlan_encapsulated_proto;
		l3 = v + 1;
	}

	__u8 proto;
	void *l4;
	bool first = true;
	if (type == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return -1;
		if (ip->version != 4 || ip->ihl < 5)
			return -1;
		p->key.family = 4;
		__builtin_memcpy(p->key.src, &ip->saddr, 4);
		__builtin_memcpy(p->key.dst, &ip->daddr, 4);
		proto = ip->protocol;
		first = !(ip->frag_off & bpf_htons(IP_OFFSET_MASK));
		l4 = l3 + ip->ihl * 4;
	} else if (type == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return -1;
		p->key.family = 6;
		__builtin_memcpy(p->key.src, &ip6->saddr, 16);
		__builtin_memcpy(p->key.dst, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		l4 = ip6 + 1;
#pragma unroll
		for (int i = 0; i < IPV6_EXT_MAX; i++) {
			if (proto != IPPROTO_HOPOPTS_ && proto != IPPROTO_ROUTING_ &&
			    proto != IPPROTO_DSTOPTS_ && proto != IPPROTO_FRAGMENT_ &&
			    proto != IPPROTO_AH_)
				break;
			struct ipv6_opt_hdr *o = l4;
			if ((void *)(o + 1) > end)
				return -1;
			if (proto == IPPROTO_FRAGMENT_) {
				struct frag_hdr *fh = l4;
				if ((void *)(fh + 1) > end)
					return -1;
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
	} else {
		return 1;
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
			return -1;
		p->key.sport = ports[0];
		p->key.dport = ports[1];
		__u8 *tf = l4 + 13;
		if (proto == IPPROTO_TCP && (void *)(tf + 1) <= end)
			p->tcp_flags = *tf;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6_) {
		if (l4 + 4 > end)
			return -1;
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

static __always_inline const struct gwbpf_bitmap *bitmap(__u32 slot, __u32 i)
{
	__u32 k = slot * GWBPF_MAX_BITMAPS + i;
	return bpf_map_lookup_elem(&gw_bitmaps, &k);
}

static __always_inline __u32 lowest_bit(__u64 m)
{
	__u32 n = 0;
	if (!(m & 0xffffffffull)) { n += 32; m >>= 32; }
	if (!(m & 0xffffull)) { n += 16; m >>= 16; }
	if (!(m & 0xffull)) { n += 8; m >>= 8; }
	if (!(m & 0xfull)) { n += 4; m >>= 4; }
	if (!(m & 0x3ull)) { n += 2; m >>= 2; }
	if (!(m & 0x1ull)) { n += 1; }
	return n;
}

/* Global functions are verified once, on their own, whatever the number of
 * call sites and the state of the caller: the two loops over the bitmaps
 * live here so that the verifier's work stays small. */
__noinline int gw_or_bitmap(struct gwbpf_bitmap *dst, const struct gwbpf_bitmap *src)
{
	if (!dst || !src)
		return -1;
	for (__u32 w = 0; w < GWBPF_WORDS; w++)
		dst->w[w] |= src->w[w];
	return 0;
}

/* The first rule set in all five bitmaps, or -1. */
__noinline int gw_first_rule(const struct gwbpf_bitmap *a, const struct gwbpf_bitmap *b,
			     const struct gwbpf_bitmap *c, const struct gwbpf_bitmap *d,
			     const struct gwbpf_bitmap *e)
{
	if (!a || !b || !c || !d || !e)
		return -1;
	for (__u32 w = 0; w < GWBPF_WORDS; w++) {
		__u64 m = a->w[w] & b->w[w] & c->w[w] & d->w[w] & e->w[w];
		if (m)
			return (int)(w * 64 + lowest_bit(m));
	}
	return -1;
}

/* The bit-vector classification (gw_bpf_abi.h); 0, or -1 when a policy map
 * lacks an entry the loader always writes. */
static __attribute__((noinline)) int classify(const struct pkt *p, __u64 epoch,
					     struct gwbpf_flow *ret)
{
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	__u32 k = slot;
	const struct gwbpf_policy *pol = bpf_map_lookup_elem(&gw_policy, &k);
	if (!pol)
		return -1;

	struct gwbpf_mac_key mk = { .slot = (__u8)slot };
	__builtin_memcpy(mk.mac, p->mac, 6);
	const struct gwbpf_mac_val *mv = bpf_map_lookup_elem(&gw_macs, &mk);
	const struct gwbpf_bitmap *subj = bitmap(slot, mv ? mv->subject : pol->subj_new);

	const struct gwbpf_bitmap *proto, *port;
	__u8 pr = p->key.proto;
	if (pr == IPPROTO_TCP || pr == IPPROTO_UDP) {
		proto = bitmap(slot, pr == IPPROTO_TCP ? GWBPF_BM_TCP : GWBPF_BM_UDP);
		k = slot * GWBPF_PORTS_PER_SLOT + bpf_ntohs(p->key.dport);
		const __u16 *pc = bpf_map_lookup_elem(&gw_ports, &k);
		if (!pc)
			return -1;
		port = bitmap(slot, *pc);
	} else {
		proto = bitmap(slot, pr == IPPROTO_ICMP || pr == IPPROTO_ICMPV6_ ? GWBPF_BM_ICMP
										 : GWBPF_BM_OTHER);
		port = proto; /* no port: AND-ing a bitmap twice changes nothing */
	}

	struct gwbpf_lpm_key lk = {
		.prefixlen = GWBPF_LPM_HEAD + (p->key.family == 4 ? 32 : 128),
		.slot = (__u8)slot,
		.family = p->key.family,
	};
	__builtin_memcpy(lk.addr, p->key.dst, 16);
	const __u32 *ac = bpf_map_lookup_elem(&gw_prefixes, &lk);
	const struct gwbpf_bitmap *addr = bitmap(slot, ac ? *ac : pol->addr_miss);

	k = slot * 2 + (epoch & GWBPF_EPOCH_ACTIVE ? 1 : 0);
	const struct gwbpf_bitmap *act = bpf_map_lookup_elem(&gw_active, &k);
	k = 0;
	struct gwbpf_bitmap *dst = bpf_map_lookup_elem(&gw_scratch, &k);
	if (!subj || !proto || !port || !addr || !act || !dst)
		return -1;
	*dst = *addr;

	struct gwbpf_addr_key dk = { .slot = (__u8)slot, .family = p->key.family };
	__builtin_memcpy(dk.addr, p->key.dst, 16);
	const struct gwbpf_domain_val *dv = bpf_map_lookup_elem(&gw_domains, &dk);
	__u64 sets = dv && dv->expires_ns > bpf_ktime_get_ns() ? dv->sets : 0;
	for (__u32 s = 0; s < 64; s++) {
		/* `sets` stays as it is, so the verifier sees one state per s. */
		if (!(sets >> s))
			break;
		if (!(sets >> s & 1))
			continue;
		if (gw_or_bitmap(dst, bitmap(slot, GWBPF_BM_DOMAIN0 + s)) < 0)
			return -1;
	}

	ret->device = mv ? mv->device : ~0u;
	ret->rule = mv ? GWBPF_RULE_DEFAULT : GWBPF_RULE_DEFAULT_NEW;
	ret->action = mv ? pol->default_action : pol->default_new;
	ret->flags = 0;
	int rule = gw_first_rule(subj, proto, port, dst, act);
	if (rule < 0)
		return 0;
	k = slot * GWBPF_MAX_RULES + (__u32)rule;
	const struct gwbpf_rule *r = bpf_map_lookup_elem(&gw_rules, &k);
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
#define L2_MAX 22      /* Ethernet and two VLAN tags */
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

__noinline __u32 gw_sum_packet(struct xdp_md *ctx, __u32 off, __u32 n)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
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

/* Global, so verified once on its own: see gw_or_bitmap(). */
__noinline int gw_reject_tcp(struct xdp_md *ctx, const struct pkt *p)
{
	if (!p)
		return -1;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
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
	int delta = (int)(l3 + ipl + 20) - (int)(end - data);
	if (bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
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

__noinline int gw_reject_icmp(struct xdp_md *ctx, const struct pkt *p)
{
	if (!p)
		return -1;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
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

	if (bpf_xdp_adjust_head(ctx, -(int)grow))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
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
	int delta = (int)(l3 + grow + q) - (int)(end - data);
	if (bpf_xdp_adjust_tail(ctx, delta))
		return -1;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
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
	__u32 sum = gw_sum_packet(ctx, l3 + ipl, (8 + q) / 2);
	if (p->key.family == 6)
		sum += pseudo_sum(p, IPPROTO_ICMPV6_, (__u16)(8 + q));
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	ic = data + l3 + ipl;
	if ((void *)(ic + 8) > end)
		return -1;
	*(__u16 *)(ic + 2) = fold(sum);
	return 0;
}

/* ---------------------------------------------------------------- rate */

/* Take len bytes from the bucket of (rule, device, dir); false when it
 * lacks them.  Buckets are shared by the CPUs without a lock: two CPUs
 * refilling at once may let a few extra bytes through, never fewer. */
static __noinline bool rate_take(const struct pkt *p, __u32 slot, const struct gwbpf_flow *f,
				 __u32 len, __u8 dir)
{
	__u32 rule = f->rule, device = f->device;
	__u32 k = slot * GWBPF_MAX_RULES + rule;
	const struct gwbpf_rule *r = bpf_map_lookup_elem(&gw_rules, &k);
	if (!r || !(r->flags & GWBPF_RULE_RATE) || !r->rate_bps)
		return true;
	__u64 bytes_per_s = r->rate_bps / 8 ? r->rate_bps / 8 : 1;
	if (bytes_per_s > 10000000000ull) /* 80 Gbit/s: beyond, no limit bites */
		return true;
	__u64 burst = bytes_per_s * GWBPF_RATE_BURST_MS / 1000;
	if (burst < GWBPF_RATE_BURST_MIN)
		burst = GWBPF_RATE_BURST_MIN;

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

/* The verdict as an XDP action; a reject becomes XDP_TX of its answer. */
static __always_inline int verdict(struct xdp_md *ctx, const struct pkt *p, __u8 action)
{
	if (action == GWBPF_ALLOW) {
		count(GWBPF_CNT_PASS);
		return XDP_PASS;
	}
	if (action == GWBPF_REJECT) {
		int r = -1;
		if (p->first)
			r = p->key.proto == IPPROTO_TCP ? gw_reject_tcp(ctx, p)
							: gw_reject_icmp(ctx, p);
		if (r == 0) {
			count(GWBPF_CNT_REJECT);
			return XDP_TX;
		}
		count(GWBPF_CNT_REJECT_DROP);
		return XDP_DROP;
	}
	count(GWBPF_CNT_DROP);
	return XDP_DROP;
}

/* time_ns: CLOCK_MONOTONIC_COARSE now, or 0 to have it read here. */
static __always_inline void event(__u8 kind, const struct pkt *p, const struct gwbpf_flow_key *key,
				  const struct gwbpf_flow *f, __u64 time_ns)
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
	e->time_ns = time_ns ? time_ns : bpf_ktime_get_coarse_ns();
	e->packets = f->packets;
	e->bytes = f->bytes;
	e->packets_down = f->packets_down;
	e->bytes_down = f->bytes_down;
	e->key = *key;
	bpf_ringbuf_submit(e, 0);
}

/* The first FIN or RST of a TCP flow ends it, once. */
static __always_inline void maybe_end(const struct pkt *p, const struct gwbpf_flow_key *key,
				      struct gwbpf_flow *f)
{
	if (p->key.proto != IPPROTO_TCP || !(p->tcp_flags & (TCP_FIN | TCP_RST)) ||
	    (f->state & GWBPF_FLOW_ENDED))
		return;
	f->state |= GWBPF_FLOW_ENDED;
	event(GWBPF_EV_END, p, key, f, 0);
}

static __always_inline void flow_count(struct gwbpf_flow *f, __u64 jiffies, __u32 len)
{
	f->last_jiffies = jiffies;
	__sync_fetch_and_add(&f->packets, 1);
	__sync_fetch_and_add(&f->bytes, len);
}

SEC("xdp")
int gw_classify(struct xdp_md *ctx)
{
	struct pkt p = {};
	count(GWBPF_CNT_PACKETS);
	int r = parse((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p, 6);
	if (r < 0) {
		count(GWBPF_CNT_TRUNCATED);
		return XDP_DROP;
	}
	if (r > 0) {
		count(GWBPF_CNT_NOT_IP);
		return XDP_PASS;
	}
	__u32 k = 0;
	const __u64 *ep = bpf_map_lookup_elem(&gw_epoch, &k);
	__u64 epoch = ep ? *ep : 0;
	if (!(epoch & GWBPF_EPOCH_VALID)) {
		count(GWBPF_CNT_NO_POLICY);
		return XDP_PASS;
	}
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0, number = (__u32)epoch;
	__u64 jif = bpf_jiffies64();

	struct gwbpf_flow *f = bpf_map_lookup_elem(&gw_flows, &p.key);
	/* gw_local is looked at only when there is no flow (what goes to the
	 * gateway is never cached): it costs established flows nothing. */
	if (!f && is_local(&p)) {
		count(GWBPF_CNT_LOCAL);
		return XDP_PASS;
	}
	if (f && f->epoch == number) {
		count(GWBPF_CNT_FLOW_HIT);
		flow_count(f, jif, p.len);
		maybe_end(&p, &p.key, f);
		count_rule(slot, f->rule, p.len);
		if ((f->flags & GWBPF_RULE_RATE) &&
		    !rate_take(&p, slot, f, p.len, GWBPF_DIR_UP))
			goto over_rate;
		return verdict(ctx, &p, f->action);
	}
	if (!f) {
		struct gwbpf_flow_key rk = p.key;
		__builtin_memcpy(rk.src, p.key.dst, 16);
		__builtin_memcpy(rk.dst, p.key.src, 16);
		rk.sport = p.key.dport;
		rk.dport = p.key.sport;
		struct gwbpf_flow *rf = bpf_map_lookup_elem(&gw_flows, &rk);
		if (rf) {
			/* A reply: the connection's verdict, whoever started it. */
			count(GWBPF_CNT_FLOW_REPLY);
			flow_count(rf, jif, p.len);
			maybe_end(&p, &rk, rf);
			return verdict(ctx, &p, rf->action);
		}
	}

	struct gwbpf_flow nf = {};
	if (classify(&p, epoch, &nf) < 0) {
		count(GWBPF_CNT_MAP_MISS);
		return XDP_DROP;
	}
	nf.epoch = number;
	count_rule(slot, nf.rule, p.len);
	if (f) {
		count(GWBPF_CNT_FLOW_RECLASS);
		f->epoch = nf.epoch;
		f->rule = nf.rule;
		f->device = nf.device;
		f->action = nf.action;
		f->flags = nf.flags;
		flow_count(f, jif, p.len);
		event(GWBPF_EV_DECIDED, &p, &p.key, f, 0);
		maybe_end(&p, &p.key, f);
	} else {
		count(GWBPF_CNT_FLOW_NEW);
		__builtin_memcpy(nf.mac, p.mac, 6);
		nf.first_ns = bpf_ktime_get_coarse_ns();
		nf.last_jiffies = jif;
		nf.packets = 1;
		nf.bytes = p.len;
		/* A full LRU evicts the least recent flow; should the insert
		 * still fail, the packet is decided all the same. */
		bpf_map_update_elem(&gw_flows, &p.key, &nf, BPF_ANY);
		event(GWBPF_EV_NEW, &p, &p.key, &nf, nf.first_ns);
		/* A flow that starts with its end (a RST out of nowhere) ends
		 * at once. */
		if (p.key.proto == IPPROTO_TCP && (p.tcp_flags & (TCP_FIN | TCP_RST))) {
			struct gwbpf_flow *cf = bpf_map_lookup_elem(&gw_flows, &p.key);
			if (cf)
				maybe_end(&p, &p.key, cf);
		}
	}
	if ((nf.flags & GWBPF_RULE_RATE) &&
	    !rate_take(&p, slot, &nf, p.len, GWBPF_DIR_UP))
		goto over_rate;
	return verdict(ctx, &p, nf.action);
over_rate:
	count(GWBPF_CNT_RATE_DROP);
	return XDP_DROP;
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
	struct gwbpf_flow_key k = p.key;
	__builtin_memcpy(k.src, p.key.dst, 16);
	__builtin_memcpy(k.dst, p.key.src, 16);
	k.sport = p.key.dport;
	k.dport = p.key.sport;
	struct gwbpf_flow *f = bpf_map_lookup_elem(&gw_flows, &k);
	if (!f) {
		count(GWBPF_CNT_EGRESS_NO_FLOW);
		return TC_ACT_OK;
	}
	__u32 z = 0;
	const __u64 *ep = bpf_map_lookup_elem(&gw_epoch, &z);
	__u64 epoch = ep ? *ep : 0;
	__u32 slot = epoch & GWBPF_EPOCH_SLOT ? 1 : 0;
	__sync_fetch_and_add(&f->packets_down, 1);
	__sync_fetch_and_add(&f->bytes_down, skb->len);
	f->last_jiffies = bpf_jiffies64();

	if ((epoch & GWBPF_EPOCH_VALID) && f->epoch != (__u32)epoch) {
		struct pkt dev = p;
		dev.key = k;
		struct gwbpf_flow nf = {};
		if (classify(&dev, epoch, &nf) == 0) {
			count(GWBPF_CNT_FLOW_RECLASS);
			f->epoch = (__u32)epoch;
			f->rule = nf.rule;
			f->device = nf.device;
			f->action = nf.action;
			f->flags = nf.flags;
			event(GWBPF_EV_DECIDED, &p, &k, f, 0);
		}
	}
	if (f->action != GWBPF_ALLOW) {
		count(GWBPF_CNT_EGRESS_DROP);
		return TC_ACT_SHOT;
	}
	if ((f->flags & GWBPF_RULE_RATE) && f->epoch == (__u32)epoch &&
	    !rate_take(&p, slot, f, skb->len, GWBPF_DIR_DOWN)) {
		count(GWBPF_CNT_RATE_DROP);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
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
