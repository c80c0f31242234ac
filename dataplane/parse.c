/* SPDX-License-Identifier: MIT */
/* The frame parser (see parse.h).  Reads only what it was given. */
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include "cksum.h"
#include "parse.h"

#define FAIL(reason) return (int)(DP_DROP_##reason) + 1


static const char *const drop_names[DP_DROP_COUNT] = {
#define X(e, n) [DP_DROP_##e] = n,
	DP_DROP_REASONS(X)
#undef X
};

static const char *const punt_names[DP_PUNT_COUNT] = {
#define X(e, n) [DP_PUNT_##e] = n,
	DP_PUNT_REASONS(X)
#undef X
};

const char *dp_drop_name(enum dp_drop d)
{
	return (unsigned)d < DP_DROP_COUNT ? drop_names[d] : "?";
}

const char *dp_punt_name(enum dp_punt p)
{
	return (unsigned)p < DP_PUNT_COUNT ? punt_names[p] : "?";
}

bool dp_ip4_is_group(const uint8_t a[4])
{
	return (a[0] & 0xf0) == 0xe0 || (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255);
}

bool dp_ip6_is_link_local(const uint8_t a[16])
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

bool dp_ip6_is_multicast(const uint8_t a[16])
{
	return a[0] == 0xff;
}

bool dp_prefix_has(uint8_t family, const uint8_t prefix[16], uint8_t plen, const uint8_t addr[16])
{
	unsigned max = family == 4 ? 32 : 128;
	if (plen > max)
		return false;
	unsigned full = plen / 8, rest = plen % 8;
	if (memcmp(prefix, addr, full))
		return false;
	return !rest || !((prefix[full] ^ addr[full]) & (uint8_t)(0xff00u >> rest));
}

static bool ip6_is_loopback(const uint8_t a[16])
{
	static const uint8_t lo[16] = { [15] = 1 };
	return !memcmp(a, lo, 16);
}

static enum dp_icmp_kind icmp4_kind(uint8_t type)
{
	switch (type) {
	case 8: return DP_ICMP_ECHO_REQUEST;
	case 0: return DP_ICMP_ECHO_REPLY;
	case 3:  /* destination unreachable */
	case 11: /* time exceeded */
	case 12: /* parameter problem */
		return DP_ICMP_ERROR;
	}
	return DP_ICMP_OTHER;
}

static enum dp_icmp_kind icmp6_kind(uint8_t type)
{
	switch (type) {
	case 128: return DP_ICMP_ECHO_REQUEST;
	case 129: return DP_ICMP_ECHO_REPLY;
	case 1: /* destination unreachable */
	case 2: /* packet too big */
	case 3: /* time exceeded */
	case 4: /* parameter problem */
		return DP_ICMP_ERROR;
	}
	return DP_ICMP_OTHER;
}

/* The quoted header of an ICMP error: an IP header and at least the first
 * 8 bytes of a TCP, UDP or echo header (RFC 792, RFC 4443). */
static int parse_inner(const uint8_t *f, uint32_t off, uint32_t end, uint8_t family,
		       struct dp_inner *in)
{
	uint32_t l4;
	memset(in, 0, sizeof(*in));
	in->l3_off = (uint16_t)off;
	if (family == 4) {
		if (end - off < 20 || f[off] >> 4 != 4)
			FAIL(ICMP_INNER);
		uint32_t ihl = (f[off] & 0xfu) * 4u;
		if (ihl < 20 || end - off < ihl + 8)
			FAIL(ICMP_INNER);
		if (dp_get16(f + off + 6) & 0x1fff) /* a later fragment: no ports */
			FAIL(ICMP_INNER);
		in->proto = f[off + 9];
		memcpy(in->src, f + off + 12, 4);
		memcpy(in->dst, f + off + 16, 4);
		l4 = off + ihl;
	} else {
		if (end - off < 48 || f[off] >> 4 != 6)
			FAIL(ICMP_INNER);
		in->proto = f[off + 6];
		memcpy(in->src, f + off + 8, 16);
		memcpy(in->dst, f + off + 24, 16);
		l4 = off + 40;
	}
	in->l4_off = (uint16_t)l4;
	in->len = (uint16_t)(end - off);
	switch (in->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		in->sport = dp_get16(f + l4);
		in->dport = dp_get16(f + l4 + 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		if ((family == 4) != (in->proto == IPPROTO_ICMP))
			FAIL(ICMP_INNER);
		enum dp_icmp_kind k = family == 4 ? icmp4_kind(f[l4]) : icmp6_kind(f[l4]);
		if (k != DP_ICMP_ECHO_REQUEST && k != DP_ICMP_ECHO_REPLY)
			FAIL(ICMP_INNER);
		in->sport = in->dport = dp_get16(f + l4 + 4);
		break;
	}
	default:
		FAIL(ICMP_INNER);
	}
	return 0;
}

/* A SYN's window scale option (RFC 7323: kind 3, length 3, the shift,
 * at most 14), or DP_TCP_NO_WSCALE; opt: the options, len bytes. */
static uint8_t tcp_wscale(const uint8_t *opt, uint32_t len)
{
	for (uint32_t i = 0; i < len;) {
		uint8_t kind = opt[i];
		if (kind == 0) /* end of options */
			break;
		if (kind == 1) { /* no-op */
			i++;
			continue;
		}
		if (len - i < 2 || opt[i + 1] < 2 || opt[i + 1] > len - i)
			break; /* a broken list: no option from it */
		if (kind == 3 && opt[i + 1] == 3)
			return opt[i + 2] > 14 ? 14 : opt[i + 2];
		i += opt[i + 1];
	}
	return DP_TCP_NO_WSCALE;
}

static int parse_l4(const uint8_t *f, uint32_t off, uint32_t end, struct dp_pkt *p)
{
	uint32_t avail = end - off;
	p->l4_off = (uint16_t)off;
	switch (p->proto) {
	case IPPROTO_TCP: {
		if (avail < 20)
			FAIL(TCP_TRUNC);
		uint32_t doff = (uint32_t)(f[off + 12] >> 4) * 4u;
		if (doff < 20 || doff > avail)
			FAIL(TCP_DOFF);
		p->sport = dp_get16(f + off);
		p->dport = dp_get16(f + off + 2);
		uint8_t fl = f[off + 13];
		p->tcp_flags = fl;
		if ((fl & DP_TCP_SYN && fl & (DP_TCP_FIN | DP_TCP_RST)) || !(fl & 0x3f))
			FAIL(TCP_FLAGS);
		if (!p->sport || !p->dport)
			FAIL(PORT_ZERO);
		p->tcp_seq = dp_get32(f + off + 4);
		p->tcp_ack = dp_get32(f + off + 8);
		p->tcp_win = dp_get16(f + off + 14);
		p->l4_payload = (uint16_t)(avail - doff);
		p->tcp_wscale = fl & DP_TCP_SYN ? tcp_wscale(f + off + 20, doff - 20) :
						  DP_TCP_NO_WSCALE;
		return 0;
	}
	case IPPROTO_UDP: {
		if (avail < 8)
			FAIL(UDP_TRUNC);
		uint16_t ulen = dp_get16(f + off + 4);
		if (ulen < 8 || ulen > avail)
			FAIL(UDP_LEN);
		p->sport = dp_get16(f + off);
		p->dport = dp_get16(f + off + 2);
		if (!p->dport)
			FAIL(PORT_ZERO);
		p->l4_payload = (uint16_t)(ulen - 8);
		return 0;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		if ((p->family == 4) != (p->proto == IPPROTO_ICMP))
			FAIL(L4_PROTO); /* ICMPv6 in IPv4 or ICMP in IPv6 */
		if (avail < 8)
			FAIL(ICMP_TRUNC);
		p->icmp_type = f[off];
		p->icmp_code = f[off + 1];
		p->icmp_kind = (uint8_t)(p->family == 4 ? icmp4_kind(p->icmp_type)
							: icmp6_kind(p->icmp_type));
		if (p->icmp_kind == DP_ICMP_ECHO_REQUEST || p->icmp_kind == DP_ICMP_ECHO_REPLY)
			p->sport = p->dport = dp_get16(f + off + 4);
		else if (p->icmp_kind == DP_ICMP_ERROR)
			return parse_inner(f, off + 8, end, p->family, &p->inner);
		return 0;
	}
	}
	return 0; /* another protocol: the pipeline decides */
}

static int parse_ip4(const uint8_t *f, uint32_t off, uint32_t len, struct dp_pkt *p)
{
	if (len - off < 20)
		FAIL(IP4_TRUNC);
	const uint8_t *h = f + off;
	if (h[0] >> 4 != 4)
		FAIL(IP4_VERSION);
	uint32_t ihl = (h[0] & 0xfu) * 4u;
	if (ihl < 20 || ihl > len - off)
		FAIL(IP4_IHL);
	uint32_t tot = dp_get16(h + 2);
	if (tot < ihl || tot > len - off)
		FAIL(IP4_TOTLEN);
	if (dp_csum(h, ihl) != 0)
		FAIL(IP4_CKSUM);
	p->family = 4;
	p->l3_len = (uint16_t)tot;
	p->ttl = h[8];
	p->proto = h[9];
	memcpy(p->src, h + 12, 4);
	memcpy(p->dst, h + 16, 4);
	/* Never on a wire (RFC 1122 3.2.1.3): a group or loopback source,
	 * a loopback or "this network" destination. */
	if ((p->src[0] & 0xf0) == 0xe0 || p->src[0] == 127 ||
	    (p->src[0] == 255 && p->src[1] == 255 && p->src[2] == 255 && p->src[3] == 255) ||
	    p->dst[0] == 127 || p->dst[0] == 0)
		FAIL(IP4_MARTIAN);
	if (dp_get16(h + 6) & 0x3fff) /* MF or an offset */
		FAIL(FRAGMENT);
	return parse_l4(f, off + ihl, off + tot, p);
}

static int parse_ip6(const uint8_t *f, uint32_t off, uint32_t len, struct dp_pkt *p)
{
	if (len - off < 40)
		FAIL(IP6_TRUNC);
	const uint8_t *h = f + off;
	if (h[0] >> 4 != 6)
		FAIL(IP6_VERSION);
	uint32_t plen = dp_get16(h + 4);
	if (plen > len - off - 40)
		FAIL(IP6_PAYLEN);
	p->family = 6;
	p->l3_len = (uint16_t)(40 + plen);
	p->ttl = h[7];
	memcpy(p->src, h + 8, 16);
	memcpy(p->dst, h + 24, 16);
	/* Never on a wire (RFC 4291 2.5.2-3): a multicast or loopback source,
	 * a loopback or unspecified destination. */
	static const uint8_t unspecified[16];
	if (dp_ip6_is_multicast(p->src) || ip6_is_loopback(p->src) || ip6_is_loopback(p->dst) ||
	    memcmp(p->dst, unspecified, 16) == 0)
		FAIL(IP6_MARTIAN);
	uint32_t end = off + 40 + plen, at = off + 40;
	uint8_t next = h[6];
	for (unsigned n = 0;; n++) {
		if (!GW_PKT_IP6_IS_EXT(next))
			break;
		if (next == 44) /* a fragment's transport is elsewhere */
			FAIL(FRAGMENT);
		if (n == DP_PARSE_MAX_IP6_EXT || end - at < 8)
			FAIL(IP6_EXT);
		/* AH's length is in 4-octet units, not counting two; the
		 * others' (RFC 6564) in 8-octet units, not counting one. */
		uint32_t elen = next == 51 ? ((uint32_t)f[at + 1] + 2) * 4 :
					     ((uint32_t)f[at + 1] + 1) * 8;
		if (elen > end - at)
			FAIL(IP6_EXT);
		next = f[at];
		at += elen;
	}
	p->proto = next;
	return parse_l4(f, at, end, p);
}

int dp_parse(const uint8_t *f, uint32_t len, struct dp_pkt *p)
{
	memset(p, 0, offsetof(struct dp_pkt, inner));
	if (len > UINT16_MAX) /* offsets are 16-bit; no frame is longer */
		len = UINT16_MAX;
	if (len < DP_ETH_HLEN)
		FAIL(ETH_TRUNC);
	uint32_t off = DP_ETH_HLEN;
	uint16_t type = dp_get16(f + 12);
	p->l2_group = f[0] & 1;
	while (type == DP_ETHERTYPE_VLAN || type == DP_ETHERTYPE_QINQ) {
		if (p->vlans == DP_PARSE_MAX_VLAN)
			FAIL(VLAN_STACKED);
		if (len - off < DP_VLAN_HLEN)
			FAIL(VLAN_TRUNC);
		uint16_t tci = dp_get16(f + off);
		if (!p->vlans)
			p->vlan_tci = tci;
		p->vlan_id |= (tci & 0x0fff) != 0;
		p->vlans++;
		type = dp_get16(f + off + 2);
		off += DP_VLAN_HLEN;
	}
	p->vlan = p->vlans > 0;
	p->ethertype = type;
	p->l3_off = (uint16_t)off;
	switch (type) {
	case DP_ETHERTYPE_IP4:
		return parse_ip4(f, off, len, p);
	case DP_ETHERTYPE_IP6:
		return parse_ip6(f, off, len, p);
	case DP_ETHERTYPE_ARP:
		return 0;
	}
	FAIL(ETHERTYPE);
}
