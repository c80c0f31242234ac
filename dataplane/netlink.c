/* SPDX-License-Identifier: MIT */
/* The netlink mirror of the twins' neighbours, default route and WAN
 * address (see netlink.h).  It touches nothing but its two sockets and its
 * tables. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "netlink.h"

/* Events read per poll: a storm of them cannot hold the main lcore. */
#define POLL_BUDGET 64
#define SOLICIT_MS 1000	   /* resolving an unknown gateway */
#define REFRESH_MS 30000   /* re-checking a STALE one */
#define REQUEST_TIMEOUT_S 2
#define RECV_SIZE 32768 /* a dump's part, as the kernel sizes them */
#define REQ_SIZE 512
/* The kernel's NUD_VALID (not in the uapi headers): states whose
 * link-layer address may be used. */
#define NUD_USABLE (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | \
		    NUD_DELAY)

struct neigh {
	uint8_t used, role;
	uint16_t state; /* NUD_* */
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t ip[16]; /* IPv4 in [0..3], the rest 0 */
	uint8_t mac[6];
};

/* The default route through the WAN twin of one family. */
struct route {
	bool known;
	uint8_t gw[16]; /* IPv4 in [0..3] */
	uint32_t metric;
	bool lost; /* the chosen default went: dump again for another */
	bool solicited;
	uint64_t last_solicit;
};

struct addr6 {
	bool used;
	uint8_t plen;
	uint8_t a[16];
};

/* Index of a family in the per-family arrays, -1 for another. */
static int fam_index(int family)
{
	return family == AF_INET ? 0 : family == AF_INET6 ? 1 : -1;
}

static const int FAMILY[2] = { AF_INET, AF_INET6 };
static const uint16_t ALEN[2] = { 4, 16 };

struct dp_nl {
	struct mnl_socket *ev, *req;
	uint32_t seq;
	int ifindex[DP_ROLE_COUNT];
	/* The default routes through the WAN twin: [0] IPv4, [1] IPv6. */
	struct route rt[2];
	/* The WAN twin's global IPv6 addresses, in the order they came. */
	struct addr6 addr6[DP_NL_ADDR6_MAX];
	/* The WAN twin's primary IPv4 address. */
	bool wan_addr_known;
	uint8_t wan_addr[4];
	uint8_t wan_plen;
	bool addr_lost; /* it went: dump again for another */
	struct neigh neigh[DP_NL_NEIGH_MAX];
	/* What dp_nl_wan_next_hop(6), dp_nl_wan_addr and dp_nl_wan_addrs6
	 * last answered, to tell a change. */
	bool nh_known[2], addr_known;
	uint8_t nh_mac[2][6], addr[4];
	struct addr6 last_addr6[DP_NL_ADDR6_MAX];
	struct dp_nl_stats stats;
	_Alignas(8) char buf[RECV_SIZE];
};

static int role_of(const struct dp_nl *nl, int ifindex)
{
	for (int r = 0; r < DP_ROLE_COUNT; r++)
		if (nl->ifindex[r] == ifindex)
			return r;
	return -1;
}

/* ip: 4 bytes for AF_INET, 16 for AF_INET6. */
static struct neigh *neigh_find(struct dp_nl *nl, int role, int family, const uint8_t *ip)
{
	uint16_t alen = family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < DP_NL_NEIGH_MAX; i++) {
		struct neigh *n = &nl->neigh[i];
		if (n->used && n->role == role && n->family == family && !memcmp(n->ip, ip, alen))
			return n;
	}
	return NULL;
}

/* ------------------------------------------------------------ input */

struct attrs {
	const struct nlattr *a[NDA_MAX > RTA_MAX ? NDA_MAX + 1 : RTA_MAX + 1];
	int max;
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct attrs *t = data;
	int type = mnl_attr_get_type(attr);
	if (type <= t->max)
		t->a[type] = attr;
	return MNL_CB_OK;
}

/* The attribute's 4 (IPv4), 6 (MAC) or 16 (IPv6) bytes, or NULL. */
static const uint8_t *attr_bytes(const struct attrs *t, int type, uint16_t len)
{
	const struct nlattr *a = t->a[type];
	if (!a || mnl_attr_get_payload_len(a) != len)
		return NULL;
	return mnl_attr_get_payload(a);
}

static void on_neigh(struct dp_nl *nl, const struct nlmsghdr *nlh)
{
	struct attrs t = { .max = NDA_MAX };
	const struct ndmsg *ndm;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ndm)) {
		nl->stats.bad++;
		return;
	}
	ndm = mnl_nlmsg_get_payload(nlh);
	int role = role_of(nl, ndm->ndm_ifindex), fi = fam_index(ndm->ndm_family);
	if (fi < 0 || role < 0)
		return;
	mnl_attr_parse(nlh, sizeof(*ndm), attr_cb, &t);
	const uint8_t *ip = attr_bytes(&t, NDA_DST, ALEN[fi]);
	const uint8_t *mac = attr_bytes(&t, NDA_LLADDR, 6);
	if (!ip)
		return;
	struct neigh *n = neigh_find(nl, role, FAMILY[fi], ip);
	if (nlh->nlmsg_type == RTM_DELNEIGH || !(ndm->ndm_state & NUD_USABLE) || !mac) {
		/* Gone, or not resolved (INCOMPLETE, FAILED): no MAC to use. */
		if (n)
			memset(n, 0, sizeof(*n));
		return;
	}
	if (!n) {
		for (unsigned i = 0; i < DP_NL_NEIGH_MAX && !n; i++)
			if (!nl->neigh[i].used)
				n = &nl->neigh[i];
		/* Full: a WAN entry (the next hop may be among them) takes
		 * the place of a LAN one, which the fast path does not need;
		 * IPv6 gives a LAN many. */
		for (unsigned i = 0; i < DP_NL_NEIGH_MAX && !n && role == DP_ROLE_WAN; i++)
			if (nl->neigh[i].role != DP_ROLE_WAN)
				n = &nl->neigh[i];
		if (!n || n->used)
			nl->stats.neigh_full++;
		if (!n)
			return;
	}
	n->used = 1;
	n->role = (uint8_t)role;
	n->state = ndm->ndm_state;
	n->family = (uint8_t)FAMILY[fi];
	memset(n->ip, 0, sizeof(n->ip));
	memcpy(n->ip, ip, ALEN[fi]);
	memcpy(n->mac, mac, 6);
}

static void on_route(struct dp_nl *nl, const struct nlmsghdr *nlh)
{
	struct attrs t = { .max = RTA_MAX };
	const struct rtmsg *rtm;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm)) {
		nl->stats.bad++;
		return;
	}
	rtm = mnl_nlmsg_get_payload(nlh);
	int fi = fam_index(rtm->rtm_family);
	if (fi < 0 || rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST)
		return;
	struct route *rt = &nl->rt[fi];
	mnl_attr_parse(nlh, sizeof(*rtm), attr_cb, &t);
	uint32_t table = rtm->rtm_table;
	if (t.a[RTA_TABLE] && mnl_attr_get_payload_len(t.a[RTA_TABLE]) == 4)
		table = mnl_attr_get_u32(t.a[RTA_TABLE]);
	if (table != RT_TABLE_MAIN)
		return;
	if (!t.a[RTA_OIF] || mnl_attr_get_payload_len(t.a[RTA_OIF]) != 4 ||
	    (int)mnl_attr_get_u32(t.a[RTA_OIF]) != nl->ifindex[DP_ROLE_WAN])
		return;
	/* A default route with no gateway (a point-to-point link) gives no
	 * next hop to ask ARP or ND for: not followed.  (An IPv6 gateway is
	 * usually the router's link-local address.) */
	const uint8_t *gw = attr_bytes(&t, RTA_GATEWAY, ALEN[fi]);
	if (!gw)
		return;
	const uint16_t alen = ALEN[fi];
	uint32_t metric = 0;
	if (t.a[RTA_PRIORITY] && mnl_attr_get_payload_len(t.a[RTA_PRIORITY]) == 4)
		metric = mnl_attr_get_u32(t.a[RTA_PRIORITY]);
	if (nlh->nlmsg_type == RTM_DELROUTE) {
		if (rt->known && !memcmp(rt->gw, gw, alen) && rt->metric == metric) {
			rt->known = false;
			rt->lost = true;
		}
		return;
	}
	if (rt->known && metric > rt->metric && memcmp(rt->gw, gw, alen))
		return; /* a worse one beside ours */
	if (!rt->known || memcmp(rt->gw, gw, alen))
		rt->solicited = false;
	rt->known = true;
	memset(rt->gw, 0, sizeof(rt->gw));
	memcpy(rt->gw, gw, alen);
	rt->metric = metric;
}

/* An IPv6 address of the WAN twin: global ones that passed duplicate
 * address detection are kept (up to DP_NL_ADDR6_MAX), in the order they
 * came; link-local and host scopes are not the WAN's address. */
static void on_addr6(struct dp_nl *nl, const struct nlmsghdr *nlh, const struct ifaddrmsg *ifa,
		     const struct attrs *t, uint32_t flags)
{
	const uint8_t *a = attr_bytes(t, IFA_ADDRESS, 16);
	if (!a)
		a = attr_bytes(t, IFA_LOCAL, 16);
	if (!a || ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return;
	struct addr6 *slot = NULL, *free_slot = NULL;
	for (unsigned i = 0; i < DP_NL_ADDR6_MAX; i++) {
		struct addr6 *x = &nl->addr6[i];
		if (x->used && !memcmp(x->a, a, 16))
			slot = x;
		else if (!x->used && !free_slot)
			free_slot = x;
	}
	if (nlh->nlmsg_type == RTM_DELADDR ||
	    (flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED))) {
		if (!slot)
			return;
		/* Keep the order: the ones after it move up. */
		unsigned i = (unsigned)(slot - nl->addr6);
		memmove(&nl->addr6[i], &nl->addr6[i + 1],
			(DP_NL_ADDR6_MAX - 1 - i) * sizeof(nl->addr6[0]));
		memset(&nl->addr6[DP_NL_ADDR6_MAX - 1], 0, sizeof(nl->addr6[0]));
		return;
	}
	if (!slot)
		slot = free_slot;
	if (!slot) {
		nl->stats.addr6_full++;
		return;
	}
	slot->used = true;
	slot->plen = ifa->ifa_prefixlen;
	memcpy(slot->a, a, 16);
}

static void on_addr(struct dp_nl *nl, const struct nlmsghdr *nlh)
{
	struct attrs t = { .max = IFA_MAX };
	const struct ifaddrmsg *ifa;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa)) {
		nl->stats.bad++;
		return;
	}
	ifa = mnl_nlmsg_get_payload(nlh);
	if (fam_index(ifa->ifa_family) < 0 || (int)ifa->ifa_index != nl->ifindex[DP_ROLE_WAN])
		return;
	mnl_attr_parse(nlh, sizeof(*ifa), attr_cb, &t);
	uint32_t flags = ifa->ifa_flags;
	if (t.a[IFA_FLAGS] && mnl_attr_get_payload_len(t.a[IFA_FLAGS]) == 4)
		flags = mnl_attr_get_u32(t.a[IFA_FLAGS]);
	if (ifa->ifa_family == AF_INET6) {
		on_addr6(nl, nlh, ifa, &t, flags);
		return;
	}
	/* IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer's
	 * on a point-to-point link). */
	const uint8_t *a = attr_bytes(&t, IFA_LOCAL, 4);
	if (!a)
		a = attr_bytes(&t, IFA_ADDRESS, 4);
	if (!a || (flags & IFA_F_SECONDARY))
		return;
	bool ours = nl->wan_addr_known && !memcmp(nl->wan_addr, a, 4);
	if (nlh->nlmsg_type == RTM_DELADDR) {
		if (ours) {
			nl->wan_addr_known = false;
			nl->addr_lost = true;
		}
		return;
	}
	if (nl->wan_addr_known && !ours)
		return; /* the first primary address stays until it goes */
	nl->wan_addr_known = true;
	memcpy(nl->wan_addr, a, 4);
	nl->wan_plen = ifa->ifa_prefixlen;
}

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dp_nl *nl = data;
	switch (nlh->nlmsg_type) {
	case RTM_NEWNEIGH:
	case RTM_DELNEIGH:
		on_neigh(nl, nlh);
		break;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		on_route(nl, nlh);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		on_addr(nl, nlh);
		break;
	}
	return MNL_CB_OK;
}

/* The next whole message of a buffer, or NULL at its end (*bad set when
 * what is left is not a message).  By hand rather than mnl_nlmsg_ok and
 * mnl_nlmsg_next: libmnl 1.0.4 compares the length as a signed int, so a
 * length over 2^31 passes its check (found by fuzz_netlink).  Lengths must
 * be multiples of 4, as the kernel sends them, so that libmnl's attribute
 * walk (up to the aligned end) stays inside the buffer. */
static const struct nlmsghdr *next_msg(const uint8_t **p, size_t *left, bool *bad)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)*p;
	*bad = false;
	if (*left == 0)
		return NULL;
	if (*left < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > *left ||
	    nlh->nlmsg_len % 4) {
		*bad = true;
		return NULL;
	}
	*p += nlh->nlmsg_len;
	*left -= nlh->nlmsg_len;
	return nlh;
}

int dp_nl_input(struct dp_nl *nl, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	const struct nlmsghdr *nlh;
	bool bad;
	/* By hand rather than mnl_cb_run: an error or DONE message in the
	 * middle of events must not hide the rest. */
	while ((nlh = next_msg(&p, &len, &bad)))
		msg_cb(nlh, nl);
	if (bad)
		nl->stats.bad++;
	return bad ? -EBADMSG : 0;
}

/* ------------------------------------------------------------ requests */

/* One datagram from the kernel.  Any process may send to our port id, so
 * what does not come from the kernel (nl_pid 0) is dropped here.  Bytes,
 * or -errno (-EAGAIN: nothing there; -EMSGSIZE: cut short). */
static ssize_t recv_kernel(struct dp_nl *nl, struct mnl_socket *sock)
{
	for (;;) {
		struct sockaddr_nl from;
		struct iovec iov = { .iov_base = nl->buf, .iov_len = sizeof(nl->buf) };
		struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof(from),
				      .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(mnl_socket_get_fd(sock), &msg, 0);
		if (n < 0)
			return -errno;
		if (msg.msg_flags & MSG_TRUNC)
			return -EMSGSIZE;
		if (msg.msg_namelen != sizeof(from) || from.nl_pid != 0) {
			nl->stats.bad++;
			continue;
		}
		return n;
	}
}

/* Reads the answers to request seq until DONE or the ACK; 0 or -errno
 * (the kernel's error, or -EAGAIN after the timeout). */
static int wait_answer(struct dp_nl *nl, uint32_t seq, bool dump)
{
	uint32_t portid = mnl_socket_get_portid(nl->req);
	for (;;) {
		ssize_t n = recv_kernel(nl, nl->req);
		if (n < 0)
			return (int)n;
		const uint8_t *p = (const uint8_t *)nl->buf;
		size_t left = (size_t)n;
		const struct nlmsghdr *nlh;
		bool bad;
		while ((nlh = next_msg(&p, &left, &bad))) {
			if (nlh->nlmsg_seq != seq || nlh->nlmsg_pid != portid)
				continue; /* a late answer to an earlier request */
			if (nlh->nlmsg_type == NLMSG_DONE)
				return 0;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
				if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
					return -EBADMSG;
				if (e->error || !dump)
					return e->error;
				continue;
			}
			if (dump)
				msg_cb(nlh, nl);
		}
		if (bad)
			return -EBADMSG;
	}
}

static int dump(struct dp_nl *nl, uint16_t type, uint8_t family)
{
	char buf[REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl->seq;
	if (type == RTM_GETROUTE) {
		struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
		rtm->rtm_family = family;
	} else if (type == RTM_GETADDR) {
		struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
		ifa->ifa_family = family;
	} else {
		struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
		ndm->ndm_family = family;
	}
	if (mnl_socket_sendto(nl->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return wait_answer(nl, nlh->nlmsg_seq, true);
}

static int dump_all(struct dp_nl *nl)
{
	int r = 0;
	for (int fi = 0; fi < 2; fi++) {
		nl->rt[fi].known = false;
		nl->rt[fi].lost = false;
	}
	nl->wan_addr_known = false;
	nl->addr_lost = false;
	memset(nl->addr6, 0, sizeof(nl->addr6));
	memset(nl->neigh, 0, sizeof(nl->neigh));
	static const uint16_t types[] = { RTM_GETADDR, RTM_GETROUTE, RTM_GETNEIGH };
	for (unsigned k = 0; k < 3 && r == 0; k++)
		for (int fi = 0; fi < 2 && r == 0; fi++)
			r = dump(nl, types[k], (uint8_t)FAMILY[fi]);
	return r;
}

/* Asks the kernel to resolve (or re-check) the WAN gateway of family
 * index fi: its own ARP or ND state machine runs, and the answer comes
 * back as an event. */
static int solicit(struct dp_nl *nl, int fi)
{
	char buf[REQ_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = (uint8_t)FAMILY[fi];
	ndm->ndm_ifindex = nl->ifindex[DP_ROLE_WAN];
	ndm->ndm_state = NUD_NONE;
	ndm->ndm_flags = NTF_USE;
	mnl_attr_put(nlh, NDA_DST, ALEN[fi], nl->rt[fi].gw);
	nl->stats.solicits++;
	if (mnl_socket_sendto(nl->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return wait_answer(nl, nlh->nlmsg_seq, false);
}

int dp_nl_addr_add(struct dp_nl *nl, int ifindex, int family, const uint8_t *addr,
		   uint8_t plen)
{
	char buf[REQ_SIZE];
	if (!nl->req)
		return -ENOTCONN;
	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	uint16_t alen = family == AF_INET ? 4 : 16;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	ifa->ifa_prefixlen = plen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
	mnl_attr_put(nlh, IFA_LOCAL, alen, addr);
	mnl_attr_put(nlh, IFA_ADDRESS, alen, addr);
	if (family == AF_INET && plen < 31) {
		uint8_t bcast[4];
		memcpy(bcast, addr, 4);
		for (unsigned b = plen; b < 32; b++)
			bcast[b / 8] |= (uint8_t)(0x80u >> (b % 8));
		mnl_attr_put(nlh, IFA_BROADCAST, 4, bcast);
	}
	if (mnl_socket_sendto(nl->req, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	return wait_answer(nl, nlh->nlmsg_seq, false);
}

/* ------------------------------------------------------------ life */

int dp_nl_new_offline(const int ifindex[DP_ROLE_COUNT], struct dp_nl **ret)
{
	struct dp_nl *nl = calloc(1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	for (int r = 0; r < DP_ROLE_COUNT; r++)
		nl->ifindex[r] = ifindex[r];
	*ret = nl;
	return 0;
}

int dp_nl_new(const int ifindex[DP_ROLE_COUNT], struct dp_nl **ret)
{
	struct dp_nl *nl;
	struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_S };
	int r = dp_nl_new_offline(ifindex, &nl);
	if (r < 0)
		return r;
	nl->ev = mnl_socket_open(NETLINK_ROUTE);
	nl->req = mnl_socket_open(NETLINK_ROUTE);
	if (!nl->ev || !nl->req)
		goto fail_errno;
	if (mnl_socket_bind(nl->ev,
			    RTMGRP_NEIGH | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_IFADDR |
				    RTMGRP_IPV6_ROUTE | RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(nl->req, 0, MNL_SOCKET_AUTOPID) < 0)
		goto fail_errno;
	int fd = mnl_socket_get_fd(nl->ev);
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto fail_errno;
	if (setsockopt(mnl_socket_get_fd(nl->req), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		goto fail_errno;
	r = dump_all(nl);
	if (r < 0)
		goto fail;
	*ret = nl;
	return 0;
fail_errno:
	r = -errno;
fail:
	dp_nl_free(nl);
	return r;
}

void dp_nl_free(struct dp_nl *nl)
{
	if (!nl)
		return;
	if (nl->ev)
		mnl_socket_close(nl->ev);
	if (nl->req)
		mnl_socket_close(nl->req);
	free(nl);
}

int dp_nl_fd(const struct dp_nl *nl)
{
	return nl->ev ? mnl_socket_get_fd(nl->ev) : -1;
}

const struct dp_nl_stats *dp_nl_stats(const struct dp_nl *nl)
{
	return &nl->stats;
}

bool dp_nl_neigh(const struct dp_nl *nl, enum dp_role role, const uint8_t ip[4],
		 uint8_t ret_mac[6])
{
	const struct neigh *n = neigh_find((struct dp_nl *)nl, (int)role, AF_INET, ip);
	if (!n)
		return false;
	memcpy(ret_mac, n->mac, 6);
	return true;
}

bool dp_nl_neigh6(const struct dp_nl *nl, enum dp_role role, const uint8_t ip[16],
		  uint8_t ret_mac[6])
{
	const struct neigh *n = neigh_find((struct dp_nl *)nl, (int)role, AF_INET6, ip);
	if (!n)
		return false;
	memcpy(ret_mac, n->mac, 6);
	return true;
}

/* The next hop of family index fi: gateway (ALEN[fi] bytes) and MAC. */
static bool next_hop(const struct dp_nl *nl, int fi, uint8_t *ret_gw, uint8_t ret_mac[6])
{
	const struct route *rt = &nl->rt[fi];
	if (!rt->known) {
		memset(ret_gw, 0, ALEN[fi]);
		return false;
	}
	memcpy(ret_gw, rt->gw, ALEN[fi]);
	const struct neigh *n = neigh_find((struct dp_nl *)nl, DP_ROLE_WAN, FAMILY[fi], rt->gw);
	if (!n)
		return false;
	memcpy(ret_mac, n->mac, 6);
	return true;
}

bool dp_nl_wan_next_hop(const struct dp_nl *nl, uint8_t ret_gw[4], uint8_t ret_mac[6])
{
	return next_hop(nl, 0, ret_gw, ret_mac);
}

bool dp_nl_wan_next_hop6(const struct dp_nl *nl, uint8_t ret_gw[16], uint8_t ret_mac[6])
{
	return next_hop(nl, 1, ret_gw, ret_mac);
}

unsigned dp_nl_wan_addrs6(const struct dp_nl *nl, uint8_t ret_addr[][16], uint8_t *ret_plen,
			  unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < DP_NL_ADDR6_MAX && nl->addr6[i].used; i++, n++) {
		if (n < max) {
			memcpy(ret_addr[n], nl->addr6[i].a, 16);
			ret_plen[n] = nl->addr6[i].plen;
		}
	}
	return n;
}

bool dp_nl_wan_addr(const struct dp_nl *nl, uint8_t ret_addr[4], uint8_t *ret_plen)
{
	if (!nl->wan_addr_known)
		return false;
	memcpy(ret_addr, nl->wan_addr, 4);
	*ret_plen = nl->wan_plen;
	return true;
}

bool dp_nl_poll(struct dp_nl *nl, uint64_t now_ms)
{
	if (nl->ev) {
		for (unsigned i = 0; i < POLL_BUDGET; i++) {
			ssize_t n = recv_kernel(nl, nl->ev);
			if (n < 0) {
				if (n == -ENOBUFS || n == -EMSGSIZE) { /* events lost: start over */
					nl->stats.resyncs++;
					dump_all(nl);
					continue;
				}
				break; /* EAGAIN */
			}
			nl->stats.events++;
			dp_nl_input(nl, nl->buf, (size_t)n);
		}
		if (nl->rt[0].lost || nl->rt[1].lost || nl->addr_lost)
			dump_all(nl);
	}
	bool changed = false;
	for (int fi = 0; fi < 2; fi++) {
		struct route *rt = &nl->rt[fi];
		uint8_t gw[16], mac[6];
		bool known = next_hop(nl, fi, gw, mac);
		if (nl->req && rt->known) {
			const struct neigh *n = neigh_find(nl, DP_ROLE_WAN, FAMILY[fi], rt->gw);
			uint64_t every = !known ? SOLICIT_MS : (n->state & NUD_STALE) ? REFRESH_MS : 0;
			if (every && (!rt->solicited || now_ms - rt->last_solicit >= every)) {
				rt->solicited = true;
				rt->last_solicit = now_ms;
				solicit(nl, fi);
			}
		}
		changed |= known != nl->nh_known[fi] || (known && memcmp(mac, nl->nh_mac[fi], 6));
		nl->nh_known[fi] = known;
		if (known)
			memcpy(nl->nh_mac[fi], mac, 6);
	}
	changed |= nl->wan_addr_known != nl->addr_known ||
		   (nl->wan_addr_known && memcmp(nl->wan_addr, nl->addr, 4)) ||
		   memcmp(nl->addr6, nl->last_addr6, sizeof(nl->addr6));
	nl->addr_known = nl->wan_addr_known;
	memcpy(nl->addr, nl->wan_addr, 4);
	memcpy(nl->last_addr6, nl->addr6, sizeof(nl->addr6));
	return changed;
}
