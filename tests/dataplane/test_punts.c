/* SPDX-License-Identifier: MIT */
/*
 * What the fast path hands to the gateway's kernel, and what it drops
 * (issue 13: "the WAN must not reach the gateway or the LAN"): a table of
 * frames, each through dp_pipeline from its port, with the one outcome it
 * must have: a punt of a named class, a named drop, or forwarded.  From
 * the WAN only ARP, ND, the DHCP client's replies (to the broadcast, the
 * WAN address or the offered one, never a LAN address), and at the WAN
 * addresses the open ports, the kernel's ports (not a bare SYN), echo and
 * errors about the kernel's traffic; nothing but DHCP and ARP before the
 * WAN has an address.  From the LAN only what is addressed to the gateway
 * (from a LAN source), broadcast and multicast; priority tags as
 * untagged.  The kernel could forward nothing else it got.
 * On a real EAL (--no-huge, its own --file-prefix, two net_null ports);
 * skips (77) where EAL cannot start.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include "cksum.h"
#include "gwtest.h"
#include "lcore.h"
#include "parse.h"
#include "port.h"
#include "randpol.h"

static struct rte_mempool *pool;
static uint8_t port_mac[DP_ROLE_COUNT][6];
static const uint8_t DEV[6] = { 2, 0, 0, 0, 0, 0x0a }, OTHER[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t HOP[6] = { 2, 0, 0, 0, 0, 0xfe }, BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* ------------------------------------------------------------ frames */

struct fr {
	uint8_t b[600];
	size_t len;
};

static void put_addr(uint8_t *p, const char *a)
{
	if (inet_pton(strchr(a, ':') ? AF_INET6 : AF_INET, a, p) != 1)
		fail_msg("bad address %s", a);
}

static void solicited_mac(uint8_t mac[6], const char *group6)
{
	uint8_t g[16];
	put_addr(g, group6);
	mac[0] = mac[1] = 0x33;
	memcpy(mac + 2, g + 12, 4);
}

/* Ethernet with tags (vid < 0: none; 0: a priority tag). */
static uint8_t *eth(struct fr *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type,
		    int vid)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->b, dst, 6);
	memcpy(f->b + 6, src, 6);
	f->len = 12;
	if (vid >= 0) {
		dp_put16(f->b + 12, DP_ETHERTYPE_VLAN);
		dp_put16(f->b + 14, (uint16_t)vid);
		f->len = 16;
	}
	dp_put16(f->b + f->len, type);
	f->len += 2;
	return f->b + f->len;
}

/* IPv4 around an l4 of len bytes (filled by the caller at the pointer
 * returned); the length and checksum are set here. */
static uint8_t *ip4(struct fr *f, const char *src, const char *dst, uint8_t proto, size_t len)
{
	uint8_t *h = f->b + f->len;
	h[0] = 0x45;
	dp_put16(h + 2, (uint16_t)(20 + len));
	h[8] = 64;
	h[9] = proto;
	put_addr(h + 12, src);
	put_addr(h + 16, dst);
	dp_put16(h + 10, dp_csum(h, 20));
	f->len += 20 + len;
	return h + 20;
}

static uint8_t *ip6(struct fr *f, const char *src, const char *dst, uint8_t next, size_t len)
{
	uint8_t *h = f->b + f->len;
	h[0] = 0x60;
	dp_put16(h + 4, (uint16_t)len);
	h[6] = next;
	h[7] = 255;
	put_addr(h + 8, src);
	put_addr(h + 24, dst);
	f->len += 40 + len;
	return h + 40;
}

static void udp_at(uint8_t *u, uint16_t sport, uint16_t dport, size_t len)
{
	dp_put16(u, sport);
	dp_put16(u + 2, dport);
	dp_put16(u + 4, (uint16_t)len);
}

static void tcp_at(uint8_t *t, uint16_t sport, uint16_t dport, uint8_t flags)
{
	dp_put16(t, sport);
	dp_put16(t + 2, dport);
	t[12] = 5 << 4;
	t[13] = flags;
	dp_put16(t + 14, 65535);
}

static struct fr udp4(const uint8_t dmac[6], const uint8_t smac[6], int vid, const char *src,
		      const char *dst, uint16_t sport, uint16_t dport)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP4, vid);
	udp_at(ip4(&f, src, dst, IPPROTO_UDP, 16), sport, dport, 16);
	return f;
}

static struct fr tcp4(const uint8_t dmac[6], const uint8_t smac[6], const char *src,
		      const char *dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP4, -1);
	tcp_at(ip4(&f, src, dst, IPPROTO_TCP, 20), sport, dport, flags);
	return f;
}

static struct fr icmp4(const uint8_t dmac[6], const uint8_t smac[6], const char *src,
		       const char *dst, uint8_t type)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP4, -1);
	uint8_t *i = ip4(&f, src, dst, IPPROTO_ICMP, 20);
	i[0] = type;
	dp_put16(i + 4, 4321);
	return f;
}

/* A destination unreachable about a UDP datagram sent from qsrc:qport. */
static struct fr unreach4(const char *src, const char *dst, const char *qsrc, uint16_t qport)
{
	struct fr f;
	eth(&f, port_mac[DP_ROLE_WAN], HOP, DP_ETHERTYPE_IP4, -1);
	uint8_t *i = ip4(&f, src, dst, IPPROTO_ICMP, 8 + 28);
	i[0] = 3;
	i[1] = 3;
	uint8_t *q = i + 8;
	q[0] = 0x45;
	dp_put16(q + 2, 28);
	q[8] = 63;
	q[9] = IPPROTO_UDP;
	put_addr(q + 12, qsrc);
	put_addr(q + 16, src);
	dp_put16(q + 10, dp_csum(q, 20));
	udp_at(q + 20, qport, 53, 8);
	return f;
}

/* A DHCP server's BOOTREPLY for chaddr, offering yiaddr, to dst. */
static struct fr bootreply(const uint8_t dmac[6], const char *dst, const uint8_t chaddr[6],
			   const char *yiaddr)
{
	struct fr f;
	eth(&f, dmac, HOP, DP_ETHERTYPE_IP4, -1);
	uint8_t *u = ip4(&f, "203.0.113.1", dst, IPPROTO_UDP, 8 + 240);
	udp_at(u, 67, 68, 8 + 240);
	uint8_t *b = u + 8;
	b[0] = 2; /* BOOTREPLY */
	b[1] = 1;
	b[2] = 6;
	put_addr(b + 16, yiaddr);
	memcpy(b + 28, chaddr, 6);
	return f;
}

static struct fr arp(const uint8_t dmac[6], const uint8_t smac[6], int vid)
{
	struct fr f;
	uint8_t *a = eth(&f, dmac, smac, DP_ETHERTYPE_ARP, vid);
	dp_put16(a, 1);
	dp_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	dp_put16(a + 6, 1);
	f.len += 28;
	return f;
}

static struct fr icmp6(const uint8_t dmac[6], const uint8_t smac[6], const char *src,
		       const char *dst, uint8_t type)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP6, -1);
	uint8_t *i = ip6(&f, src, dst, IPPROTO_ICMPV6, 24);
	i[0] = type;
	return f;
}

static struct fr udp6(const uint8_t dmac[6], const uint8_t smac[6], const char *src,
		      const char *dst, uint16_t sport, uint16_t dport)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP6, -1);
	udp_at(ip6(&f, src, dst, IPPROTO_UDP, 16), sport, dport, 16);
	return f;
}

static struct fr tcp6(const uint8_t dmac[6], const uint8_t smac[6], const char *src,
		      const char *dst, uint16_t sport, uint16_t dport, uint8_t flags)
{
	struct fr f;
	eth(&f, dmac, smac, DP_ETHERTYPE_IP6, -1);
	tcp_at(ip6(&f, src, dst, IPPROTO_TCP, 20), sport, dport, flags);
	return f;
}

/* ------------------------------------------------------------ outcomes */

#define PUNT(x) (1000 + DP_PUNT_##x)
#define DROP(x) (DP_DROP_##x)
#define FORWARD 2000

static const char *outcome_name(int o)
{
	static char b[64];
	if (o == FORWARD)
		return "forwarded";
	if (o >= 1000)
		snprintf(b, sizeof(b), "punt %s", dp_punt_name((enum dp_punt)(o - 1000)));
	else
		snprintf(b, sizeof(b), "drop %s", dp_drop_name((enum dp_drop)o));
	return b;
}

/* What became of the one packet between two snapshots. */
static int outcome(const struct dp_port_stats *a, const struct dp_port_stats *b)
{
	int o = -1, n = 0;
	if (b->forwarded != a->forwarded) {
		o = FORWARD;
		n++;
	}
	for (int k = 0; k < DP_PUNT_COUNT; k++)
		if (b->punt[k] != a->punt[k]) {
			o = 1000 + k;
			n++;
		}
	for (int k = 0; k < DP_DROP_COUNT; k++)
		if (b->drop[k] != a->drop[k]) {
			o = k;
			n++;
		}
	return n == 1 ? o : -1;
}

static void expect(struct dp_worker *w, enum dp_role in, const struct fr *f, int want,
		   const char *what)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(f->len < 60 ? 60 : f->len));
	assert_non_null(p);
	memset(p, 0, f->len < 60 ? 60 : f->len);
	memcpy(p, f->b, f->len);
	struct dp_port_stats before = w->stats[in];
	dp_pipeline(w, in, m, 1000);
	dp_worker_flush(w);
	int got = outcome(&before, &w->stats[in]);
	char g[64];
	snprintf(g, sizeof(g), "%s", got < 0 ? "several or none" : outcome_name(got));
	if (got != want)
		fail_msg("%s from the %s: %s, want %s", what, dp_role_name(in), g, outcome_name(want));
}

/* ------------------------------------------------------------ the table */

static struct dp_config config(void)
{
	struct dp_config c;
	dp_config_defaults(&c);
	c.port[0] = 0;
	c.port[1] = 1;
	c.mbufs = 4095;
	c.flows = 4096;
	c.has_lan4 = c.has_lan6 = c.has_wan4 = c.has_wan_gw = true;
	c.lan4_plen = 24;
	c.lan6_plen = 64;
	c.wan4_plen = 24;
	memcpy(c.wan_gw_mac, HOP, 6);
	inet_pton(AF_INET, "192.168.1.1", c.lan4);
	inet_pton(AF_INET6, "2001:db8:1::1", c.lan6);
	inet_pton(AF_INET, "203.0.113.2", c.wan4);
	/* --wan-open tcp:2222,udp:51820 */
	c.wan_open[0][2222 / 64] |= 1ull << (2222 % 64);
	c.wan_open[1][51820 / 64] |= 1ull << (51820 % 64);
	return c;
}

static uint64_t wan_word(const char *a, unsigned plen)
{
	uint8_t b[4];
	put_addr(b, a);
	uint64_t v = DP_WAN_KNOWN | (uint64_t)plen << DP_WAN_PLEN_SHIFT;
	for (int i = 0; i < 4; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void lan_side(struct dp_worker *w)
{
	const uint8_t *gw = port_mac[DP_ROLE_LAN];
	uint8_t mdns[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb }, ns_mac[6], rs_mac[6], dh6[6];
	solicited_mac(ns_mac, "ff02::1:ff00:1");
	solicited_mac(rs_mac, "ff02::2");
	solicited_mac(dh6, "ff02::1:2");
	struct fr f;

	f = arp(BCAST, DEV, -1);
	expect(w, DP_ROLE_LAN, &f, PUNT(ARP), "an ARP request");
	f = arp(BCAST, DEV, 0);
	expect(w, DP_ROLE_LAN, &f, PUNT(ARP), "an ARP request behind a priority tag");
	f = arp(BCAST, DEV, 5);
	expect(w, DP_ROLE_LAN, &f, DROP(VLAN), "an ARP request on VLAN 5");
	f = udp4(BCAST, DEV, -1, "0.0.0.0", "255.255.255.255", 68, 67);
	expect(w, DP_ROLE_LAN, &f, PUNT(DHCP), "a DHCP discover");
	f = udp4(gw, DEV, -1, "192.168.1.10", "192.168.1.1", 68, 67);
	expect(w, DP_ROLE_LAN, &f, PUNT(DHCP), "a DHCP renewal to the gateway");
	f = udp4(mdns, DEV, -1, "192.168.1.10", "224.0.0.251", 5353, 5353);
	expect(w, DP_ROLE_LAN, &f, PUNT(MULTICAST), "mDNS");
	f = udp4(mdns, DEV, -1, "169.254.7.7", "224.0.0.251", 5353, 5353);
	expect(w, DP_ROLE_LAN, &f, PUNT(MULTICAST), "mDNS from a link-local address");
	f = udp4(mdns, DEV, -1, "10.9.9.9", "224.0.0.251", 5353, 5353);
	expect(w, DP_ROLE_LAN, &f, DROP(LAN_SPOOFED), "mDNS from outside the LAN");
	f = udp4(BCAST, DEV, -1, "192.168.1.10", "198.51.100.7", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(L2_GROUP), "a broadcast frame to an internet address");
	f = udp4(gw, DEV, -1, "192.168.1.10", "192.168.1.1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, PUNT(GATEWAY), "DNS to the gateway");
	f = icmp4(gw, DEV, "192.168.1.10", "192.168.1.1", 8);
	expect(w, DP_ROLE_LAN, &f, PUNT(ICMP), "a ping to the gateway");
	f = udp4(gw, DEV, -1, "10.9.9.9", "192.168.1.1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(LAN_SPOOFED), "DNS to the gateway from outside the LAN");
	f = udp4(gw, DEV, -1, "192.168.1.10", "192.168.1.20", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(ON_LINK), "to another LAN host through the gateway");
	f = udp4(gw, DEV, -1, "192.168.1.10", "169.254.1.1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(ON_LINK), "to a link-local address through the gateway");
	f = udp4(gw, DEV, -1, "192.168.1.10", "203.0.113.2", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, PUNT(GATEWAY), "to the WAN address's service (no mapping)");
	f = udp4(gw, DEV, 0, "192.168.1.10", "198.51.100.7", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, FORWARD, "to the internet behind a priority tag");
	f = udp4(gw, DEV, 7, "192.168.1.10", "198.51.100.7", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(VLAN), "to the internet on VLAN 7");
	f = udp4(gw, DEV, 0, "10.9.9.9", "198.51.100.7", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(LAN_SPOOFED), "a spoofed source behind a priority tag");
	f = icmp6(ns_mac, DEV, "fe80::10", "ff02::1:ff00:1", 135);
	expect(w, DP_ROLE_LAN, &f, PUNT(ND), "a neighbour solicitation");
	f = icmp6(rs_mac, DEV, "fe80::10", "ff02::2", 133);
	expect(w, DP_ROLE_LAN, &f, PUNT(ND), "a router solicitation");
	f = icmp6(ns_mac, DEV, "::", "ff02::1:ff00:1", 135);
	expect(w, DP_ROLE_LAN, &f, PUNT(ND), "duplicate address detection");
	f = udp6(dh6, DEV, "fe80::10", "ff02::1:2", 546, 547);
	expect(w, DP_ROLE_LAN, &f, PUNT(DHCP), "a DHCPv6 solicit");
	f = udp6(gw, DEV, "2001:db8:1::10", "2001:db8:1::1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, PUNT(GATEWAY), "DNS to the gateway's IPv6 address");
	f = udp6(gw, DEV, "fe80::10", "fe80::1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, PUNT(GATEWAY), "DNS to the gateway's link-local address");
	f = udp6(gw, DEV, "2001:db8:9::10", "fe80::1", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(LAN_SPOOFED), "to a link-local address from outside");
	f = udp6(gw, DEV, "2001:db8:1::10", "2001:db8:1::20", 5000, 53);
	expect(w, DP_ROLE_LAN, &f, DROP(ON_LINK), "to another LAN host's IPv6 address");
	f = tcp6(gw, DEV, "2001:db8:1::10", "2001:db8:ffff::7", 5000, 443, DP_TCP_SYN);
	expect(w, DP_ROLE_LAN, &f, FORWARD, "IPv6 to the internet");
}

static void wan_side(struct dp_worker *w, uint64_t *wan_addr)
{
	const uint8_t *gw = port_mac[DP_ROLE_WAN];
	uint8_t ns_mac[6], all_mac[6], mdns6[6], ll_mac[6];
	solicited_mac(ns_mac, "ff02::1:ff00:2");
	solicited_mac(all_mac, "ff02::1");
	solicited_mac(mdns6, "ff02::fb");
	memcpy(ll_mac, gw, 6);
	struct fr f;

	*wan_addr = wan_word("203.0.113.2", 24);
	f = arp(BCAST, HOP, -1);
	expect(w, DP_ROLE_WAN, &f, PUNT(ARP), "an ARP request");
	f = bootreply(BCAST, "255.255.255.255", gw, "203.0.113.9");
	expect(w, DP_ROLE_WAN, &f, PUNT(DHCP), "a DHCP offer for us, broadcast");
	f = bootreply(gw, "203.0.113.2", gw, "203.0.113.2");
	expect(w, DP_ROLE_WAN, &f, PUNT(DHCP), "a DHCP ack for us, to our address");
	f = bootreply(gw, "203.0.113.9", gw, "203.0.113.9");
	expect(w, DP_ROLE_WAN, &f, PUNT(DHCP), "a DHCP offer for us, to the address offered");
	f = bootreply(BCAST, "255.255.255.255", OTHER, "203.0.113.9");
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_GROUP), "a DHCP offer for another client");
	f = bootreply(gw, "192.168.1.10", gw, "192.168.1.10");
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "UDP 67 to 68 of a LAN host, as ours");
	f = udp4(gw, HOP, -1, "198.51.100.7", "192.168.1.10", 67, 68);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "UDP to port 68 of a LAN host");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.2", 1234, 68);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_CLOSED), "UDP to our port 68, not from a server");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 40000, 2223, DP_TCP_SYN);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "a SYN to a NAT port");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 40000, 22, DP_TCP_SYN);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_CLOSED), "a SYN to a port not open");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 40000, 2222, DP_TCP_SYN);
	expect(w, DP_ROLE_WAN, &f, PUNT(GATEWAY), "a SYN to an open port");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.2", 40000, 51820);
	expect(w, DP_ROLE_WAN, &f, PUNT(GATEWAY), "UDP to an open port");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 443, 40000, DP_TCP_SYN);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_CLOSED), "a bare SYN to the kernel's ports");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 443, 40000, DP_TCP_SYN | DP_TCP_ACK);
	expect(w, DP_ROLE_WAN, &f, PUNT(KERNEL), "a SYN-ACK to the kernel's ports");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.2", 53, 40000);
	expect(w, DP_ROLE_WAN, &f, PUNT(KERNEL), "a DNS answer to the kernel's ports");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.2", 53, 20000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "UDP to a NAT port without a flow");
	f = tcp4(gw, HOP, "198.51.100.7", "203.0.113.2", 443, 20000, DP_TCP_ACK);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "TCP to a NAT port without a flow");
	f = icmp4(gw, HOP, "198.51.100.7", "203.0.113.2", 8);
	expect(w, DP_ROLE_WAN, &f, PUNT(ICMP), "a ping to the WAN address");
	f = icmp4(gw, HOP, "198.51.100.7", "203.0.113.2", 0);
	expect(w, DP_ROLE_WAN, &f, PUNT(ICMP), "an echo reply to the kernel's ping");
	f = icmp4(gw, HOP, "198.51.100.7", "203.0.113.2", 13);
	expect(w, DP_ROLE_WAN, &f, DROP(ICMP_TYPE), "an ICMP timestamp request");
	f = unreach4("198.51.100.7", "203.0.113.2", "203.0.113.2", 20000);
	expect(w, DP_ROLE_WAN, &f, DROP(ICMP_NO_FLOW), "an error about a NAT port without a flow");
	f = unreach4("198.51.100.7", "203.0.113.2", "203.0.113.2", 40000);
	expect(w, DP_ROLE_WAN, &f, PUNT(ICMP), "an error about the kernel's own datagram");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.99", 53, 40000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "to another WAN address");
	f = udp4(BCAST, HOP, -1, "203.0.113.1", "203.0.113.255", 53, 40000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_GROUP), "to the WAN subnet's broadcast");
	f = udp4(gw, HOP, -1, "198.51.100.7", "192.168.1.1", 53, 40000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "to the gateway's LAN address");
	struct fr g;
	eth(&g, gw, HOP, DP_ETHERTYPE_IP4, -1);
	ip4(&g, "198.51.100.7", "203.0.113.2", 47, 8);
	expect(w, DP_ROLE_WAN, &g, DROP(L4_PROTO), "GRE to the WAN address");

	f = icmp6(ns_mac, HOP, "fe80::fe", "ff02::1:ff00:2", 135);
	expect(w, DP_ROLE_WAN, &f, PUNT(ND), "a neighbour solicitation");
	f = icmp6(all_mac, HOP, "fe80::fe", "ff02::1", 134);
	expect(w, DP_ROLE_WAN, &f, PUNT(ND), "a router advertisement");
	f = udp6(mdns6, HOP, "fe80::fe", "ff02::fb", 5353, 5353);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_GROUP), "mDNS from the WAN");
	f = udp6(ll_mac, HOP, "fe80::fe", "fe80::2", 547, 546);
	expect(w, DP_ROLE_WAN, &f, PUNT(DHCP), "a DHCPv6 advertise");
	f = icmp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:ff::2", 128);
	expect(w, DP_ROLE_WAN, &f, PUNT(ICMP), "a ping to the WAN's IPv6 address");
	f = tcp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:ff::2", 40000, 2222, DP_TCP_SYN);
	expect(w, DP_ROLE_WAN, &f, PUNT(GATEWAY), "a SYN to an open port over IPv6");
	f = udp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:ff::2", 53, 20000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "IPv6 UDP to a NAT-range port");
	f = icmp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:1::1", 128);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "a ping to the gateway's LAN address");
	f = tcp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:1::10", 443, 5001, DP_TCP_ACK);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "TCP to a LAN host without a flow");
	f = icmp6(gw, HOP, "2001:db8:ffff::7", "2001:db8:77::1", 128);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "IPv6 to an address not ours");

	/* Before the WAN has an address: DHCP and ARP only. */
	*wan_addr = 0;
	f = bootreply(gw, "203.0.113.9", gw, "203.0.113.9");
	expect(w, DP_ROLE_WAN, &f, PUNT(DHCP), "an offer before any address");
	f = bootreply(gw, "192.168.1.10", gw, "192.168.1.10");
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNSOLICITED), "an offer of a LAN address");
	f = udp4(gw, HOP, -1, "198.51.100.7", "203.0.113.2", 53, 40000);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNCONFIGURED), "UDP before any address");
	f = icmp4(gw, HOP, "198.51.100.7", "203.0.113.9", 8);
	expect(w, DP_ROLE_WAN, &f, DROP(WAN_UNCONFIGURED), "a ping before any address");
	f = arp(BCAST, HOP, -1);
	expect(w, DP_ROLE_WAN, &f, PUNT(ARP), "ARP before any address");
}

static void punt_table(void **state)
{
	(void)state;
	struct dp_config cfg = config();
	struct pol_ir *ir = rp_load("default allow\ndefault new allow\n");
	assert_non_null(ir);
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(ir, 1, &c), 0);
	uint64_t wan_addr = wan_word("203.0.113.2", 24);
	struct dp_wan6 wan6 = { .n = 1 };
	inet_pton(AF_INET6, "2001:db8:ff::2", wan6.addr[0]);
	struct dp_worker w = { .cfg = &cfg, .pool = pool, .policy = &c, .wan_addr = &wan_addr,
			       .wan6 = &wan6 };
	memcpy(w.port_mac, port_mac, sizeof(port_mac));
	assert_int_equal(dp_worker_init(&w), 0);
	lan_side(&w);
	wan_side(&w, &wan_addr);
	dp_worker_fini(&w);
	dp_classify_free(c);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-punts-%d", (int)getpid());
	char *eal[] = { "test_dp_punts", "--no-huge", "-m", "128", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", "--vdev", "net_null0", "--vdev",
			"net_null1", prefix, NULL };
	if (rte_eal_init(14, eal) < 0) {
		return gwtest_cannot_run("EAL cannot start here");
	}
	int r = 1;
	pool = rte_pktmbuf_pool_create("punts_mbufs", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (!pool) {
		fprintf(stderr, "mbuf pool: %s\n", rte_strerror(rte_errno));
		goto out;
	}
	for (uint16_t port = 0; port < DP_ROLE_COUNT; port++) {
		int rc = dp_port_start(port, 1, pool, port_mac[port]);
		if (rc < 0) {
			fprintf(stderr, "port %u: %s\n", port, strerror(-rc));
			goto out;
		}
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(punt_table),
	};
	r = cmocka_run_group_tests(tests, NULL, NULL);
out:
	for (uint16_t port = 0; port < DP_ROLE_COUNT; port++)
		dp_port_stop(port);
	rte_mempool_free(pool);
	rte_eal_cleanup();
	gwtest_remove_dpdk_runtime(prefix + strlen("--file-prefix="));
	return r;
}
