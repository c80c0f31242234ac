/* SPDX-License-Identifier: MIT */
/*
 * The netlink mirror (dataplane/netlink.c) fed with messages built here as
 * the kernel sends them: the WAN next hop follows the default route on the
 * WAN twin and its neighbour's state, the WAN address follows the WAN
 * twin's primary address; other interfaces, tables, prefixes and families
 * are ignored; cut or short messages are refused, counted,
 * and never read past.  Also the twin options of gw-dataplane's arguments.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "config.h"
#include "netlink.h"

#define LAN_IF 7
#define WAN_IF 9

static const uint8_t GW[4] = { 198, 51, 100, 1 };
static const uint8_t GW2[4] = { 198, 51, 100, 254 };
static const uint8_t MAC[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };
static const uint8_t MAC2[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x02 };

struct buf {
	char b[8192];
	size_t len;
};

static struct nlmsghdr *msg(struct buf *b, uint16_t type)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(b->b + b->len);
	nlh->nlmsg_type = type;
	return nlh;
}

static void done(struct buf *b, struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static void route(struct buf *b, uint16_t type, int oif, const uint8_t gw[4], uint8_t dst_len,
		  uint32_t table, uint32_t metric)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = dst_len;
	rtm->rtm_table = table < 256 ? (uint8_t)table : RT_TABLE_UNSPEC;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_TABLE, table);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, 4, gw);
	if (metric)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	done(b, nlh);
}

static void neigh(struct buf *b, uint16_t type, int ifindex, const uint8_t ip[4],
		  const uint8_t *mac, uint16_t state)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = state;
	mnl_attr_put(nlh, NDA_DST, 4, ip);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	done(b, nlh);
}

static struct dp_nl *mirror(void)
{
	const int ifindex[DP_ROLE_COUNT] = { LAN_IF, WAN_IF };
	struct dp_nl *nl;
	assert_int_equal(dp_nl_new_offline(ifindex, &nl), 0);
	assert_int_equal(dp_nl_fd(nl), -1);
	return nl;
}

static void feed(struct dp_nl *nl, struct buf *b)
{
	assert_int_equal(dp_nl_input(nl, b->b, b->len), 0);
	b->len = 0;
}

/* Known, with this MAC. */
static void want(struct dp_nl *nl, const uint8_t *mac)
{
	uint8_t gw[4], got[6];
	bool known = dp_nl_wan_next_hop(nl, gw, got);
	if (!mac) {
		assert_false(known);
		return;
	}
	assert_true(known);
	assert_memory_equal(got, mac, 6);
}

static void test_next_hop(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t gw[4], mac[6];

	/* The neighbour first, the route later: both orders work. */
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_REACHABLE);
	feed(nl, &b);
	want(nl, NULL);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 0);
	feed(nl, &b);
	want(nl, MAC);
	assert_true(dp_nl_wan_next_hop(nl, gw, mac));
	assert_memory_equal(gw, GW, 4);
	assert_true(dp_nl_poll(nl, 1)); /* the answer changed */
	assert_false(dp_nl_poll(nl, 2)); /* and then did not */

	/* STALE still has a usable address; FAILED and INCOMPLETE do not. */
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC2, NUD_STALE);
	feed(nl, &b);
	want(nl, MAC2);
	assert_true(dp_nl_poll(nl, 3));
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC2, NUD_FAILED);
	feed(nl, &b);
	want(nl, NULL);
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, NULL, NUD_INCOMPLETE);
	feed(nl, &b);
	want(nl, NULL);
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_PERMANENT);
	feed(nl, &b);
	want(nl, MAC);
	neigh(&b, RTM_DELNEIGH, WAN_IF, GW, MAC, NUD_PERMANENT);
	feed(nl, &b);
	want(nl, NULL);

	/* The same address on the LAN twin is not the WAN next hop. */
	neigh(&b, RTM_NEWNEIGH, LAN_IF, GW, MAC2, NUD_REACHABLE);
	feed(nl, &b);
	want(nl, NULL);
	assert_true(dp_nl_neigh(nl, DP_ROLE_LAN, GW, mac));
	assert_memory_equal(mac, MAC2, 6);
	assert_false(dp_nl_neigh(nl, DP_ROLE_WAN, GW, mac));
	dp_nl_free(nl);
}

static void test_routes(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t gw[4], mac[6];
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_REACHABLE);
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW2, MAC2, NUD_REACHABLE);
	/* Not ours: another interface, another table, not a default route,
	 * no gateway. */
	route(&b, RTM_NEWROUTE, LAN_IF, GW, 0, RT_TABLE_MAIN, 0);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, 1000, 0);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 24, RT_TABLE_MAIN, 0);
	route(&b, RTM_NEWROUTE, WAN_IF, NULL, 0, RT_TABLE_MAIN, 0);
	feed(nl, &b);
	assert_false(dp_nl_wan_next_hop(nl, gw, mac));
	assert_memory_equal(gw, (uint8_t[4]){ 0 }, 4);

	/* The lowest metric wins, whatever the order. */
	route(&b, RTM_NEWROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 100);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 10);
	route(&b, RTM_NEWROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 200);
	feed(nl, &b);
	want(nl, MAC);
	/* Removing the other one changes nothing; removing ours forgets it. */
	route(&b, RTM_DELROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 100);
	feed(nl, &b);
	want(nl, MAC);
	route(&b, RTM_DELROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 10);
	feed(nl, &b);
	want(nl, NULL);
	/* A new gateway replaces it. */
	route(&b, RTM_NEWROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 0);
	feed(nl, &b);
	want(nl, MAC2);
	dp_nl_free(nl);
}

static void test_malformed(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 0);
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_REACHABLE);
	size_t whole = b.len;
	/* Cut inside the second message: the first is applied, then the
	 * error. */
	assert_int_equal(dp_nl_input(nl, b.b, whole - 3), -EBADMSG);
	want(nl, NULL);
	uint8_t gw[4], mac[6];
	assert_false(dp_nl_wan_next_hop(nl, gw, mac));
	assert_memory_equal(gw, GW, 4); /* the route was taken */
	/* A header that claims more than the buffer. */
	struct nlmsghdr *h = (struct nlmsghdr *)b.b;
	uint32_t keep = h->nlmsg_len;
	h->nlmsg_len = (uint32_t)whole + 64;
	assert_int_equal(dp_nl_input(nl, b.b, whole), -EBADMSG);
	h->nlmsg_len = keep;
	/* Too short for its family header: counted, skipped. */
	b.len = 0;
	struct nlmsghdr *n = msg(&b, RTM_NEWNEIGH);
	n->nlmsg_len += 4; /* still shorter than a struct ndmsg */
	done(&b, n);
	feed(nl, &b);
	assert_int_equal(dp_nl_stats(nl)->bad, 3); /* the two above, and this */
	/* A MAC attribute of the wrong length is no MAC. */
	b.len = 0;
	n = msg(&b, RTM_NEWNEIGH);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(n, sizeof(*ndm));
	ndm->ndm_family = AF_INET;
	ndm->ndm_ifindex = WAN_IF;
	ndm->ndm_state = NUD_REACHABLE;
	mnl_attr_put(n, NDA_DST, 4, GW);
	mnl_attr_put(n, NDA_LLADDR, 4, MAC);
	done(&b, n);
	feed(nl, &b);
	want(nl, NULL);
	/* Garbage that is not a message at all, a length over 2^31 (libmnl's
	 * own check takes it), a length not a multiple of 4. */
	assert_int_equal(dp_nl_input(nl, "\x01\x02\x03", 3), -EBADMSG);
	assert_int_equal(dp_nl_input(nl, "", 0), 0);
	b.len = 0;
	route(&b, RTM_NEWROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 0);
	route(&b, RTM_NEWROUTE, WAN_IF, GW2, 0, RT_TABLE_MAIN, 0);
	struct nlmsghdr *second = (struct nlmsghdr *)(b.b + b.len / 2);
	second->nlmsg_len = 0xdededede;
	assert_int_equal(dp_nl_input(nl, b.b, b.len), -EBADMSG);
	second->nlmsg_len = (uint32_t)(b.len / 2) - 1;
	assert_int_equal(dp_nl_input(nl, b.b, b.len), -EBADMSG);
	dp_nl_free(nl);
}

static void addr(struct buf *b, uint16_t type, int ifindex, const uint8_t a[4], uint8_t plen,
		 uint32_t flags)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, 4, a);
	mnl_attr_put(nlh, IFA_ADDRESS, 4, a);
	mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
	done(b, nlh);
}

static void test_wan_addr(void **state)
{
	(void)state;
	static const uint8_t A1[4] = { 198, 51, 100, 2 }, A2[4] = { 198, 51, 100, 3 };
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t a[4], plen;
	/* The LAN twin's address, and a secondary one: not the WAN address. */
	addr(&b, RTM_NEWADDR, LAN_IF, A1, 24, 0);
	addr(&b, RTM_NEWADDR, WAN_IF, A2, 24, IFA_F_SECONDARY);
	feed(nl, &b);
	assert_false(dp_nl_wan_addr(nl, a, &plen));
	addr(&b, RTM_NEWADDR, WAN_IF, A1, 24, 0);
	feed(nl, &b);
	assert_true(dp_nl_wan_addr(nl, a, &plen));
	assert_memory_equal(a, A1, 4);
	assert_int_equal(plen, 24);
	assert_true(dp_nl_poll(nl, 1));
	assert_false(dp_nl_poll(nl, 2));
	/* A second primary one (another subnet) does not displace it. */
	addr(&b, RTM_NEWADDR, WAN_IF, A2, 28, 0);
	feed(nl, &b);
	assert_true(dp_nl_wan_addr(nl, a, &plen));
	assert_memory_equal(a, A1, 4);
	/* Its removal forgets it (online, a dump would find A2). */
	addr(&b, RTM_DELADDR, WAN_IF, A2, 28, 0);
	feed(nl, &b);
	assert_true(dp_nl_wan_addr(nl, a, &plen));
	addr(&b, RTM_DELADDR, WAN_IF, A1, 24, 0);
	feed(nl, &b);
	assert_false(dp_nl_wan_addr(nl, a, &plen));
	assert_true(dp_nl_poll(nl, 3));
	addr(&b, RTM_NEWADDR, WAN_IF, A2, 28, 0);
	feed(nl, &b);
	assert_true(dp_nl_wan_addr(nl, a, &plen));
	assert_memory_equal(a, A2, 4);
	assert_int_equal(plen, 28);
	dp_nl_free(nl);
}

/* IPv6 messages, built as the kernel sends them. */
static void route6(struct buf *b, uint16_t type, int oif, const uint8_t *gw, uint8_t dst_len,
		   uint32_t metric, uint8_t rtype)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET6;
	rtm->rtm_dst_len = dst_len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_RA;
	rtm->rtm_type = rtype;
	mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_MAIN);
	mnl_attr_put_u32(nlh, RTA_PRIORITY, metric);
	if (gw)
		mnl_attr_put(nlh, RTA_GATEWAY, 16, gw);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)oif);
	done(b, nlh);
}

static void neigh6(struct buf *b, uint16_t type, int ifindex, const uint8_t ip[16],
		   const uint8_t *mac, uint16_t state)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = AF_INET6;
	ndm->ndm_ifindex = ifindex;
	ndm->ndm_state = state;
	mnl_attr_put(nlh, NDA_DST, 16, ip);
	if (mac)
		mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	done(b, nlh);
}

static void addr6(struct buf *b, uint16_t type, int ifindex, const uint8_t a[16], uint8_t plen,
		  uint8_t scope, uint32_t flags)
{
	struct nlmsghdr *nlh = msg(b, type);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_scope = scope;
	ifa->ifa_index = (uint32_t)ifindex;
	ifa->ifa_flags = (uint8_t)flags;
	mnl_attr_put(nlh, IFA_ADDRESS, 16, a);
	mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
	done(b, nlh);
}

static void want6(struct dp_nl *nl, const uint8_t *gw, const uint8_t *mac)
{
	uint8_t g[16], got[6];
	bool known = dp_nl_wan_next_hop6(nl, g, got);
	if (gw)
		assert_memory_equal(g, gw, 16);
	if (!mac) {
		assert_false(known);
		return;
	}
	assert_true(known);
	assert_memory_equal(got, mac, 6);
}

static const uint8_t LL[16] = { 0xfe, 0x80, [8] = 0x00, 0xaa, 0xbb, 0xff, 0xfe, 0xcc, 0xdd, 0x01 };
static const uint8_t LL2[16] = { 0xfe, 0x80, [15] = 2 };
static const uint8_t G1[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, [15] = 2 };
static const uint8_t G2[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 2 };
static const uint8_t G3[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 2, [15] = 2 };

/* The IPv6 default route's gateway and its neighbour entry, apart from
 * IPv4's; route and neighbour removal. */
static void test_ipv6_next_hop(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t mac[6];
	static const uint8_t zero[16];
	/* Not ours: another interface, not a default route, no gateway, an
	 * unreachable default (as the kernel has on lo). */
	route6(&b, RTM_NEWROUTE, LAN_IF, LL, 0, 1024, RTN_UNICAST);
	route6(&b, RTM_NEWROUTE, WAN_IF, LL, 64, 256, RTN_UNICAST);
	route6(&b, RTM_NEWROUTE, WAN_IF, NULL, 0, 1024, RTN_UNICAST);
	route6(&b, RTM_NEWROUTE, WAN_IF, LL, 0, 1024, RTN_UNREACHABLE);
	feed(nl, &b);
	want6(nl, zero, NULL);

	/* The route, then its neighbour (link-local gateway). */
	route6(&b, RTM_NEWROUTE, WAN_IF, LL, 0, 1024, RTN_UNICAST);
	feed(nl, &b);
	want6(nl, LL, NULL);
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC, NUD_REACHABLE);
	feed(nl, &b);
	want6(nl, LL, MAC);
	assert_true(dp_nl_neigh6(nl, DP_ROLE_WAN, LL, mac));
	assert_true(dp_nl_poll(nl, 1));
	assert_false(dp_nl_poll(nl, 2));
	/* IPv4 knows nothing of it, and an IPv4 neighbour of another
	 * family's bytes is not it. */
	assert_false(dp_nl_wan_next_hop(nl, (uint8_t[4]){ 0 }, mac));
	/* STALE is usable, FAILED and INCOMPLETE are not, removal forgets. */
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC2, NUD_STALE);
	feed(nl, &b);
	want6(nl, LL, MAC2);
	assert_true(dp_nl_poll(nl, 3));
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, NULL, NUD_INCOMPLETE);
	feed(nl, &b);
	want6(nl, LL, NULL);
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC, NUD_FAILED);
	feed(nl, &b);
	want6(nl, LL, NULL);
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC, NUD_PERMANENT);
	feed(nl, &b);
	want6(nl, LL, MAC);
	neigh6(&b, RTM_DELNEIGH, WAN_IF, LL, MAC, NUD_PERMANENT);
	feed(nl, &b);
	want6(nl, LL, NULL);
	assert_false(dp_nl_neigh6(nl, DP_ROLE_WAN, LL, mac));
	/* On the LAN twin it is a LAN neighbour, not the next hop. */
	neigh6(&b, RTM_NEWNEIGH, LAN_IF, LL, MAC, NUD_REACHABLE);
	feed(nl, &b);
	want6(nl, LL, NULL);
	assert_true(dp_nl_neigh6(nl, DP_ROLE_LAN, LL, mac));

	/* The lowest metric wins; removing the other route changes nothing,
	 * removing ours forgets it; an IPv4 route does not touch it. */
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC, NUD_REACHABLE);
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL2, MAC2, NUD_REACHABLE);
	route6(&b, RTM_NEWROUTE, WAN_IF, LL2, 0, 2048, RTN_UNICAST);
	route(&b, RTM_DELROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 1024);
	feed(nl, &b);
	want6(nl, LL, MAC);
	route6(&b, RTM_DELROUTE, WAN_IF, LL2, 0, 2048, RTN_UNICAST);
	feed(nl, &b);
	want6(nl, LL, MAC);
	route6(&b, RTM_DELROUTE, WAN_IF, LL, 0, 1024, RTN_UNICAST);
	feed(nl, &b);
	want6(nl, zero, NULL);
	route6(&b, RTM_NEWROUTE, WAN_IF, LL2, 0, 2048, RTN_UNICAST);
	feed(nl, &b);
	want6(nl, LL2, MAC2);
	/* Both families at once, each its own. */
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_REACHABLE);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 0);
	feed(nl, &b);
	want(nl, MAC);
	want6(nl, LL2, MAC2);
	dp_nl_free(nl);
}

/* A LAN full of IPv6 neighbours does not keep the WAN gateway out. */
static void test_neigh_full(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t mac[6];
	for (unsigned i = 0; i < DP_NL_NEIGH_MAX + 10; i++) {
		uint8_t ip[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x77, [14] = (uint8_t)(i >> 8),
				   (uint8_t)i };
		neigh6(&b, RTM_NEWNEIGH, LAN_IF, ip, MAC2, NUD_REACHABLE);
		if (b.len > sizeof(b.b) - 256)
			feed(nl, &b);
	}
	feed(nl, &b);
	assert_int_equal(dp_nl_stats(nl)->neigh_full, 10);
	route6(&b, RTM_NEWROUTE, WAN_IF, LL, 0, 1024, RTN_UNICAST);
	neigh6(&b, RTM_NEWNEIGH, WAN_IF, LL, MAC, NUD_REACHABLE);
	neigh(&b, RTM_NEWNEIGH, WAN_IF, GW, MAC, NUD_REACHABLE);
	route(&b, RTM_NEWROUTE, WAN_IF, GW, 0, RT_TABLE_MAIN, 0);
	feed(nl, &b);
	want6(nl, LL, MAC);
	want(nl, MAC);
	assert_int_equal(dp_nl_stats(nl)->neigh_full, 12); /* two LAN entries forgotten */
	/* More LAN neighbours do not push the WAN ones out. */
	uint8_t more[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0x78, [15] = 1 };
	neigh6(&b, RTM_NEWNEIGH, LAN_IF, more, MAC2, NUD_REACHABLE);
	feed(nl, &b);
	assert_false(dp_nl_neigh6(nl, DP_ROLE_LAN, more, mac));
	want6(nl, LL, MAC);
	want(nl, MAC);
	dp_nl_free(nl);
}

/* The WAN twin's global IPv6 addresses. */
static void test_ipv6_addrs(void **state)
{
	(void)state;
	struct dp_nl *nl = mirror();
	struct buf b = { .len = 0 };
	uint8_t a[DP_NL_ADDR6_MAX][16], plen[DP_NL_ADDR6_MAX];
	/* Not WAN global addresses: link-local, the LAN twin's, tentative,
	 * DAD failed. */
	addr6(&b, RTM_NEWADDR, WAN_IF, LL, 64, RT_SCOPE_LINK, IFA_F_PERMANENT);
	addr6(&b, RTM_NEWADDR, LAN_IF, G1, 64, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT);
	addr6(&b, RTM_NEWADDR, WAN_IF, G1, 64, RT_SCOPE_UNIVERSE, IFA_F_TENTATIVE);
	addr6(&b, RTM_NEWADDR, WAN_IF, G2, 64, RT_SCOPE_UNIVERSE, IFA_F_DADFAILED);
	feed(nl, &b);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, DP_NL_ADDR6_MAX), 0);
	/* DAD done: there. */
	addr6(&b, RTM_NEWADDR, WAN_IF, G1, 64, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT);
	addr6(&b, RTM_NEWADDR, WAN_IF, G2, 56, RT_SCOPE_UNIVERSE, 0);
	addr6(&b, RTM_NEWADDR, WAN_IF, G1, 64, RT_SCOPE_UNIVERSE, IFA_F_PERMANENT); /* again */
	feed(nl, &b);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, DP_NL_ADDR6_MAX), 2);
	assert_memory_equal(a[0], G1, 16);
	assert_int_equal(plen[0], 64);
	assert_memory_equal(a[1], G2, 16);
	assert_int_equal(plen[1], 56);
	assert_true(dp_nl_poll(nl, 1));
	assert_false(dp_nl_poll(nl, 2));
	/* The IPv4 address is not among them. */
	uint8_t a4[4], p4;
	assert_false(dp_nl_wan_addr(nl, a4, &p4));
	/* Removal keeps the order of the rest. */
	addr6(&b, RTM_NEWADDR, WAN_IF, G3, 64, RT_SCOPE_UNIVERSE, 0);
	addr6(&b, RTM_DELADDR, WAN_IF, G1, 64, RT_SCOPE_UNIVERSE, 0);
	feed(nl, &b);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, 1), 2); /* only one copied */
	assert_memory_equal(a[0], G2, 16);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, DP_NL_ADDR6_MAX), 2);
	assert_memory_equal(a[1], G3, 16);
	assert_true(dp_nl_poll(nl, 3));
	/* Past DP_NL_ADDR6_MAX: counted, not kept. */
	for (unsigned i = 0; i < DP_NL_ADDR6_MAX; i++) {
		uint8_t g[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, (uint8_t)i, [15] = 1 };
		addr6(&b, RTM_NEWADDR, WAN_IF, g, 64, RT_SCOPE_UNIVERSE, 0);
	}
	feed(nl, &b);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, DP_NL_ADDR6_MAX), DP_NL_ADDR6_MAX);
	assert_int_equal(dp_nl_stats(nl)->addr6_full, 2);
	/* A cut IPv6 address attribute (8 of 16 bytes) is not an address. */
	addr6(&b, RTM_DELADDR, WAN_IF, G2, 64, RT_SCOPE_UNIVERSE, 0);
	struct nlmsghdr *nlh = msg(&b, RTM_NEWADDR);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_index = WAN_IF;
	mnl_attr_put(nlh, IFA_ADDRESS, 8, G1);
	done(&b, nlh);
	feed(nl, &b);
	assert_int_equal(dp_nl_wan_addrs6(nl, a, plen, DP_NL_ADDR6_MAX), DP_NL_ADDR6_MAX - 1);
	for (unsigned i = 0; i < DP_NL_ADDR6_MAX - 1; i++)
		assert_memory_not_equal(a[i], G1, 16);
	dp_nl_free(nl);
}

static int parse(struct dp_config *c, const char *extra[], int n)
{
	const char *argv[32] = { "gw", "--lan", "0", "--wan", "1", "--lan-ip", "192.168.1.1/24",
				 "--wan-ip", "198.51.100.2/24" };
	int argc = 9;
	char err[256];
	for (int i = 0; i < n; i++)
		argv[argc++] = extra[i];
	return dp_config_parse(argc, (char **)argv, c, err, sizeof(err));
}

static void test_config(void **state)
{
	(void)state;
	struct dp_config c;
	assert_int_equal(parse(&c, NULL, 0), 0);
	assert_string_equal(c.twin[DP_ROLE_LAN], "gw-lan");
	assert_string_equal(c.twin[DP_ROLE_WAN], "gw-wan");
	assert_false(c.no_twins);
	assert_int_equal(c.wan4_plen, 24);
	assert_memory_equal(c.wan4, ((uint8_t[4]){ 198, 51, 100, 2 }), 4);
	const char *names[] = { "--lan-twin", "t-lan-123", "--wan-twin", "t-wan-123", "--no-twins" };
	assert_int_equal(parse(&c, names, 5), 0);
	assert_string_equal(c.twin[DP_ROLE_LAN], "t-lan-123");
	assert_string_equal(c.twin[DP_ROLE_WAN], "t-wan-123");
	assert_true(c.no_twins);
	/* Without --wan-ip the WAN twin's address is followed; not without
	 * twins. */
	const char *argv[] = { "gw", "--lan", "0", "--wan", "1", "--lan-ip", "192.168.1.1/24",
			       "--no-twins" };
	char err[256];
	assert_int_equal(dp_config_parse(7, (char **)argv, &c, err, sizeof(err)), 0);
	assert_false(c.has_wan4);
	assert_int_equal(dp_config_parse(8, (char **)argv, &c, err, sizeof(err)), -EINVAL);
	const char *bare[] = { "--wan-ip", "203.0.113.5" };
	assert_int_equal(parse(&c, bare, 2), 0);
	assert_int_equal(c.wan4_plen, 32);
	static const char *bad[][2] = {
		{ "--lan-twin", "" }, { "--lan-twin", "sixteen-chars-xx" }, { "--wan-twin", "a/b" },
		{ "--wan-twin", "a b" }, { "--lan-twin", "gw-wan" }, { "--wan-ip", "1.2.3.4/0" },
		{ "--wan-ip", "1.2.3.4/33" }, { "--wan-ip", "1.2.3/24" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(&c, bad[i], 2), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_hop),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_wan_addr),
		cmocka_unit_test(test_ipv6_next_hop),
		cmocka_unit_test(test_ipv6_addrs),
		cmocka_unit_test(test_neigh_full),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
