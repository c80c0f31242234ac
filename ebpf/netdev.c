/* SPDX-License-Identifier: MIT */
/*
 * A device's XDP features, from the kernel's "netdev" generic netlink
 * family (NETDEV_CMD_DEV_GET, Linux 6.3 and later): whether a redirect may
 * hand it XDP frames (NETDEV_XDP_ACT_NDO_XMIT).  A veth takes them only
 * while its peer has an XDP program or GRO on; a device without it drops
 * what is redirected to it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "netdev.h"

/* include/uapi/linux/netdev.h (not in Debian 12's linux-libc-dev). */
#define NETDEV_FAMILY_NAME_ "netdev"
#define NETDEV_CMD_DEV_GET_ 1
#define NETDEV_A_DEV_IFINDEX_ 1
#define NETDEV_A_DEV_XDP_FEATURES_ 3

struct gwbpf_netdev {
	struct mnl_socket *nl;
	uint32_t portid, seq;
	uint16_t family; /* 0: the kernel has no netdev family */
	/* Netlink messages are read and built in place: aligned as one. */
	char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
};

struct reply {
	uint16_t family;
	uint64_t features;
	int found;
};

static int on_attr_family(const struct nlattr *a, void *arg)
{
	struct reply *r = arg;
	if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
	    mnl_attr_validate(a, MNL_TYPE_U16) == 0)
		r->family = mnl_attr_get_u16(a);
	return MNL_CB_OK;
}

static int on_family(const struct nlmsghdr *n, void *arg)
{
	return mnl_attr_parse(n, sizeof(struct genlmsghdr), on_attr_family, arg);
}

static int on_attr_dev(const struct nlattr *a, void *arg)
{
	struct reply *r = arg;
	if (mnl_attr_get_type(a) == NETDEV_A_DEV_XDP_FEATURES_ &&
	    mnl_attr_validate(a, MNL_TYPE_U64) == 0) {
		r->features = mnl_attr_get_u64(a);
		r->found = 1;
	}
	return MNL_CB_OK;
}

static int on_dev(const struct nlmsghdr *n, void *arg)
{
	return mnl_attr_parse(n, sizeof(struct genlmsghdr), on_attr_dev, arg);
}

/* One request and its answer: 0, or -errno (the kernel's, or -EIO). */
static int ask(struct gwbpf_netdev *d, struct nlmsghdr *n, mnl_cb_t cb, struct reply *r)
{
	uint32_t seq = n->nlmsg_seq;
	if (mnl_socket_sendto(d->nl, n, n->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(d->nl, d->buf, sizeof(d->buf));
		if (len < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		int x = mnl_cb_run(d->buf, (size_t)len, seq, d->portid, cb, r);
		if (x == MNL_CB_ERROR)
			return errno ? -errno : -EIO;
		if (x == MNL_CB_STOP)
			return 0;
	}
}

static struct nlmsghdr *put(struct gwbpf_netdev *d, uint16_t type, uint8_t cmd, uint8_t version)
{
	struct nlmsghdr *n = mnl_nlmsg_put_header(d->buf);
	n->nlmsg_type = type;
	n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	n->nlmsg_seq = ++d->seq;
	struct genlmsghdr *g = mnl_nlmsg_put_extra_header(n, sizeof(*g));
	g->cmd = cmd;
	g->version = version;
	return n;
}

int gwbpf_netdev_open(struct gwbpf_netdev **ret)
{
	struct gwbpf_netdev *d = calloc(1, sizeof(*d));
	int r;
	if (!d)
		return -ENOMEM;
	if (!(d->nl = mnl_socket_open(NETLINK_GENERIC)) ||
	    mnl_socket_bind(d->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	struct timeval tv = { .tv_sec = 1 };
	if (setsockopt(mnl_socket_get_fd(d->nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		r = -errno;
		goto fail;
	}
	d->portid = mnl_socket_get_portid(d->nl);
	d->seq = (uint32_t)time(NULL);
	struct nlmsghdr *n = put(d, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	mnl_attr_put_strz(n, CTRL_ATTR_FAMILY_NAME, NETDEV_FAMILY_NAME_);
	struct reply rep = { 0 };
	r = ask(d, n, on_family, &rep);
	/* No such family (before Linux 6.3): no device is known to take XDP
	 * frames. */
	if (r < 0 && r != -ENOENT)
		goto fail;
	d->family = rep.family;
	*ret = d;
	return 0;
fail:
	gwbpf_netdev_close(d);
	return r;
}

void gwbpf_netdev_close(struct gwbpf_netdev *d)
{
	if (!d)
		return;
	if (d->nl)
		mnl_socket_close(d->nl);
	free(d);
}

int gwbpf_netdev_xdp_features(struct gwbpf_netdev *d, int ifindex, uint64_t *ret)
{
	if (!d->family)
		return -EOPNOTSUPP;
	if (ifindex <= 0)
		return -EINVAL;
	struct nlmsghdr *n = put(d, d->family, NETDEV_CMD_DEV_GET_, 1);
	mnl_attr_put_u32(n, NETDEV_A_DEV_IFINDEX_, (uint32_t)ifindex);
	struct reply rep = { 0 };
	int r = ask(d, n, on_dev, &rep);
	if (r < 0)
		return r;
	if (!rep.found)
		return -EIO;
	*ret = rep.features;
	return 0;
}
