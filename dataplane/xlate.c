/* SPDX-License-Identifier: MIT */
/* Frame rewriting and reject replies (see xlate.h). */
#include <netinet/in.h>
#include <string.h>

#include "cksum.h"
#include "xlate.h"

#define IP4_ICMP_QUOTE_MAX (576 - 20 - 8) /* RFC 1812 4.3.2.3 */
#define IP6_ICMP_QUOTE_MAX (1280 - 40 - 8) /* RFC 4443 2.4 (c) */

void dp_set_macs(uint8_t *f, const uint8_t dst[6], const uint8_t src[6])
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
}

/* The transport checksum field of an IPv4 packet, or NULL. */
static uint8_t *l4_csum(uint8_t *f, uint16_t l4_off, uint8_t proto, uint32_t avail)
{
	uint8_t *l4 = f + l4_off;
	switch (proto) {
	case IPPROTO_TCP:
		return avail >= 18 ? l4 + 16 : NULL;
	case IPPROTO_UDP:
		return avail >= 8 ? l4 + 6 : NULL;
	case IPPROTO_ICMP:
		return avail >= 4 ? l4 + 2 : NULL;
	}
	return NULL;
}

static void update(uint8_t *csum, uint8_t proto, const uint8_t *old, const uint8_t *new, size_t n)
{
	if (!csum)
		return;
	if (proto == IPPROTO_UDP)
		dp_udp_csum_update(csum, old, new, n);
	else
		dp_csum_update(csum, old, new, n);
}

/* Rewrite the tuple of one IPv4 header at l3 with its transport header at
 * l4 (avail bytes of it present). */
static void rewrite4_at(uint8_t *f, uint16_t l3, uint16_t l4, uint32_t avail, uint8_t proto,
			const struct dp_tuple *t, bool icmp_id_from_sport)
{
	uint8_t *ip = f + l3, *th = f + l4;
	uint8_t *csum = l4_csum(f, l4, proto, avail);
	bool pseudo = proto != IPPROTO_ICMP; /* ICMPv4 sums no pseudo-header */
	if (memcmp(ip + 12, t->src, 4)) {
		dp_csum_update(ip + 10, ip + 12, t->src, 4);
		if (pseudo)
			update(csum, proto, ip + 12, t->src, 4);
		memcpy(ip + 12, t->src, 4);
	}
	if (memcmp(ip + 16, t->dst, 4)) {
		dp_csum_update(ip + 10, ip + 16, t->dst, 4);
		if (pseudo)
			update(csum, proto, ip + 16, t->dst, 4);
		memcpy(ip + 16, t->dst, 4);
	}
	uint8_t np[2];
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		dp_put16(np, t->sport);
		update(csum, proto, th, np, 2);
		memcpy(th, np, 2);
		dp_put16(np, t->dport);
		update(csum, proto, th + 2, np, 2);
		memcpy(th + 2, np, 2);
	} else if (proto == IPPROTO_ICMP) {
		dp_put16(np, icmp_id_from_sport ? t->sport : t->dport);
		update(csum, proto, th + 4, np, 2);
		memcpy(th + 4, np, 2);
	}
}

void dp_rewrite4(uint8_t *f, const struct dp_pkt *p, const struct dp_tuple *t)
{
	uint32_t avail = (uint32_t)p->l3_off + p->l3_len - p->l4_off;
	rewrite4_at(f, p->l3_off, p->l4_off, avail, p->proto, t, true);
}

void dp_ttl_dec(uint8_t *f, const struct dp_pkt *p)
{
	uint8_t *ip = f + p->l3_off;
	if (p->family == 6) {
		ip[7]--;
		return;
	}
	uint16_t old = dp_get16(ip + 8);
	ip[8]--;
	dp_csum_update16(ip + 10, old, dp_get16(ip + 8));
}

void dp_rewrite_icmp4_error(uint8_t *f, const struct dp_pkt *p, const struct dp_tuple *inner,
			    const uint8_t outer_src[4], const uint8_t outer_dst[4])
{
	const struct dp_inner *in = &p->inner;
	uint32_t avail = (uint32_t)in->l3_off + in->len - in->l4_off;
	/* The quoted packet is an echo request or reply: its identifier is
	 * the one the flow's original sender used, kept in both ports. */
	rewrite4_at(f, in->l3_off, in->l4_off, avail, in->proto, inner, true);
	uint8_t *icmp = f + p->l4_off;
	uint32_t ilen = (uint32_t)p->l3_off + p->l3_len - p->l4_off;
	dp_put16(icmp + 2, 0);
	dp_put16(icmp + 2, dp_csum(icmp, ilen));
	struct dp_tuple outer;
	memcpy(outer.src, outer_src, 4);
	memcpy(outer.dst, outer_dst, 4);
	uint8_t *ip = f + p->l3_off;
	if (memcmp(ip + 12, outer.src, 4)) {
		dp_csum_update(ip + 10, ip + 12, outer.src, 4);
		memcpy(ip + 12, outer.src, 4);
	}
	if (memcmp(ip + 16, outer.dst, 4)) {
		dp_csum_update(ip + 10, ip + 16, outer.dst, 4);
		memcpy(ip + 16, outer.dst, 4);
	}
}

/* Writes an IP header for a reply of l4len bytes of proto; returns its length. */
static size_t ip_header(uint8_t *o, uint8_t family, const uint8_t *src, const uint8_t *dst,
			uint8_t proto, size_t l4len)
{
	if (family == 4) {
		memset(o, 0, 20);
		o[0] = 0x45;
		dp_put16(o + 2, (uint16_t)(20 + l4len));
		o[8] = 64;
		o[9] = proto;
		memcpy(o + 12, src, 4);
		memcpy(o + 16, dst, 4);
		dp_put16(o + 10, dp_csum(o, 20));
		return 20;
	}
	memset(o, 0, 40);
	o[0] = 0x60;
	dp_put16(o + 4, (uint16_t)l4len);
	o[6] = proto;
	o[7] = 64;
	memcpy(o + 8, src, 16);
	memcpy(o + 24, dst, 16);
	return 40;
}

/* The transport checksum with the pseudo-header of the header at ip. */
static uint16_t l4_sum(const uint8_t *ip, uint8_t family, uint8_t proto, const uint8_t *l4,
		       size_t len)
{
	uint32_t sum = 0;
	if (family == 4) {
		if (proto == IPPROTO_ICMP)
			return dp_csum(l4, len);
		sum = dp_csum_partial(ip + 12, 8, 0);
	} else {
		sum = dp_csum_partial(ip + 8, 32, 0);
		sum += (uint32_t)(len >> 16) + (uint32_t)(len & 0xffff);
	}
	if (family == 4)
		sum += (uint32_t)len;
	sum += proto;
	return dp_csum_fold(dp_csum_partial(l4, len, sum));
}

size_t dp_build_reject(const uint8_t *f, const struct dp_pkt *p, const uint8_t our_mac[6],
		       const uint8_t gw_addr[16], uint8_t *out, size_t cap)
{
	if (p->family != 4 && p->family != 6)
		return 0;
	if (p->icmp_kind == DP_ICMP_ERROR)
		return 0;
	/* Never answer what was sent to a group, nor what came from no one
	 * host (RFC 1122 3.2.2, 4.2.2.12; RFC 4443 2.4): the reply would come
	 * from a group address or go to an unspecified one. */
	static const uint8_t unspecified[16];
	if (p->family == 4 ? dp_ip4_is_group(p->dst) || p->src[0] == 0
			   : dp_ip6_is_multicast(p->dst) || !memcmp(p->src, unspecified, 16))
		return 0;
	const uint8_t *th = f + p->l4_off;
	size_t iphl = p->family == 4 ? 20 : 40;
	size_t l4len, quote = 0;
	uint8_t proto;
	if (p->proto == IPPROTO_TCP) {
		if (p->tcp_flags & DP_TCP_RST)
			return 0; /* never answer a RST */
		l4len = 20;
		proto = IPPROTO_TCP;
	} else {
		quote = p->l3_len;
		size_t max = p->family == 4 ? IP4_ICMP_QUOTE_MAX : IP6_ICMP_QUOTE_MAX;
		if (quote > max)
			quote = max;
		l4len = 8 + quote;
		proto = p->family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	}
	size_t total = DP_ETH_HLEN + iphl + l4len;
	if (total > cap)
		return 0;
	memcpy(out, f + 6, 6);
	memcpy(out + 6, our_mac, 6);
	dp_put16(out + 12, p->family == 4 ? DP_ETHERTYPE_IP4 : DP_ETHERTYPE_IP6);
	uint8_t *ip = out + DP_ETH_HLEN, *l4 = ip + iphl;
	if (proto == IPPROTO_TCP) {
		ip_header(ip, p->family, p->dst, p->src, proto, l4len);
		memset(l4, 0, 20);
		dp_put16(l4, p->dport);
		dp_put16(l4 + 2, p->sport);
		l4[12] = 5 << 4;
		if (p->tcp_flags & DP_TCP_ACK) {
			memcpy(l4 + 4, th + 8, 4); /* seq = their ack */
			l4[13] = DP_TCP_RST;
		} else {
			uint32_t seq = (uint32_t)th[4] << 24 | (uint32_t)th[5] << 16 |
				       (uint32_t)th[6] << 8 | th[7];
			uint32_t doff = (uint32_t)(th[12] >> 4) * 4u;
			uint32_t payload = (uint32_t)p->l3_off + p->l3_len - p->l4_off - doff;
			seq += payload + !!(p->tcp_flags & DP_TCP_SYN) + !!(p->tcp_flags & DP_TCP_FIN);
			l4[8] = (uint8_t)(seq >> 24);
			l4[9] = (uint8_t)(seq >> 16);
			l4[10] = (uint8_t)(seq >> 8);
			l4[11] = (uint8_t)seq;
			l4[13] = DP_TCP_RST | DP_TCP_ACK;
		}
	} else {
		ip_header(ip, p->family, gw_addr, p->src, proto, l4len);
		memset(l4, 0, 8);
		if (p->family == 4) {
			l4[0] = 3;  /* destination unreachable */
			l4[1] = 13; /* communication administratively prohibited */
		} else {
			l4[0] = 1; /* destination unreachable */
			l4[1] = 1; /* communication with destination administratively prohibited */
		}
		memcpy(l4 + 8, f + p->l3_off, quote);
	}
	dp_put16(l4 + (proto == IPPROTO_TCP ? 16 : 2), l4_sum(ip, p->family, proto, l4, l4len));
	return total;
}
