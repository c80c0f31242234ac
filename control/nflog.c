/* SPDX-License-Identifier: MIT */
/*
 * The nft engine's NFLOG reader (nflog.h).  Touches one NFLOG group.
 * gwd_nflog_parse reads untrusted bytes: every length is checked before
 * use (fuzzed by tests/fuzz/fuzz_nflog.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "flows.h"
#include "ir.h"
#include "log.h"
#include "names.h"
#include "nflog.h"

struct gwd_nflog {
	struct mnl_socket *nl;
	uint16_t group;
	uint32_t portid;
};

static int config(struct gwd_nflog *l, uint16_t type, const void *data, size_t len)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(l->group);
	mnl_attr_put(nlh, type, len, data);
	if (mnl_socket_sendto(l->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	char ans[1024];
	ssize_t got = mnl_socket_recvfrom(l->nl, ans, sizeof(ans));
	if (got < 0)
		return -errno;
	if (mnl_cb_run(ans, (size_t)got, nlh->nlmsg_seq, l->portid, NULL, NULL) < 0)
		return -errno;
	return 0;
}

int gwd_nflog_new(uint16_t group, struct gwd_nflog **ret)
{
	struct gwd_nflog *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	int r;
	l->group = group;
	if (!(l->nl = mnl_socket_open(NETLINK_NETFILTER)) ||
	    mnl_socket_bind(l->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	l->portid = mnl_socket_get_portid(l->nl);
	/* Room for a burst of logged packets (each a few KB of the buffer);
	 * as root past rmem_max. */
	int sz = 4 << 20;
	if (setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
	if ((r = config(l, NFULA_CFG_CMD, &cmd, sizeof(cmd))) < 0)
		goto fail;
	/* The headers are enough for a log line and a flow. */
	struct nfulnl_msg_config_mode mode = { .copy_range = htonl(160),
					       .copy_mode = NFULNL_COPY_PACKET };
	if ((r = config(l, NFULA_CFG_MODE, &mode, sizeof(mode))) < 0)
		goto fail;
	*ret = l;
	return 0;
fail:
	gwd_nflog_free(l);
	return r;
}

void gwd_nflog_free(struct gwd_nflog *l)
{
	if (!l)
		return;
	if (l->nl)
		mnl_socket_close(l->nl);
	free(l);
}

int gwd_nflog_fd(const struct gwd_nflog *l)
{
	return mnl_socket_get_fd(l->nl);
}

/* "gw gen=G rule=R action=A " */
static int parse_prefix(const char *p, size_t n, struct gwd_nflog_rec *r)
{
	char s[128], act[16];
	if (n == 0 || n >= sizeof(s))
		return -EINVAL;
	memcpy(s, p, n);
	s[n] = '\0';
	if (sscanf(s, "gw gen=%" SCNu32 " rule=%" SCNu32 " action=%15s", &r->gen, &r->rule, act) != 3)
		return -EINVAL;
	if (!strcmp(act, "allow"))
		r->action = POL_ALLOW;
	else if (!strcmp(act, "block"))
		r->action = POL_BLOCK;
	else if (!strcmp(act, "reject"))
		r->action = POL_REJECT;
	else
		return -EINVAL;
	return 0;
}

/* The IP packet NFLOG copied (network header first). */
static int parse_packet(const uint8_t *p, size_t n, struct gwd_nflog_rec *r)
{
	size_t l4;
	/* A message with a second payload is read from that one alone: no
	 * ports of the first stay beside another protocol. */
	r->proto = 0;
	r->sport = r->dport = 0;
	if (n < 1)
		return -EINVAL;
	if (p[0] >> 4 == 4) {
		size_t ihl = (size_t)(p[0] & 15) * 4;
		if (n < 20 || ihl < 20 || ihl > n)
			return -EINVAL;
		r->family = 4;
		r->proto = p[9];
		memcpy(r->src, p + 12, 4);
		memcpy(r->dst, p + 16, 4);
		/* A later fragment has no ports. */
		if (((p[6] & 0x1f) << 8 | p[7]) != 0)
			return 0;
		l4 = ihl;
	} else if (p[0] >> 4 == 6) {
		if (n < 40)
			return -EINVAL;
		r->family = 6;
		memcpy(r->src, p + 8, 16);
		memcpy(r->dst, p + 24, 16);
		uint8_t next = p[6];
		l4 = 40;
		/* Hop-by-hop, routing and destination options, a few deep. */
		for (unsigned i = 0; i < 4 && (next == 0 || next == 43 || next == 60); i++) {
			if (l4 + 2 > n)
				return 0;
			uint8_t nn = p[l4];
			l4 += ((size_t)p[l4 + 1] + 1) * 8;
			next = nn;
		}
		r->proto = next;
	} else {
		return -EINVAL;
	}
	if ((r->proto == 6 || r->proto == 17) && l4 + 4 <= n) {
		r->sport = (uint16_t)(p[l4] << 8 | p[l4 + 1]);
		r->dport = (uint16_t)(p[l4 + 2] << 8 | p[l4 + 3]);
	}
	return 0;
}

int gwd_nflog_parse(const void *msg, size_t len, struct gwd_nflog_rec *ret)
{
	const struct nlmsghdr *nlh = msg;
	if (len < sizeof(*nlh) || nlh->nlmsg_len < sizeof(*nlh) || nlh->nlmsg_len > len ||
	    nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET) ||
	    mnl_nlmsg_get_payload_len(nlh) < sizeof(struct nfgenmsg))
		return -EINVAL;
	struct gwd_nflog_rec r;
	memset(&r, 0, sizeof(r));
	bool prefix = false, payload = false;
	const struct nlattr *a;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		uint16_t t = mnl_attr_get_type(a);
		const uint8_t *v = mnl_attr_get_payload(a);
		size_t n = mnl_attr_get_payload_len(a);
		/* libmnl walks up to the message's aligned end: an attribute
		 * must end within the message itself. */
		if ((size_t)(v - (const uint8_t *)msg) + n > nlh->nlmsg_len)
			return -EINVAL;
		switch (t) {
		case NFULA_PREFIX:
			/* NUL-terminated as the kernel sends it. */
			if (parse_prefix((const char *)v, strnlen((const char *)v, n), &r) < 0)
				return -EINVAL;
			prefix = true;
			break;
		case NFULA_HWADDR:
			if (n >= sizeof(struct nfulnl_msg_packet_hw)) {
				const struct nfulnl_msg_packet_hw *hw = (const void *)v;
				if (ntohs(hw->hw_addrlen) == 6) {
					memcpy(r.mac, hw->hw_addr, 6);
					r.has_mac = true;
				}
			}
			break;
		case NFULA_PAYLOAD:
			if (parse_packet(v, n, &r) < 0)
				return -EINVAL;
			r.len = (uint32_t)n;
			payload = true;
			break;
		default:
			break;
		}
	}
	if (!prefix || !payload)
		return -EINVAL;
	*ret = r;
	return 0;
}

static void report(const struct gwd_nflog_rec *r, struct gwd_flows *flows)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], mac[POL_MAC_TEXT] = "-";
	int af = r->family == 4 ? AF_INET : AF_INET6;
	inet_ntop(af, r->src, s, sizeof(s));
	inet_ntop(af, r->dst, d, sizeof(d));
	if (r->has_mac)
		pol_mac_format(r->mac, mac);
	gwd_log("nft_log", "gen=%" PRIu32 " rule=%" PRIu32 " action=%s mac=%s proto=%u src=%s "
		"sport=%u dst=%s dport=%u", r->gen, r->rule, pol_action_name(r->action), mac,
		r->proto, s, r->sport, d, r->dport);
	if (!flows || !r->has_mac)
		return;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct gwd_flow_ev ev = {
		.kind = GWD_FLOW_NEW, .engine = GWD_ENGINE_NFT, .family = r->family,
		.proto = r->proto, .action = r->action, .log = 1, .sport = r->sport,
		.dport = r->dport, .rule = r->rule, .generation = r->gen,
		.pkts = { 1, 0 }, .bytes = { r->len, 0 },
		.time_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000,
	};
	memcpy(ev.mac, r->mac, 6);
	memcpy(ev.src, r->src, 16);
	memcpy(ev.dst, r->dst, 16);
	gwd_flows_feed(flows, &ev);
}

unsigned gwd_nflog_drain(struct gwd_nflog *l, struct gwd_flows *flows)
{
	char buf[16384];
	unsigned got_recs = 0;
	/* At most GWD_NFLOG_DRAIN_MAX reads a call: under a flood of logged
	 * packets gwd's other work gets its turn (the loop calls again while
	 * the socket has more; past its buffer the kernel drops, counted
	 * below). */
	for (unsigned i = 0; i < GWD_NFLOG_DRAIN_MAX; i++) {
		ssize_t got = recv(mnl_socket_get_fd(l->nl), buf, sizeof(buf), MSG_DONTWAIT);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				/* The kernel dropped messages: say so, go on. */
				gwd_log("nft_log_lost", "group=%u", l->group);
				continue;
			}
			break;
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int len = (int)got;
		for (; mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
			struct gwd_nflog_rec r;
			if (gwd_nflog_parse(nlh, nlh->nlmsg_len, &r) == 0) {
				report(&r, flows);
				got_recs++;
			}
		}
	}
	return got_recs;
}
