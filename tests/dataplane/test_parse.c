/* SPDX-License-Identifier: MIT */
/*
 * The dataplane's DPDK-free parts on crafted frames: the parser (every
 * malformed case lands on its named reason), checksums (incremental equals
 * full), NAT rewriting, ICMP error translation, reject replies, arguments.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cksum.h"
#include "config.h"
#include "parse.h"
#include "xlate.h"

static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t MAC_GW[6] = { 2, 0x70, 0x63, 0x61, 0x70, 0 };

/* A frame builder: Ethernet, optional tag, IPv4/IPv6, transport. */
struct frame {
	uint8_t b[1600];
	size_t len;
};

static void eth(struct frame *f, uint16_t type)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->b, MAC_GW, 6);
	memcpy(f->b + 6, MAC_A, 6);
	dp_put16(f->b + 12, type);
	f->len = 14;
}

static uint8_t *ip4(struct frame *f, const char *src, const char *dst, uint8_t proto,
		    size_t l4len)
{
	uint8_t *h = f->b + f->len;
	h[0] = 0x45;
	dp_put16(h + 2, (uint16_t)(20 + l4len));
	h[8] = 64;
	h[9] = proto;
	inet_pton(AF_INET, src, h + 12);
	inet_pton(AF_INET, dst, h + 16);
	dp_put16(h + 10, dp_csum(h, 20));
	f->len += 20 + l4len;
	return h + 20;
}

static uint8_t *ip6(struct frame *f, const char *src, const char *dst, uint8_t next, size_t plen)
{
	uint8_t *h = f->b + f->len;
	h[0] = 0x60;
	dp_put16(h + 4, (uint16_t)plen);
	h[6] = next;
	h[7] = 64;
	inet_pton(AF_INET6, src, h + 8);
	inet_pton(AF_INET6, dst, h + 24);
	f->len += 40 + plen;
	return h + 40;
}

/* The transport checksum of an IPv4 frame's packet, computed in full. */
static uint16_t full_l4_csum4(const uint8_t *ip)
{
	size_t ihl = (ip[0] & 0xfu) * 4u, tot = dp_get16(ip + 2), len = tot - ihl;
	uint32_t sum = 0;
	if (ip[9] != IPPROTO_ICMP)
		sum = dp_csum_partial(ip + 12, 8, (uint32_t)ip[9] + (uint32_t)len);
	return dp_csum_fold(dp_csum_partial(ip + ihl, len, sum));
}

static void tcp4(struct frame *f, const char *src, const char *dst, uint16_t sp, uint16_t dp,
		 uint8_t flags)
{
	eth(f, DP_ETHERTYPE_IP4);
	uint8_t *t = ip4(f, src, dst, IPPROTO_TCP, 24);
	dp_put16(t, sp);
	dp_put16(t + 2, dp);
	t[4] = 0x11;
	t[7] = 0x22;
	t[12] = 5 << 4;
	t[13] = flags;
	memcpy(t + 20, "data", 4);
	dp_put16(t + 16, full_l4_csum4(f->b + 14));
}

static int parse(const struct frame *f, struct dp_pkt *p)
{
	return dp_parse(f->b, (uint32_t)f->len, p);
}

#define EXPECT_DROP(f, reason)                                         \
	do {                                                           \
		struct dp_pkt p_;                                      \
		int r_ = parse((f), &p_);                              \
		assert_int_not_equal(r_, 0);                           \
		assert_string_equal(dp_drop_name(dp_parse_reason(r_)), \
				    dp_drop_name(DP_DROP_##reason));   \
	} while (0)

static void test_names(void **state)
{
	(void)state;
	for (int i = 0; i < DP_DROP_COUNT; i++) {
		assert_non_null(dp_drop_name((enum dp_drop)i));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(dp_drop_name((enum dp_drop)i),
						dp_drop_name((enum dp_drop)j));
	}
	for (int i = 0; i < DP_PUNT_COUNT; i++)
		assert_non_null(dp_punt_name((enum dp_punt)i));
	assert_string_equal(dp_drop_name(DP_DROP_COUNT), "?");
}

static void test_tcp4_ok(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	tcp4(&f, "192.168.1.10", "198.51.100.7", 40000, 443, DP_TCP_SYN);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.family, 4);
	assert_int_equal(p.proto, IPPROTO_TCP);
	assert_int_equal(p.sport, 40000);
	assert_int_equal(p.dport, 443);
	assert_int_equal(p.tcp_flags, DP_TCP_SYN);
	assert_int_equal(p.l3_off, 14);
	assert_int_equal(p.l4_off, 34);
	assert_int_equal(p.l3_len, 44);
	assert_int_equal(p.ttl, 64);
	/* Ethernet padding after the IP packet is fine. */
	f.len += 10;
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.l3_len, 44);
}

static void test_eth_vlan(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	eth(&f, DP_ETHERTYPE_IP4);
	f.len = 13;
	EXPECT_DROP(&f, ETH_TRUNC);
	eth(&f, 0x88cc); /* LLDP */
	EXPECT_DROP(&f, ETHERTYPE);
	eth(&f, DP_ETHERTYPE_VLAN);
	f.len += 2;
	EXPECT_DROP(&f, VLAN_TRUNC);
	/* Past DP_PARSE_MAX_VLAN (2) tags, whatever their kind: never "not
	 * IP" (fail closed). */
	eth(&f, DP_ETHERTYPE_QINQ);
	dp_put16(f.b + 16, DP_ETHERTYPE_VLAN);
	dp_put16(f.b + 20, DP_ETHERTYPE_VLAN);
	f.len += 12;
	EXPECT_DROP(&f, VLAN_STACKED);
	eth(&f, DP_ETHERTYPE_VLAN);
	dp_put16(f.b + 16, DP_ETHERTYPE_VLAN);
	dp_put16(f.b + 20, DP_ETHERTYPE_QINQ);
	f.len += 12;
	EXPECT_DROP(&f, VLAN_STACKED);
	/* Two tags cut short. */
	eth(&f, DP_ETHERTYPE_QINQ);
	dp_put16(f.b + 16, DP_ETHERTYPE_VLAN);
	f.len += 6;
	EXPECT_DROP(&f, VLAN_TRUNC);
	/* An S-tag and a priority tag (VID 0), then IPv4: both walked. */
	eth(&f, DP_ETHERTYPE_QINQ);
	dp_put16(f.b + 14, 0x2000);
	dp_put16(f.b + 16, DP_ETHERTYPE_VLAN);
	dp_put16(f.b + 18, 0xa000);
	dp_put16(f.b + 20, DP_ETHERTYPE_IP4);
	f.len += 8;
	uint8_t *u2 = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 8);
	dp_put16(u2, 1000);
	dp_put16(u2 + 2, 53);
	dp_put16(u2 + 4, 8);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.vlans, 2);
	assert_false(p.vlan_id);
	assert_int_equal(p.l3_off, 22);
	assert_int_equal(p.dport, 53);
	/* One tag, then IPv4. */
	eth(&f, DP_ETHERTYPE_VLAN);
	dp_put16(f.b + 14, 0x0007);
	dp_put16(f.b + 16, DP_ETHERTYPE_IP4);
	f.len += 4;
	uint8_t *u = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 8);
	dp_put16(u, 1000);
	dp_put16(u + 2, 53);
	dp_put16(u + 4, 8);
	assert_int_equal(parse(&f, &p), 0);
	assert_true(p.vlan);
	assert_true(p.vlan_id);
	assert_int_equal(p.vlans, 1);
	assert_int_equal(p.vlan_tci, 7);
	assert_int_equal(p.l3_off, 18);
	assert_int_equal(p.dport, 53);
	eth(&f, DP_ETHERTYPE_ARP);
	f.len += 28;
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.family, 0);
}

static void test_ip4_bad(void **state)
{
	(void)state;
	struct frame f;
	tcp4(&f, "192.168.1.10", "198.51.100.7", 1, 2, DP_TCP_SYN);
	struct frame g = f;
	g.len = 14 + 19;
	EXPECT_DROP(&g, IP4_TRUNC);
	g = f;
	g.b[14] = 0x65;
	EXPECT_DROP(&g, IP4_VERSION);
	g = f;
	g.b[14] = 0x44;
	EXPECT_DROP(&g, IP4_IHL);
	g = f;
	g.b[14] = 0x4f; /* 60 bytes of header, 44 present */
	EXPECT_DROP(&g, IP4_IHL);
	g = f;
	dp_put16(g.b + 16, 200);
	EXPECT_DROP(&g, IP4_TOTLEN);
	g = f;
	dp_put16(g.b + 16, 10);
	EXPECT_DROP(&g, IP4_TOTLEN);
	g = f;
	g.b[24] ^= 1;
	EXPECT_DROP(&g, IP4_CKSUM);
	tcp4(&g, "224.0.0.1", "198.51.100.7", 1, 2, DP_TCP_SYN);
	EXPECT_DROP(&g, IP4_MARTIAN);
	tcp4(&g, "127.0.0.1", "198.51.100.7", 1, 2, DP_TCP_SYN);
	EXPECT_DROP(&g, IP4_MARTIAN);
	g = f;
	g.b[20] = 0x20; /* MF */
	dp_put16(g.b + 24, 0);
	dp_put16(g.b + 24, dp_csum(g.b + 14, 20));
	EXPECT_DROP(&g, FRAGMENT);
}

static void test_l4_bad(void **state)
{
	(void)state;
	struct frame f, g;
	tcp4(&f, "192.168.1.10", "198.51.100.7", 1, 2, DP_TCP_SYN | DP_TCP_FIN);
	EXPECT_DROP(&f, TCP_FLAGS);
	tcp4(&f, "192.168.1.10", "198.51.100.7", 1, 2, DP_TCP_SYN | DP_TCP_RST);
	EXPECT_DROP(&f, TCP_FLAGS);
	tcp4(&f, "192.168.1.10", "198.51.100.7", 1, 2, 0);
	EXPECT_DROP(&f, TCP_FLAGS);
	tcp4(&f, "192.168.1.10", "198.51.100.7", 0, 2, DP_TCP_SYN);
	EXPECT_DROP(&f, PORT_ZERO);
	tcp4(&f, "192.168.1.10", "198.51.100.7", 1, 2, DP_TCP_ACK);
	g = f;
	g.b[34 + 12] = 4 << 4;
	EXPECT_DROP(&g, TCP_DOFF);
	g = f;
	g.b[34 + 12] = 7 << 4; /* 28 bytes, 24 there */
	EXPECT_DROP(&g, TCP_DOFF);
	eth(&g, DP_ETHERTYPE_IP4);
	ip4(&g, "192.168.1.10", "198.51.100.7", IPPROTO_TCP, 10);
	EXPECT_DROP(&g, TCP_TRUNC);
	eth(&g, DP_ETHERTYPE_IP4);
	ip4(&g, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 6);
	EXPECT_DROP(&g, UDP_TRUNC);
	eth(&g, DP_ETHERTYPE_IP4);
	uint8_t *u = ip4(&g, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 12);
	dp_put16(u, 5);
	dp_put16(u + 2, 53);
	dp_put16(u + 4, 13);
	EXPECT_DROP(&g, UDP_LEN);
	dp_put16(u + 4, 7);
	EXPECT_DROP(&g, UDP_LEN);
	dp_put16(u + 4, 12);
	dp_put16(u + 2, 0);
	EXPECT_DROP(&g, PORT_ZERO);
	eth(&g, DP_ETHERTYPE_IP4);
	ip4(&g, "192.168.1.10", "198.51.100.7", IPPROTO_ICMP, 4);
	EXPECT_DROP(&g, ICMP_TRUNC);
	eth(&g, DP_ETHERTYPE_IP4);
	ip4(&g, "192.168.1.10", "198.51.100.7", IPPROTO_ICMPV6, 8);
	EXPECT_DROP(&g, L4_PROTO);
	/* Another protocol parses: the pipeline decides. */
	eth(&g, DP_ETHERTYPE_IP4);
	ip4(&g, "192.168.1.10", "198.51.100.7", 47, 4);
	struct dp_pkt p;
	assert_int_equal(parse(&g, &p), 0);
	assert_int_equal(p.proto, 47);
}

static void test_ip6(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	eth(&f, DP_ETHERTYPE_IP6);
	uint8_t *x = ip6(&f, "2001:db8:1::10", "2001:db8:ffff::7", 0, 8 + 8);
	x[0] = IPPROTO_UDP; /* hop-by-hop, 8 bytes, then UDP */
	dp_put16(x + 8, 1000);
	dp_put16(x + 10, 53);
	dp_put16(x + 12, 8);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.family, 6);
	assert_int_equal(p.proto, IPPROTO_UDP);
	assert_int_equal(p.l4_off, 14 + 40 + 8);
	assert_int_equal(p.ttl, 64);
	struct frame g = f;
	g.b[14 + 40 + 1] = 5; /* 48 bytes of options: past the end */
	EXPECT_DROP(&g, IP6_EXT);
	g = f;
	dp_put16(g.b + 18, 100);
	EXPECT_DROP(&g, IP6_PAYLEN);
	g = f;
	g.b[14] = 0x40;
	EXPECT_DROP(&g, IP6_VERSION);
	g = f;
	g.len = 14 + 39;
	EXPECT_DROP(&g, IP6_TRUNC);
	g = f;
	g.b[14 + 40] = 44;
	EXPECT_DROP(&g, FRAGMENT);
	g = f;
	g.b[22] = 0xff; /* multicast source */
	EXPECT_DROP(&g, IP6_MARTIAN);
	/* Nine extension headers chained: too many. */
	eth(&g, DP_ETHERTYPE_IP6);
	x = ip6(&g, "2001:db8:1::10", "2001:db8:ffff::7", 60, 9 * 8 + 8);
	for (int i = 0; i < 9; i++)
		x[i * 8] = i < 8 ? 60 : IPPROTO_UDP;
	EXPECT_DROP(&g, IP6_EXT);
	/* Eight, of every kind walked (AH counts in 4-octet units), then
	 * UDP with its ports: the transport is found. */
	static const uint8_t kinds[8] = { 0, 43, 60, 51, 135, 139, 140, 253 };
	eth(&g, DP_ETHERTYPE_IP6);
	x = ip6(&g, "2001:db8:1::10", "2001:db8:ffff::7", kinds[0], 8 * 8 + 8);
	/* Length fields 0: 8 bytes each, (0 + 1) * 8, and AH's (0 + 2) * 4. */
	for (int i = 0; i < 8; i++)
		x[i * 8] = i < 7 ? kinds[i + 1] : IPPROTO_UDP;
	dp_put16(x + 64, 1000);
	dp_put16(x + 66, 53);
	dp_put16(x + 68, 8);
	assert_int_equal(parse(&g, &p), 0);
	assert_int_equal(p.proto, IPPROTO_UDP);
	assert_int_equal(p.dport, 53);
	assert_int_equal(p.l4_off, 14 + 40 + 64);
	/* AH is longer than the common format would say: 16 bytes. */
	eth(&g, DP_ETHERTYPE_IP6);
	x = ip6(&g, "2001:db8:1::10", "2001:db8:ffff::7", 51, 16 + 8);
	x[0] = IPPROTO_UDP;
	x[1] = 2;
	dp_put16(x + 16, 1000);
	dp_put16(x + 18, 53);
	dp_put16(x + 20, 8);
	assert_int_equal(parse(&g, &p), 0);
	assert_int_equal(p.l4_off, 14 + 40 + 16);
	assert_int_equal(p.dport, 53);
}

static void test_tcp_fields(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	/* A SYN with MSS, SACK-permitted, timestamps, NOP, window scale 7. */
	eth(&f, DP_ETHERTYPE_IP4);
	static const uint8_t opts[20] = { 2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
					  0, 0, 0, 0, 1, 3, 3, 7 };
	uint8_t *t = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_TCP, 40);
	dp_put16(t, 40000);
	dp_put16(t + 2, 443);
	dp_put16(t + 4, 0x1234);
	dp_put16(t + 6, 0x5678);
	dp_put16(t + 8, 0x9abc);
	dp_put16(t + 10, 0xdef0);
	t[12] = 10 << 4;
	t[13] = DP_TCP_SYN;
	dp_put16(t + 14, 64240);
	memcpy(t + 20, opts, sizeof(opts));
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.tcp_seq, 0x12345678u);
	assert_int_equal(p.tcp_ack, 0x9abcdef0u);
	assert_int_equal(p.tcp_win, 64240);
	assert_int_equal(p.tcp_wscale, 7);
	assert_int_equal(p.l4_payload, 0);
	/* A shift past 14 counts as 14 (RFC 7323). */
	t[39] = 15;
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.tcp_wscale, 14);
	/* Not on a segment without SYN; nor from a broken option list. */
	t[13] = DP_TCP_ACK;
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.tcp_wscale, DP_TCP_NO_WSCALE);
	t[13] = DP_TCP_SYN;
	t[21] = 40; /* the MSS option's length runs past the options */
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.tcp_wscale, DP_TCP_NO_WSCALE);
	/* Payload bytes: 4 after a 20-byte header. */
	tcp4(&f, "192.168.1.10", "198.51.100.7", 40000, 443, DP_TCP_ACK);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.l4_payload, 4);
}

static void test_icmp_error_inner(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	eth(&f, DP_ETHERTYPE_IP4);
	uint8_t *ic = ip4(&f, "198.51.100.1", "203.0.113.2", IPPROTO_ICMP, 8 + 28);
	ic[0] = 11;
	uint8_t *in = ic + 8;
	in[0] = 0x45;
	dp_put16(in + 2, 40);
	in[9] = IPPROTO_UDP;
	inet_pton(AF_INET, "203.0.113.2", in + 12);
	inet_pton(AF_INET, "198.51.100.7", in + 16);
	dp_put16(in + 20, 20030);
	dp_put16(in + 22, 33434);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.icmp_kind, DP_ICMP_ERROR);
	assert_int_equal(p.inner.proto, IPPROTO_UDP);
	assert_int_equal(p.inner.sport, 20030);
	assert_int_equal(p.inner.dport, 33434);
	struct frame g = f;
	g.b[14 + 20 + 8 + 9] = 47;
	EXPECT_DROP(&g, ICMP_INNER);
	g = f;
	dp_put16(g.b + 16, 20 + 8 + 27); /* one byte short of ports */
	g.len--;
	dp_put16(g.b + 24, 0);
	dp_put16(g.b + 24, dp_csum(g.b + 14, 20));
	EXPECT_DROP(&g, ICMP_INNER);
}

/* Incremental (RFC 1624) equals a full recomputation, for addresses,
 * ports and the TTL, on TCP, UDP and echo. */
static void test_rewrite4(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	tcp4(&f, "192.168.1.10", "198.51.100.7", 40000, 443, DP_TCP_ACK);
	assert_int_equal(parse(&f, &p), 0);
	struct dp_tuple t = { .sport = 1234, .dport = 443 };
	inet_pton(AF_INET, "203.0.113.2", t.src);
	inet_pton(AF_INET, "198.51.100.7", t.dst);
	dp_rewrite4(f.b, &p, &t);
	dp_ttl_dec(f.b, &p);
	assert_int_equal(dp_csum(f.b + 14, 20), 0);
	assert_int_equal(full_l4_csum4(f.b + 14), 0);
	assert_int_equal(dp_get16(f.b + 34), 1234);
	assert_int_equal(f.b[22], 63);
	assert_int_equal(parse(&f, &p), 0);

	/* UDP without a checksum keeps none. */
	eth(&f, DP_ETHERTYPE_IP4);
	uint8_t *u = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 9);
	dp_put16(u, 5000);
	dp_put16(u + 2, 53);
	dp_put16(u + 4, 9);
	assert_int_equal(parse(&f, &p), 0);
	dp_rewrite4(f.b, &p, &t);
	assert_int_equal(dp_get16(u + 6), 0);
	assert_int_equal(dp_csum(f.b + 14, 20), 0);
	/* With one, it stays right. */
	eth(&f, DP_ETHERTYPE_IP4);
	u = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_UDP, 9);
	dp_put16(u, 5000);
	dp_put16(u + 2, 53);
	dp_put16(u + 4, 9);
	u[8] = 0x5a;
	dp_put16(u + 6, full_l4_csum4(f.b + 14));
	assert_int_equal(parse(&f, &p), 0);
	dp_rewrite4(f.b, &p, &t);
	assert_int_equal(full_l4_csum4(f.b + 14), 0);

	/* Echo: the identifier is rewritten, no pseudo-header. */
	eth(&f, DP_ETHERTYPE_IP4);
	uint8_t *ic = ip4(&f, "192.168.1.10", "198.51.100.7", IPPROTO_ICMP, 12);
	ic[0] = 8;
	dp_put16(ic + 4, 777);
	memcpy(ic + 8, "ping", 4);
	dp_put16(ic + 2, dp_csum(ic, 12));
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(p.sport, 777);
	t.sport = t.dport = 2000;
	dp_rewrite4(f.b, &p, &t);
	assert_int_equal(dp_get16(ic + 4), 2000);
	assert_int_equal(dp_csum(ic, 12), 0);
}

static void test_reject(void **state)
{
	(void)state;
	struct frame f;
	struct dp_pkt p;
	uint8_t out[1600], gw[16] = { 192, 168, 1, 1 };
	tcp4(&f, "192.168.1.10", "198.51.100.77", 40000, 443, DP_TCP_SYN);
	assert_int_equal(parse(&f, &p), 0);
	size_t n = dp_build_reject(f.b, &p, MAC_GW, gw, out, sizeof(out));
	assert_int_equal(n, 14 + 20 + 20);
	struct dp_pkt r;
	assert_int_equal(dp_parse(out, (uint32_t)n, &r), 0);
	assert_int_equal(r.tcp_flags, DP_TCP_RST | DP_TCP_ACK);
	assert_int_equal(r.sport, 443);
	assert_int_equal(r.dport, 40000);
	assert_memory_equal(out, MAC_A, 6);
	assert_int_equal(full_l4_csum4(out + 14), 0);
	/* ack = their seq + 4 bytes of data + SYN */
	uint32_t ack = (uint32_t)out[42] << 24 | (uint32_t)out[43] << 16 | out[44] << 8 | out[45];
	assert_int_equal(ack, 0x11000022u + 4 + 1);
	/* Never answer a RST; too little room gives nothing. */
	tcp4(&f, "192.168.1.10", "198.51.100.77", 40000, 443, DP_TCP_RST);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(dp_build_reject(f.b, &p, MAC_GW, gw, out, sizeof(out)), 0);
	tcp4(&f, "192.168.1.10", "198.51.100.77", 40000, 443, DP_TCP_SYN);
	assert_int_equal(parse(&f, &p), 0);
	assert_int_equal(dp_build_reject(f.b, &p, MAC_GW, gw, out, 40), 0);
	/* UDP: ICMP administratively prohibited, quoting the packet. */
	eth(&f, DP_ETHERTYPE_IP4);
	uint8_t *u = ip4(&f, "192.168.1.10", "198.51.100.77", IPPROTO_UDP, 8);
	dp_put16(u, 5000);
	dp_put16(u + 2, 53);
	dp_put16(u + 4, 8);
	assert_int_equal(parse(&f, &p), 0);
	n = dp_build_reject(f.b, &p, MAC_GW, gw, out, sizeof(out));
	assert_int_equal(n, 14 + 20 + 8 + 28);
	assert_int_equal(dp_parse(out, (uint32_t)n, &r), 0);
	assert_int_equal(r.icmp_kind, DP_ICMP_ERROR);
	assert_int_equal(r.icmp_type, 3);
	assert_int_equal(r.icmp_code, 13);
	assert_memory_equal(r.src, gw, 4);
	assert_int_equal(dp_csum(out + 34, 8 + 28), 0);
	assert_memory_equal(out + 42, f.b + 14, 28);
}

static void test_cksum(void **state)
{
	(void)state;
	/* RFC 1071's example words sum to 0xddf2. */
	static const uint8_t w[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	assert_int_equal(dp_csum(w, sizeof(w)), (uint16_t)~0xddf2);
	/* RFC 1624's corner: the update must not produce -0 (0xffff) where the
	 * full sum gives +0 ... and both forms verify. */
	uint8_t h[20] = { 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6 };
	dp_put16(h + 10, dp_csum(h, 20));
	for (uint32_t v = 0; v < 65536; v += 257) {
		uint16_t old = dp_get16(h + 4);
		dp_put16(h + 4, (uint16_t)v);
		dp_csum_update16(h + 10, old, (uint16_t)v);
		assert_int_equal(dp_csum(h, 20), 0);
	}
}

static void test_config(void **state)
{
	(void)state;
	struct dp_config c;
	char err[128];
	char *ok[] = { "gw", "--lan", "0", "--wan", "1", "--lan-ip", "192.168.1.1/24",
		       "--wan-ip", "203.0.113.2", "--nat-ports", "2000-3000",
		       "--wan-gw-mac", "02:00:00:00:00:fe", "--lan-ip6", "2001:db8:1::1/64",
		       "--burst", "1", NULL };
	assert_int_equal(dp_config_parse(17, ok, &c, err, sizeof(err)), 0);
	assert_int_equal(c.nat_lo, 2000);
	assert_int_equal(c.nat_hi, 3000);
	assert_int_equal(c.lan4_plen, 24);
	assert_int_equal(c.lan6_plen, 64);
	assert_true(c.has_wan_gw);
	assert_int_equal(c.wan_gw_mac[5], 0xfe);
	assert_int_equal(c.mode, DP_MODE_FULL);
	char *io[] = { "gw", "--lan", "0", "--wan", "1", "--mode", "io", NULL };
	assert_int_equal(dp_config_parse(7, io, &c, err, sizeof(err)), 0);
	assert_int_equal(c.mode, DP_MODE_IO);
	/* The kernel's ports follow --nat-ports; --wan-open as gwd.conf's
	 * wan_open; --punt-rate per class. */
	assert_int_equal(c.kernel_lo, 32768); /* above the default 1024-32767 */
	assert_int_equal(c.kernel_hi, 65535);
	assert_false(dp_config_open(&c, IPPROTO_TCP, 22));
	assert_int_equal(dp_config_parse(17, ok, &c, err, sizeof(err)), 0);
	assert_int_equal(c.kernel_lo, 3001); /* above --nat-ports 2000-3000 */
	char *open[] = { "gw", "--lan", "0", "--wan", "1", "--lan-ip", "192.168.1.1/24",
			 "--wan-ip", "203.0.113.2", "--wan-open", "tcp/22, udp/51820,tcp/8000-8002",
			 "--kernel-ports", "40000-60999", "--punt-rate", "gateway=900/90", NULL };
	assert_int_equal(dp_config_parse(15, open, &c, err, sizeof(err)), 0);
	assert_true(dp_config_open(&c, IPPROTO_TCP, 22));
	assert_false(dp_config_open(&c, IPPROTO_UDP, 22));
	assert_true(dp_config_open(&c, IPPROTO_UDP, 51820));
	assert_true(dp_config_open(&c, IPPROTO_TCP, 8002));
	assert_false(dp_config_open(&c, IPPROTO_TCP, 8003));
	assert_true(dp_config_kernel_port(&c, 40000));
	assert_false(dp_config_kernel_port(&c, 39999));
	assert_int_equal(c.punt_rate[DP_PUNT_GATEWAY].pps, 900);
	assert_int_equal(c.punt_rate[DP_PUNT_ARP].pps, dp_punt_default[DP_PUNT_ARP].pps);
	char *bad[][8] = {
		{ "gw", "--lan", "0", "--wan", "0", "--mode", "io", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--wan-open", "tcp:22", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--wan-open", "tcp/22,", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--wan-open", "sctp/9", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--wan-open", "udp/0", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--kernel-ports", "2000-40000", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--punt-rate", "arp=10", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--mode", "fast", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--nat-ports", "9-1", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--burst", "0", NULL },
		{ "gw", "--lan", "0", "--wan", "1", "--frob", "1", NULL },
		{ "gw", "--lan", "0", "--wan", "1", NULL }, /* full needs addresses */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int argc = 0;
		while (bad[i][argc])
			argc++;
		assert_int_equal(dp_config_parse(argc, bad[i], &c, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tcp4_ok),
		cmocka_unit_test(test_eth_vlan),
		cmocka_unit_test(test_ip4_bad),
		cmocka_unit_test(test_l4_bad),
		cmocka_unit_test(test_ip6),
		cmocka_unit_test(test_tcp_fields),
		cmocka_unit_test(test_icmp_error_inner),
		cmocka_unit_test(test_rewrite4),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_cksum),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
