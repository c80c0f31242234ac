/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * The floor gw-bench-ebpf measures the classifier against: the least a
 * stateful XDP classifier does with a packet.  It parses Ethernet, IPv4 or
 * IPv6 and the TCP/UDP ports, looks the 5-tuple up in a flow table (a BPF
 * hash map, the kernel's own), and adds one to the flow's counter; a
 * packet of no flow inserts one.  Every packet passes.  No policy, no
 * reply direction, no events: what any stateful program pays, so that
 * gw's cost above it is what gw's own work costs.
 */
#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define ETH_P_IP   0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* The 5-tuple as gw keys it (gwbpf_flow_key: 40 bytes, IPv4 and IPv6). */
struct floor_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u16 pad;
	__u8 src[16];
	__u8 dst[16];
} __attribute__((aligned(8)));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* gw-bench-ebpf sets gw's table size */
	__type(key, struct floor_key);
	__type(value, __u64);
} floor_flows SEC(".maps");

SEC("xdp")
int floor_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct floor_key k = {};
	void *l4;
	if ((void *)(eth + 1) > end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > end)
			return XDP_PASS;
		k.family = 4;
		k.proto = ip->protocol;
		__builtin_memcpy(k.src, &ip->saddr, 4);
		__builtin_memcpy(k.dst, &ip->daddr, 4);
		l4 = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return XDP_PASS;
		k.family = 6;
		k.proto = ip6->nexthdr;
		__builtin_memcpy(k.src, &ip6->saddr, 16);
		__builtin_memcpy(k.dst, &ip6->daddr, 16);
		l4 = ip6 + 1;
	} else {
		return XDP_PASS;
	}
	if (k.proto == IPPROTO_TCP || k.proto == IPPROTO_UDP) {
		__be16 *ports = l4;
		if ((void *)(ports + 2) > end)
			return XDP_PASS;
		k.sport = ports[0];
		k.dport = ports[1];
	}
	__u64 *n = bpf_map_lookup_elem(&floor_flows, &k);
	if (n) {
		*n += 1;
		return XDP_PASS;
	}
	__u64 one = 1;
	bpf_map_update_elem(&floor_flows, &k, &one, BPF_NOEXIST);
	return XDP_PASS;
}
