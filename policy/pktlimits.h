/* SPDX-License-Identifier: MIT */
/*
 * How deep both engines parse a frame before they classify it, so that
 * they pass and drop the same frames (DESIGN.md, "Fail closed").  The DPDK
 * fast path (dataplane/parse.c) and the eBPF classifier
 * (ebpf/classify.bpf.c) walk at most these headers.  A frame that needs
 * more to reach its transport header (a third VLAN tag, a ninth IPv6
 * extension header), or whose headers are cut short, is dropped and
 * counted under a named reason: never handed on as "not IP", never
 * classified without its ports.
 *
 * Macros only: also compiled by clang -target bpf.  Bump
 * GW_PKT_LIMITS_VERSION when a value changes.
 */
#ifndef GW_POLICY_PKTLIMITS_H
#define GW_POLICY_PKTLIMITS_H

#define GW_PKT_LIMITS_VERSION 1

/* 802.1Q (0x8100) and 802.1ad (0x88a8) tags walked in front of the
 * ethertype, a priority tag (VID 0) counted like any other: an 802.1ad
 * S-tag and its C-tag, or a priority tag and one VLAN tag. */
#define GW_PKT_MAX_VLAN 2

/* IPv6 extension headers walked before the transport header.  RFC 8200's
 * recommended order has at most six (hop-by-hop, destination options,
 * routing, fragment, AH, destination options); eight leave room for the
 * rarer ones below. */
#define GW_PKT_MAX_IP6_EXT 8

/* The next-header values walked as extension headers: IANA's IPv6
 * Extension Header Types (RFC 7045), but ESP (50), whose payload is
 * encrypted and is the transport as far as a gateway can see.  Hop-by-hop
 * (0), routing (43), destination options (60), mobility (135), HIP (139),
 * shim6 (140) and the experiments (253, 254) have the common format
 * (RFC 6564: next header, then the length in 8-octet units not counting
 * the first); the fragment header (44) is 8 octets; AH's length (51) is
 * in 4-octet units not counting the first two. */
#define GW_PKT_IP6_IS_EXT(nh)                                                              \
	((nh) == 0 || (nh) == 43 || (nh) == 44 || (nh) == 51 || (nh) == 60 || (nh) == 135 || \
	 (nh) == 139 || (nh) == 140 || (nh) == 253 || (nh) == 254)

#endif
