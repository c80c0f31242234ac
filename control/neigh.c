/* SPDX-License-Identifier: MIT */
/*
 * The kernel's neighbour tables (neigh.h): the parser of rtnetlink
 * neighbour messages (no I/O) and the socket on gwd's loop that feeds
 * the identity registry.  Touches nothing but its netlink socket.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>

#include "log.h"
#include "neigh.h"

#define MAX_PORTS    16
#define RECV_BUF     (64 * 1024)
#define RCVBUF_BYTES (4 << 20)
#define REFRESH_S    10

static bool addr_usable(uint8_t family, const uint8_t *a)
{
	static const uint8_t zero[16];
	if (family == 4)
		return a[0] != 0 && a[0] != 127 && a[0] < 224;
	if (a[0] == 0xff || !memcmp(a, zero, 16))
		return false;
	/* ::1 */
	return !(!memcmp(a, zero, 15) && a[15] == 1);
}

/* The message's attributes into tb; -EINVAL unless they fill its payload
 * exactly (an attribute that runs past the end is a broken message, not
 * one to read half of). */
static int attrs(const struct nlmsghdr *nlh, const struct nlattr *tb[NDA_LLADDR + 1])
{
	size_t plen = mnl_nlmsg_get_payload_len(nlh), off = NLMSG_ALIGN(sizeof(struct ndmsg));
	if (plen <= off)
		return 0;
	const char *p = (const char *)mnl_nlmsg_get_payload(nlh) + off;
	size_t left = plen - off;
	while (left > 0) {
		const struct nlattr *a = (const struct nlattr *)p;
		if (left < sizeof(*a) || a->nla_len < sizeof(*a) || a->nla_len > left)
			return -EINVAL;
		unsigned type = a->nla_type & NLA_TYPE_MASK;
		if (type <= NDA_LLADDR)
			tb[type] = a;
		size_t step = NLA_ALIGN(a->nla_len);
		if (step >= left)
			break;
		p += step;
		left -= step;
	}
	return 0;
}

/* One neighbour message: 1 when *ret holds an entry, 0 to pass over, -EINVAL. */
static int one(const struct nlmsghdr *nlh, struct gwd_neigh *ret)
{
	const struct nlattr *tb[NDA_LLADDR + 1] = { 0 };
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct ndmsg))
		return -EINVAL;
	const struct ndmsg *nd = mnl_nlmsg_get_payload(nlh);
	if (attrs(nlh, tb) < 0)
		return -EINVAL;
	if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6)
		return 0;
	if (nd->ndm_flags & NTF_PROXY)
		return 0;
	if (nd->ndm_state & NUD_NOARP)
		return 0;
	memset(ret, 0, sizeof(*ret));
	ret->family = nd->ndm_family == AF_INET ? 4 : 6;
	ret->ifindex = nd->ndm_ifindex;
	size_t alen = ret->family == 4 ? 4 : 16;
	if (!tb[NDA_DST] || mnl_attr_get_payload_len(tb[NDA_DST]) != alen)
		return 0;
	memcpy(ret->addr, mnl_attr_get_payload(tb[NDA_DST]), alen);
	if (!addr_usable(ret->family, ret->addr))
		return 0;
	if (tb[NDA_LLADDR] && mnl_attr_get_payload_len(tb[NDA_LLADDR]) == 6) {
		static const uint8_t zero[6];
		memcpy(ret->mac, mnl_attr_get_payload(tb[NDA_LLADDR]), 6);
		ret->has_mac = !(ret->mac[0] & 1) && memcmp(ret->mac, zero, 6) != 0;
	}
	if (nlh->nlmsg_type == RTM_DELNEIGH || (nd->ndm_state & (NUD_FAILED | NUD_INCOMPLETE)) ||
	    nd->ndm_state == NUD_NONE) {
		ret->gone = true;
		return 1;
	}
	if (!ret->has_mac)
		return 0;
	ret->confirmed = (nd->ndm_state & (NUD_REACHABLE | NUD_PERMANENT)) != 0;
	return 1;
}

int gwd_neigh_parse(const void *buf, size_t len,
		    void (*cb)(const struct gwd_neigh *n, void *arg), void *arg, bool *ret_done)
{
	/* Walked with unsigned lengths checked against what is left: libmnl's
	 * mnl_nlmsg_ok compares the length as an int, which a length past
	 * 2^31 gets through. */
	const char *p = buf;
	size_t left = len;
	*ret_done = false;
	while (left >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		if (nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > left)
			return -EINVAL;
		if (nlh->nlmsg_type == NLMSG_DONE) {
			*ret_done = true;
			return 0;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nlmsgerr))
				return -EINVAL;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			if (e->error) {
				/* A dump refused: it ends here, the caller asks again. */
				*ret_done = true;
				return e->error < 0 && e->error > -4096 ? e->error : -EPROTO;
			}
		} else if (nlh->nlmsg_type == RTM_NEWNEIGH || nlh->nlmsg_type == RTM_DELNEIGH) {
			struct gwd_neigh n;
			int r = one(nlh, &n);
			if (r < 0)
				return r;
			if (r > 0)
				cb(&n, arg);
		}
		size_t step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step >= left)
			return 0;
		p += step;
		left -= step;
	}
	/* Bytes left that do not make a message header: a cut message. */
	return left > 0 ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- the socket */

struct gwd_neighmon {
	struct event_base *base;
	struct mnl_socket *nl;
	struct event *ev, *timer;
	char names[MAX_PORTS][IF_NAMESIZE];
	int ifindex[MAX_PORTS];
	size_t nports;
	struct gwd_neighmon_ops ops;
	void *arg;
	uint32_t epoch;
	bool dumping;
	bool dump_again;  /* a dump was asked for while one ran */
	uint32_t seq;
	uint8_t *buf;
};

/* Looks the ports up again: true when an index changed. */
static bool resolve(struct gwd_neighmon *m)
{
	bool changed = false;
	for (size_t i = 0; i < m->nports; i++) {
		int idx = (int)if_nametoindex(m->names[i]);
		if (idx != m->ifindex[i])
			changed = true;
		m->ifindex[i] = idx;
	}
	return changed;
}

static bool watched(const struct gwd_neighmon *m, int ifindex)
{
	for (size_t i = 0; i < m->nports; i++)
		if (ifindex && m->ifindex[i] == ifindex)
			return true;
	return false;
}

static void dump(struct gwd_neighmon *m)
{
	if (m->dumping) {
		m->dump_again = true;
		return;
	}
	char req[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++m->seq;
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_UNSPEC;
	if (mnl_socket_sendto(m->nl, nlh, nlh->nlmsg_len) < 0) {
		gwd_log("neigh_dump_failed", "reason=\"%s\"", strerror(errno));
		return;
	}
	m->epoch++;
	m->dumping = true;
}

static void on_one(const struct gwd_neigh *n, void *arg)
{
	struct gwd_neighmon *m = arg;
	if (watched(m, n->ifindex))
		m->ops.on_entry(n, m->epoch, m->arg);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_neighmon *m = arg;
	(void)fd;
	(void)what;
	for (int rounds = 0; rounds < 64; rounds++) {
		ssize_t n = mnl_socket_recvfrom(m->nl, m->buf, RECV_BUF);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			if (errno == ENOBUFS) {
				/* The kernel dropped events: read the tables again. */
				gwd_log("neigh_overrun", "action=dump");
				m->dumping = false;
				dump(m);
				continue;
			}
			gwd_log("neigh_read_failed", "reason=\"%s\"", strerror(errno));
			return;
		}
		bool done = false;
		int r = gwd_neigh_parse(m->buf, (size_t)n, on_one, m, &done);
		if (r < 0 && r != -EINVAL)
			gwd_log("neigh_dump_refused", "reason=\"%s\"", strerror(-r));
		else if (r < 0)
			gwd_log("neigh_bad_message", "bytes=%zd", n);
		if (done && m->dumping) {
			m->dumping = false;
			if (r == 0)
				m->ops.on_dump_done(m->epoch, m->arg);
			if (m->dump_again || r < 0) {
				m->dump_again = false;
				dump(m);
			}
		}
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_neighmon *m = arg;
	(void)fd;
	(void)what;
	/* A port recreated (a new index) has a new table: read it whole. */
	if (resolve(m))
		dump(m);
}

int gwd_neighmon_new(struct event_base *base, const char (*ifnames)[16], size_t n,
		     const struct gwd_neighmon_ops *ops, void *arg, struct gwd_neighmon **ret)
{
	struct gwd_neighmon *m = calloc(1, sizeof(*m));
	int r;
	if (!m)
		return -ENOMEM;
	if (n > MAX_PORTS) {
		r = -E2BIG;
		goto fail;
	}
	m->base = base;
	m->ops = *ops;
	m->arg = arg;
	m->nports = n;
	for (size_t i = 0; i < n; i++) {
		memcpy(m->names[i], ifnames[i], IF_NAMESIZE - 1);
		m->names[i][IF_NAMESIZE - 1] = '\0';
	}
	m->buf = malloc(RECV_BUF);
	m->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!m->buf || !m->nl) {
		r = m->buf ? -errno : -ENOMEM;
		goto fail;
	}
	int size = RCVBUF_BYTES;
	if (setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUFFORCE, &size,
		       sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(m->nl), SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (mnl_socket_bind(m->nl, RTMGRP_NEIGH, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	m->ev = event_new(base, mnl_socket_get_fd(m->nl), EV_READ | EV_PERSIST, on_read, m);
	m->timer = event_new(base, -1, EV_PERSIST, on_timer, m);
	struct timeval tv = { REFRESH_S, 0 };
	if (!m->ev || !m->timer || event_add(m->ev, NULL) < 0 || event_add(m->timer, &tv) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	resolve(m);
	dump(m);
	*ret = m;
	return 0;
fail:
	gwd_neighmon_free(m);
	return r;
}

void gwd_neighmon_free(struct gwd_neighmon *m)
{
	if (!m)
		return;
	if (m->ev)
		event_free(m->ev);
	if (m->timer)
		event_free(m->timer);
	if (m->nl)
		mnl_socket_close(m->nl);
	free(m->buf);
	free(m);
}
