/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: frames off the wire through the fast path's parser
 * (dataplane/parse.c), and what the fast path then does to a frame it
 * parsed: the NAT rewrite with incremental checksum updates, the TTL
 * decrement, and the reject reply it builds.  Promises checked:
 *   - every failure is a named drop reason, every offset inside the frame;
 *   - no more tags than walked; a transport's payload inside the packet; a
 *     window scale of at most 14;
 *   - a frame behind priority tags only (VID 0) parses, with its tags
 *     taken off as the pipeline takes them, to the same packet;
 *   - an IPv4 header checksum that was right stays right after rewriting
 *     and decrementing (RFC 1624 arithmetic), and one that was wrong stays
 *     wrong (the fast path never launders a damaged header);
 *   - a rewritten frame parses again, with the new addresses and ports;
 *   - a reject reply parses, and its IPv4 header checksum is right.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cksum.h"
#include "parse.h"
#include "xlate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool ip4_header_ok(const uint8_t *frame, const struct dp_pkt *p)
{
	size_t ihl = (size_t)(frame[p->l3_off] & 0x0f) * 4;
	return dp_csum(frame + p->l3_off, ihl) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65535)
		return 0;
	struct dp_pkt p;
	int r = dp_parse(data, (uint32_t)size, &p);
	if (r != 0) {
		if (!dp_drop_name(dp_parse_reason(r)))
			abort();
		return 0;
	}
	if (p.l3_off > size || (p.family && (p.l4_off > size || p.l4_off < p.l3_off)))
		abort();
	if (p.vlans > DP_PARSE_MAX_VLAN || p.l3_off != DP_ETH_HLEN + DP_VLAN_HLEN * p.vlans)
		abort();
	if (p.family && (p.proto == 6 || p.proto == 17) &&
	    (size_t)p.l4_off + (p.proto == 6 ? 20u : 8u) + p.l4_payload >
		    (size_t)p.l3_off + p.l3_len)
		abort();
	if (p.tcp_wscale != DP_TCP_NO_WSCALE && p.tcp_wscale > 14)
		abort();
	if (p.vlans && !p.vlan_id) {
		/* As the pipeline's front() strips them. */
		size_t tags = DP_VLAN_HLEN * p.vlans;
		uint8_t *u = malloc(size - tags);
		if (!u)
			return 0;
		memcpy(u, data, 12);
		memcpy(u + 12, data + 12 + tags, size - 12 - tags);
		struct dp_pkt q;
		if (dp_parse(u, (uint32_t)(size - tags), &q) != 0 || q.vlans || q.family != p.family ||
		    q.proto != p.proto || q.sport != p.sport || q.dport != p.dport ||
		    memcmp(q.src, p.src, 16) || memcmp(q.dst, p.dst, 16) ||
		    q.l3_off + tags != p.l3_off)
			abort();
		free(u);
	}
	if (p.icmp_kind == DP_ICMP_ERROR &&
	    (p.inner.l3_off > size || p.inner.l4_off > size || p.inner.l3_off < p.l4_off ||
	     (size_t)p.inner.l3_off + p.inner.len > size))
		abort();

	uint8_t *frame = malloc(size);
	uint8_t out[1600];
	if (!frame)
		return 0;
	memcpy(frame, data, size);

	/* What the reject path would send back. */
	static const uint8_t mac[6] = { 0x02, 0, 0, 0, 0, 1 };
	static const uint8_t gw[16] = { 192, 168, 1, 1 };
	static const uint8_t gw6[16] = { 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	size_t n = dp_build_reject(frame, &p, mac, p.family == 6 ? gw6 : gw, out, sizeof(out));
	if (n > sizeof(out))
		abort();
	if (n) {
		/* The fast path's parser reads the quoted packet of an ICMP
		 * error only as far as it translates (TCP, UDP, echo, no IPv6
		 * extension headers): a reply quoting anything else is valid,
		 * but that parser calls it DP_DROP_ICMP_INNER. */
		struct dp_pkt rp;
		int rr = dp_parse(out, (uint32_t)n, &rp);
		if (rr != 0 && dp_parse_reason(rr) != DP_DROP_ICMP_INNER)
			abort();
		if (rr == 0 && rp.family == 4 && !ip4_header_ok(out, &rp))
			abort();
	}

	/* The NAT rewrite of an IPv4 TCP/UDP packet, and the TTL step. */
	if (p.family == 4 && (p.proto == 6 || p.proto == 17) && p.icmp_kind == DP_ICMP_NONE &&
	    p.ttl > 1) {
		bool was_ok = ip4_header_ok(frame, &p);
		struct dp_tuple t = { .sport = (uint16_t)((p.sport ^ 0x5a5a) | 1),
				      .dport = p.dport };
		memcpy(t.src, (uint8_t[]){ 203, 0, 113, (uint8_t)(p.src[3] + 1) }, 4);
		memcpy(t.dst, p.dst, 4);
		dp_rewrite4(frame, &p, &t);
		dp_ttl_dec(frame, &p);
		struct dp_pkt q;
		if (dp_parse(frame, (uint32_t)size, &q) != 0)
			abort();
		if (memcmp(q.src, t.src, 4) || memcmp(q.dst, t.dst, 4) || q.sport != t.sport ||
		    q.dport != t.dport || q.ttl != p.ttl - 1)
			abort();
		if (ip4_header_ok(frame, &q) != was_ok)
			abort();
	}
	free(frame);
	return 0;
}
