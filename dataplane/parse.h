/* SPDX-License-Identifier: MIT */
/*
 * Parsing a received frame into the few facts the fast path needs:
 * Ethernet with up to DP_PARSE_MAX_VLAN 802.1Q/802.1ad tags, IPv4, IPv6
 * (with up to DP_PARSE_MAX_IP6_EXT extension headers), TCP, UDP, ICMP and
 * ICMPv6, and for ICMP errors the header of the packet they quote.  What
 * it cannot parse whole (more tags or extension headers than it walks, a
 * header cut short) is a named drop reason (stats.h), never "not IP":
 * fail closed.  The parser reads only the bytes it is given and never
 * writes.
 * No DPDK here: it runs in the unit tests, also under qemu for aarch64.
 */
#ifndef GW_DATAPLANE_PARSE_H
#define GW_DATAPLANE_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "pktlimits.h"
#include "stats.h"

#define DP_ETH_HLEN  14
#define DP_VLAN_HLEN 4

/* How deep the parser walks: as deep as the eBPF engine (policy/pktlimits.h). */
#define DP_PARSE_MAX_VLAN GW_PKT_MAX_VLAN
#define DP_PARSE_MAX_IP6_EXT GW_PKT_MAX_IP6_EXT

#define DP_ETHERTYPE_IP4  0x0800
#define DP_ETHERTYPE_ARP  0x0806
#define DP_ETHERTYPE_VLAN 0x8100
#define DP_ETHERTYPE_QINQ 0x88a8
#define DP_ETHERTYPE_IP6  0x86dd

#define DP_TCP_FIN 0x01
#define DP_TCP_SYN 0x02
#define DP_TCP_RST 0x04
#define DP_TCP_PSH 0x08
#define DP_TCP_ACK 0x10

#define DP_TCP_NO_WSCALE 0xff

enum dp_icmp_kind {
	DP_ICMP_NONE = 0,  /* not ICMP */
	DP_ICMP_ECHO_REQUEST,
	DP_ICMP_ECHO_REPLY,
	DP_ICMP_ERROR,     /* unreachable, time exceeded, parameter problem, too big */
	DP_ICMP_OTHER,     /* ND, MLD, router discovery, timestamps, ... */
};

/* The quoted packet of an ICMP error: what we once sent or forwarded.  It
 * may be cut short after its first 8 bytes of transport header. */
struct dp_inner {
	uint16_t l3_off, l4_off; /* from the frame's start */
	uint16_t len;            /* bytes of it present, from l3_off */
	uint8_t proto;           /* IPPROTO_TCP, _UDP, _ICMP or _ICMPV6 (echo only) */
	uint8_t pad;
	uint16_t sport, dport;   /* host order; echo: the identifier in both */
	uint8_t src[16], dst[16];
};

struct dp_pkt {
	uint16_t l3_off, l4_off; /* from the frame's start */
	uint16_t l3_len;         /* IP total length: bytes past it are padding */
	uint16_t ethertype;      /* after the tags, if any */
	uint16_t vlan_tci;       /* the outermost tag's */
	bool vlan;               /* tagged (vlans > 0) */
	uint8_t vlans;           /* tags walked */
	bool vlan_id;            /* some tag has a VLAN id (not a priority tag, VID 0) */
	bool l2_group;           /* to a broadcast or multicast MAC */
	uint8_t family;          /* 4, 6, or 0 for ARP */
	uint8_t proto;           /* IPPROTO_* of the transport header */
	uint8_t ttl;             /* TTL or hop limit */
	uint8_t tcp_flags;
	uint8_t icmp_kind;       /* enum dp_icmp_kind */
	uint8_t icmp_type, icmp_code;
	uint16_t sport, dport;   /* host order; ICMP echo: the identifier in both */
	uint8_t src[16], dst[16]; /* IPv4 in [0..3], the rest zero */
	/* TCP: sequence and acknowledgment numbers, the window field, the
	 * window scale option of a SYN (DP_TCP_NO_WSCALE: none), and the
	 * segment's payload bytes (also for UDP). */
	uint32_t tcp_seq, tcp_ack;
	uint16_t tcp_win;
	uint8_t tcp_wscale;
	uint16_t l4_payload;
	struct dp_inner inner;   /* valid when icmp_kind == DP_ICMP_ERROR */
};

/* 0 and *ret filled (ret may be written on failure too), or the drop
 * reason + 1 (so that 0 means parsed).  Use dp_parse_reason(). */
int dp_parse(const uint8_t *frame, uint32_t len, struct dp_pkt *ret);

static inline enum dp_drop dp_parse_reason(int r)
{
	return (enum dp_drop)(r - 1);
}

/* Address classes the pipeline decides on. */
bool dp_ip4_is_group(const uint8_t a[4]);    /* multicast or limited broadcast */
bool dp_ip6_is_link_local(const uint8_t a[16]);
bool dp_ip6_is_multicast(const uint8_t a[16]);
bool dp_prefix_has(uint8_t family, const uint8_t prefix[16], uint8_t plen,
		   const uint8_t addr[16]);

#endif
