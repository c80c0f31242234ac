/* SPDX-License-Identifier: MIT */
/*
 * Rewriting frames in place and building replies: NAT44 address and port
 * translation with incremental checksums (RFC 1624), TTL/hop-limit
 * decrement, ICMP error translation (the quoted inner header, RFC 5508),
 * and the TCP RST / ICMP unreachable a `reject` sends back.  Works on a
 * frame already accepted by dp_parse(); no DPDK here.
 */
#ifndef GW_DATAPLANE_XLATE_H
#define GW_DATAPLANE_XLATE_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

/* A packet's addresses and ports as it should leave (host-order ports). */
struct dp_tuple {
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
};

void dp_set_macs(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6]);

/* IPv4: set addresses and ports (ICMP echo: the identifier from t->sport),
 * fixing the IP and transport checksums incrementally. */
void dp_rewrite4(uint8_t *frame, const struct dp_pkt *p, const struct dp_tuple *t);

/* Decrement TTL / hop limit (the caller checked it is > 1). */
void dp_ttl_dec(uint8_t *frame, const struct dp_pkt *p);

/* An ICMPv4 error about a packet of a flow we translated.  inner: the
 * quoted packet's tuple as its sender first sent it; outer_src/outer_dst:
 * the error's new outer addresses.  The ICMP checksum is recomputed over the
 * (short) error message. */
void dp_rewrite_icmp4_error(uint8_t *frame, const struct dp_pkt *p, const struct dp_tuple *inner,
			    const uint8_t outer_src[4], const uint8_t outer_dst[4]);

/* The reply to a rejected packet, sent back where it came from: a TCP RST
 * for TCP, else an ICMP/ICMPv6 "administratively prohibited" from
 * gw_addr (the gateway's LAN address of that family).  Writes at most cap
 * bytes into out; returns the frame length, or 0 if cap is too small or the
 * packet deserves no reply (an ICMP error, a RST, anything sent to a
 * multicast or broadcast address is never answered). */
size_t dp_build_reject(const uint8_t *frame, const struct dp_pkt *p, const uint8_t our_mac[6],
		       const uint8_t gw_addr[16], uint8_t *out, size_t cap);

#endif
