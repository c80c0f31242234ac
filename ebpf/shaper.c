/* SPDX-License-Identifier: MIT */
/*
 * HTB qdiscs and classes and the ifb over rtnetlink (shaper.h), one
 * request at a time on a socket of its own: what `ip link add ... type
 * ifb`, `tc qdisc replace ... root handle M: htb`, `tc class replace ...
 * htb rate R ceil R` and `tc qdisc replace ... parent C bfifo limit L`
 * send.  Touches only the interfaces and classes it is given.
 */
#include <errno.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>

#include "shaper.h"

/* The leaf queue: 100 ms of the rate, and at least a GSO packet or so. */
#define QUEUE_MS  100
#define QUEUE_MIN (64 * 1024)
/* What HTB may send above the rate at once, and the quantum of its round
 * robin between classes: a packet or so at low rates, 1 ms at high ones. */
#define MTU_BYTES 1600
/* psched ticks are 64 ns (PSCHED_SHIFT). */
#define PSCHED_SHIFT 6

struct req {
	struct mnl_socket *nl;
	uint32_t seq, portid;
	char buf[32768]; /* a dump of one interface's qdiscs fits */
};

static int req_open(struct req *q)
{
	q->nl = mnl_socket_open(NETLINK_ROUTE);
	if (!q->nl)
		return -errno;
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = -errno;
		mnl_socket_close(q->nl);
		return r;
	}
	/* The kernel answers at once; should it not, no caller (gwd's event
	 * loop) waits more than this. */
	struct timeval tv = { .tv_sec = 2 };
	if (setsockopt(mnl_socket_get_fd(q->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		int r = -errno;
		mnl_socket_close(q->nl);
		return r;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	q->seq = (uint32_t)time(NULL);
	return 0;
}

static void req_close(struct req *q)
{
	if (q->nl)
		mnl_socket_close(q->nl);
}

/* A request; a dump ends with NLMSG_DONE, anything else is acknowledged
 * (the flags' bits overlap: NLM_F_DUMP is NLM_F_ROOT | NLM_F_MATCH, and
 * NLM_F_MATCH is NLM_F_EXCL's). */
static struct nlmsghdr *msg(struct req *q, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *n = mnl_nlmsg_put_header(q->buf);
	n->nlmsg_type = type;
	bool dump = type == RTM_GETQDISC;
	n->nlmsg_flags = NLM_F_REQUEST | (dump ? NLM_F_DUMP : NLM_F_ACK) | flags;
	n->nlmsg_seq = ++q->seq;
	return n;
}

/* Send n and read until the kernel's answer to it: 0 or -errno.  cb, if
 * not NULL, sees each message of a dump. */
static int talk(struct req *q, struct nlmsghdr *n, mnl_cb_t cb, void *arg)
{
	if (mnl_socket_sendto(q->nl, n, n->nlmsg_len) < 0)
		return -errno;
	uint32_t seq = n->nlmsg_seq;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(q->nl, q->buf, sizeof(q->buf));
		if (len < 0)
			return -errno;
		int r = mnl_cb_run(q->buf, (size_t)len, seq, q->portid, cb, arg);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static struct tcmsg *tcmsg(struct nlmsghdr *n, int ifindex, uint32_t handle, uint32_t parent)
{
	struct tcmsg *t = mnl_nlmsg_put_extra_header(n, sizeof(*t));
	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = ifindex;
	t->tcm_handle = handle;
	t->tcm_parent = parent;
	return t;
}

/* ---------------------------------------------------------------- ifb */

int gwbpf_tc_ifb(const char *name, int *ret_ifindex)
{
	struct req q = { 0 };
	int r = req_open(&q);
	if (r < 0)
		return r;
	int ifindex = (int)if_nametoindex(name);
	if (!ifindex) {
		struct nlmsghdr *n = msg(&q, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
		struct ifinfomsg *i = mnl_nlmsg_put_extra_header(n, sizeof(*i));
		i->ifi_family = AF_UNSPEC;
		mnl_attr_put_strz(n, IFLA_IFNAME, name);
		struct nlattr *li = mnl_attr_nest_start(n, IFLA_LINKINFO);
		mnl_attr_put_strz(n, IFLA_INFO_KIND, "ifb");
		mnl_attr_nest_end(n, li);
		if ((r = talk(&q, n, NULL, NULL)) < 0 && r != -EEXIST)
			goto out;
		ifindex = (int)if_nametoindex(name);
		r = -ENODEV;
		if (!ifindex)
			goto out;
	}
	struct nlmsghdr *n = msg(&q, RTM_NEWLINK, 0);
	struct ifinfomsg *i = mnl_nlmsg_put_extra_header(n, sizeof(*i));
	i->ifi_family = AF_UNSPEC;
	i->ifi_index = ifindex;
	i->ifi_flags = IFF_UP;
	i->ifi_change = IFF_UP;
	if ((r = talk(&q, n, NULL, NULL)) < 0)
		goto out;
	*ret_ifindex = ifindex;
out:
	req_close(&q);
	return r;
}

int gwbpf_tc_ifb_del(const char *name)
{
	int ifindex = (int)if_nametoindex(name);
	if (!ifindex)
		return -ENODEV;
	struct req q = { 0 };
	int r = req_open(&q);
	if (r < 0)
		return r;
	struct nlmsghdr *n = msg(&q, RTM_DELLINK, 0);
	struct ifinfomsg *i = mnl_nlmsg_put_extra_header(n, sizeof(*i));
	i->ifi_family = AF_UNSPEC;
	i->ifi_index = ifindex;
	r = talk(&q, n, NULL, NULL);
	req_close(&q);
	return r;
}

/* ---------------------------------------------------------------- HTB */

struct root_seen {
	int ifindex;
	uint32_t handle;
	bool htb;
};

static int attr_kind(const struct nlattr *a, void *arg)
{
	if (mnl_attr_get_type(a) == TCA_KIND && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
		*(const char **)arg = mnl_attr_get_str(a);
	return MNL_CB_OK;
}

static int on_qdisc(const struct nlmsghdr *n, void *arg)
{
	struct root_seen *s = arg;
	const struct tcmsg *t = mnl_nlmsg_get_payload(n);
	if (mnl_nlmsg_get_payload_len(n) < sizeof(*t) || t->tcm_ifindex != s->ifindex ||
	    t->tcm_parent != TC_H_ROOT)
		return MNL_CB_OK;
	const char *kind = NULL;
	mnl_attr_parse(n, sizeof(*t), attr_kind, &kind);
	s->handle = t->tcm_handle;
	s->htb = kind && !strcmp(kind, "htb");
	return MNL_CB_OK;
}

/* The interface's root qdisc now: its handle, and whether it is an HTB. */
static int root_qdisc(struct req *q, int ifindex, struct root_seen *ret)
{
	struct nlmsghdr *n = msg(q, RTM_GETQDISC, 0);
	tcmsg(n, ifindex, 0, 0);
	*ret = (struct root_seen){ .ifindex = ifindex };
	return talk(q, n, on_qdisc, ret);
}

int gwbpf_tc_htb_root(int ifindex, uint16_t major)
{
	struct req q = { 0 };
	struct root_seen s;
	int r = req_open(&q);
	if (r < 0)
		return r;
	if ((r = root_qdisc(&q, ifindex, &s)) < 0)
		goto out;
	if (s.htb && s.handle == (uint32_t)major << 16)
		goto out;
	struct nlmsghdr *n = msg(&q, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
	tcmsg(n, ifindex, (uint32_t)major << 16, TC_H_ROOT);
	mnl_attr_put_strz(n, TCA_KIND, "htb");
	struct nlattr *o = mnl_attr_nest_start(n, TCA_OPTIONS);
	/* defcls 0: what no class takes is sent from the direct queue. */
	struct tc_htb_glob glob = { .version = 3, .rate2quantum = 10, .defcls = 0 };
	mnl_attr_put(n, TCA_HTB_INIT, sizeof(glob), &glob);
	mnl_attr_put_u32(n, TCA_HTB_DIRECT_QLEN, 1000);
	mnl_attr_nest_end(n, o);
	r = talk(&q, n, NULL, NULL);
out:
	req_close(&q);
	return r;
}

int gwbpf_tc_htb_root_del(int ifindex, uint16_t major)
{
	struct req q = { 0 };
	struct root_seen s;
	int r = req_open(&q);
	if (r < 0)
		return r;
	if ((r = root_qdisc(&q, ifindex, &s)) < 0)
		goto out;
	r = -ENOENT;
	if (!s.htb || s.handle != (uint32_t)major << 16)
		goto out;
	struct nlmsghdr *n = msg(&q, RTM_DELQDISC, 0);
	tcmsg(n, ifindex, (uint32_t)major << 16, TC_H_ROOT);
	r = talk(&q, n, NULL, NULL);
out:
	req_close(&q);
	return r;
}

/* The time to send `bytes` at `bps`, in psched ticks. */
static uint32_t ticks(uint64_t bytes, uint64_t bytes_per_s)
{
	uint64_t ns = bytes * 1000000000ull / bytes_per_s;
	uint64_t t = ns >> PSCHED_SHIFT;
	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

int gwbpf_tc_class(int ifindex, uint32_t classid, uint64_t rate_bps)
{
	uint64_t bps = rate_bps / 8 ? rate_bps / 8 : 1;
	struct req q = { 0 };
	int r = req_open(&q);
	if (r < 0)
		return r;
	/* Bursts of a packet, or of 1 ms at high rates: HTB's timers then
	 * keep up with the rate without letting a queue's worth through at
	 * once. */
	uint64_t burst = bps / 1000 > MTU_BYTES ? bps / 1000 : MTU_BYTES;
	uint64_t quantum = bps / 10;
	if (quantum < MTU_BYTES)
		quantum = MTU_BYTES;
	if (quantum > 200000)
		quantum = 200000;
	struct tc_htb_opt opt = {
		.rate = { .linklayer = TC_LINKLAYER_ETHERNET,
			  .rate = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps },
		.ceil = { .linklayer = TC_LINKLAYER_ETHERNET,
			  .rate = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps },
		.buffer = ticks(burst, bps),
		.cbuffer = ticks(burst, bps),
		.quantum = (uint32_t)quantum,
	};
	struct nlmsghdr *n = msg(&q, RTM_NEWTCLASS, NLM_F_CREATE | NLM_F_REPLACE);
	tcmsg(n, ifindex, classid, classid & 0xffff0000u);
	mnl_attr_put_strz(n, TCA_KIND, "htb");
	struct nlattr *o = mnl_attr_nest_start(n, TCA_OPTIONS);
	mnl_attr_put(n, TCA_HTB_PARMS, sizeof(opt), &opt);
	if (bps > UINT32_MAX) {
		mnl_attr_put_u64(n, TCA_HTB_RATE64, bps);
		mnl_attr_put_u64(n, TCA_HTB_CEIL64, bps);
	}
	mnl_attr_nest_end(n, o);
	if ((r = talk(&q, n, NULL, NULL)) < 0)
		goto out;

	/* Its queue: a byte FIFO (the kernel here has no fq_codel). */
	uint64_t limit = bps * QUEUE_MS / 1000;
	if (limit < QUEUE_MIN)
		limit = QUEUE_MIN;
	struct tc_fifo_qopt fifo = { .limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit };
	n = msg(&q, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE);
	tcmsg(n, ifindex, 0, classid);
	mnl_attr_put_strz(n, TCA_KIND, "bfifo");
	mnl_attr_put(n, TCA_OPTIONS, sizeof(fifo), &fifo);
	r = talk(&q, n, NULL, NULL);
out:
	req_close(&q);
	return r;
}

int gwbpf_tc_class_del(int ifindex, uint32_t classid)
{
	struct req q = { 0 };
	int r = req_open(&q);
	if (r < 0)
		return r;
	struct nlmsghdr *n = msg(&q, RTM_DELTCLASS, 0);
	tcmsg(n, ifindex, classid, classid & 0xffff0000u);
	r = talk(&q, n, NULL, NULL);
	req_close(&q);
	return r;
}
