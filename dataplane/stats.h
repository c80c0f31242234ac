/* SPDX-License-Identifier: MIT */
/*
 * What becomes of a packet: forwarded, punted to the gateway's kernel, or
 * dropped for a named reason.  Every packet a port receives ends as exactly
 * one of these, so per port: rx == forwarded + punted + sum(drops).
 * The names are the counter names in logs and stats; keep them stable.
 * No DPDK here: the parser's tests run without it.
 */
#ifndef GW_DATAPLANE_STATS_H
#define GW_DATAPLANE_STATS_H

#include <stdint.h>

#define DP_DROP_REASONS(X)                                                         \
	X(ETH_TRUNC, "eth_trunc")             /* shorter than an Ethernet header */ \
	X(VLAN_TRUNC, "vlan_trunc")           /* 802.1Q tag cut short */            \
	X(VLAN_STACKED, "vlan_stacked")       /* more tags than GW_PKT_MAX_VLAN */  \
	X(VLAN, "vlan")                       /* a tag with a VLAN id: no VLANs are configured */ \
	X(ETHERTYPE, "ethertype")             /* neither IPv4, IPv6 nor ARP */      \
	X(L2_NOT_OURS, "l2_not_ours")         /* unicast to another MAC */          \
	X(L2_GROUP, "l2_group")               /* broadcast or multicast frame, unicast IP */ \
	X(IP4_TRUNC, "ip4_trunc")                                                 \
	X(IP4_VERSION, "ip4_version")         /* IPv4 ethertype, version != 4 */    \
	X(IP4_IHL, "ip4_ihl")                 /* header length < 20 or past the end */ \
	X(IP4_TOTLEN, "ip4_totlen")           /* total length < header or > frame */ \
	X(IP4_CKSUM, "ip4_cksum")             /* header checksum wrong */           \
	X(IP4_MARTIAN, "ip4_martian")         /* source multicast, broadcast, loopback */ \
	X(IP6_TRUNC, "ip6_trunc")                                                 \
	X(IP6_VERSION, "ip6_version")                                             \
	X(IP6_PAYLEN, "ip6_paylen")           /* payload length > frame */          \
	X(IP6_EXT, "ip6_ext")                 /* extension header chain cut or too long */ \
	X(IP6_MARTIAN, "ip6_martian")         /* source multicast or loopback */    \
	X(FRAGMENT, "fragment")               /* IPv4 or IPv6 fragment (no reassembly yet) */ \
	X(TCP_TRUNC, "tcp_trunc")                                                 \
	X(TCP_DOFF, "tcp_doff")               /* data offset < 5 or past the end */ \
	X(TCP_FLAGS, "tcp_flags")             /* SYN+FIN, SYN+RST, no flags */      \
	X(TCP_WINDOW, "tcp_window")           /* a RST or FIN outside the flow's window */ \
	X(UDP_TRUNC, "udp_trunc")                                                 \
	X(UDP_LEN, "udp_len")                 /* UDP length < 8 or > IP payload */  \
	X(ICMP_TRUNC, "icmp_trunc")                                               \
	X(ICMP_TYPE, "icmp_type")             /* no echo, no error, not needed */   \
	X(ICMP_INNER, "icmp_inner")           /* error with an unusable inner header */ \
	X(ICMP_NO_FLOW, "icmp_no_flow")       /* error about no flow of ours */     \
	X(L4_PROTO, "l4_proto")               /* not TCP, UDP or ICMP */            \
	X(PORT_ZERO, "port_zero")             /* TCP/UDP port 0 */                  \
	X(SEGMENTED, "segmented")             /* multi-segment mbuf */              \
	X(TTL, "ttl_exceeded")                /* TTL or hop limit would reach 0 */   \
	X(LAN_SPOOFED, "lan_spoofed")         /* LAN source outside the LAN prefix */ \
	X(ON_LINK, "on_link")                 /* LAN to a LAN or link-local address through us */ \
	X(WAN_UNSOLICITED, "wan_unsolicited") /* new inbound flow from the WAN */   \
	X(WAN_CLOSED, "wan_closed")           /* to the gateway from the WAN: not open */ \
	X(WAN_GROUP, "wan_group")             /* broadcast or multicast from the WAN: not needed */ \
	X(WAN_UNCONFIGURED, "wan_unconfigured") /* from the WAN before it has an address: not DHCP */ \
	X(IP6_DISABLED, "ip6_disabled")       /* IPv6 to route, no LAN prefix set */ \
	X(NO_NEXTHOP, "no_nexthop")           /* WAN next hop unknown */            \
	X(NAT_EXHAUSTED, "nat_exhausted")     /* no free port in the NAT range */   \
	X(FLOW_FULL, "flow_full")             /* flow table full, nothing evictable */ \
	X(NO_POLICY, "no_policy")             /* a new flow before the first policy (start closed) */ \
	X(POLICY_BLOCK, "policy_block")                                            \
	X(POLICY_REJECT, "policy_reject")     /* dropped; a RST/ICMP went back */ \
	X(PUNT_LIMIT, "punt_limit")           /* to punt, but over its class's rate */ \
	X(PUNT_SOURCE_LIMIT, "punt_source_limit") /* to punt, but over its source's share */ \
	X(TWIN_FULL, "twin_full")             /* to punt, but the twin's queue is full */ \
	X(NO_WAN_ADDR, "no_wan_addr")         /* IPv4 to the WAN, the WAN twin has no address yet */ \
	X(RATE_LIMIT, "rate_limit")           /* allowed, but over its rule's rate */ \
	X(STEER_FULL, "steer_full")           /* its flow's worker's queue is full */ \
	X(NAT_FILTERED, "nat_filtered")       /* to a NAT mapping, not let in by its filtering */ \
	X(DEVICE_FLOW_CAP, "device_flow_cap") /* its device holds its cap of flows */ \
	X(DEVICE_NAT_CAP, "device_nat_cap")   /* its device holds its cap of NAT mappings */ \
	X(DEVICE_FULL, "device_full")         /* a new device, and every device slot is busy */ \
	X(HAIRPIN_ICMP, "hairpin_icmp")       /* an ICMP error about a hairpinned flow */

enum dp_drop {
#define X(e, n) DP_DROP_##e,
	DP_DROP_REASONS(X)
#undef X
	DP_DROP_COUNT
};

/* Why a packet went to the gateway's own kernel (its TAP twin): only what
 * is addressed to the gateway and needed.  Each reason is a policing class
 * (punt.h): its own rate, a share per source, and a queue of its priority
 * (the first three go before the rest). */
#define DP_PUNT_REASONS(X)                                            \
	X(ARP, "arp")                   /* ARP */                     \
	X(ND, "nd")                     /* ICMPv6 RS, RA, NS, NA, MLD */ \
	X(DHCP, "dhcp")                 /* DHCP(v6): the LAN's server, the WAN's client */ \
	X(ICMP, "icmp")                 /* echo to the gateway; errors, echo replies for the kernel's own */ \
	X(GATEWAY, "gateway")           /* the gateway's services: from the LAN, and open WAN ports */ \
	X(KERNEL, "kernel")             /* from the WAN to the kernel's ports (its own and its NAT's flows) */ \
	X(MULTICAST, "multicast")       /* other broadcast and multicast from the LAN */

/* The punt reasons whose queue to the kernel goes first. */
#define DP_PUNT_URGENT(p) ((p) == DP_PUNT_ARP || (p) == DP_PUNT_ND || (p) == DP_PUNT_DHCP)

enum dp_punt {
#define X(e, n) DP_PUNT_##e,
	DP_PUNT_REASONS(X)
#undef X
	DP_PUNT_COUNT
};

const char *dp_drop_name(enum dp_drop d);
const char *dp_punt_name(enum dp_punt p);

/* Across ports: sum(forwarded) + sum(generated) + sum(from_kernel) ==
 * sum(tx) + sum(tx_full).
 * One port's counters, as kept by one worker (no atomics: each worker owns
 * its copy; readers sum them and accept a torn read). */
struct dp_port_stats {
	uint64_t rx, rx_bytes;
	uint64_t forwarded;   /* handed to a TX queue */
	uint64_t tx, tx_bytes; /* accepted by this port's TX queue, replies included */
	uint64_t tx_full;     /* refused by this port's TX queue, freed */
	uint64_t generated;   /* RSTs and ICMP errors we built */
	uint64_t punted;
	uint64_t from_kernel; /* sent by the kernel on the port's twin, queued for TX here */
	uint64_t punt[DP_PUNT_COUNT];
	uint64_t drop[DP_DROP_COUNT];
};

#endif
