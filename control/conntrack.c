/* SPDX-License-Identifier: MIT */
/*
 * The nft engine's view of conntrack (conntrack.h).  Touches two
 * NETLINK_NETFILTER sockets and net.netfilter.nf_conntrack_acct.
 * gwd_ct_parse reads untrusted bytes: every length is checked before use
 * (fuzzed by tests/fuzz/fuzz_conntrack.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netinet/in.h>

#include "conntrack.h"

/* --- the parser ----------------------------------------------------------------- */

struct span {
	const uint8_t *p;
	size_t n;
};

/* The attribute at the start of *s into *type and *val, and *s past it:
 * 1; 0 at the end; -EINVAL when the attribute does not fit. */
static int attr_take(struct span *s, uint16_t *type, struct span *val)
{
	if (s->n == 0)
		return 0;
	if (s->n < 4)
		return -EINVAL;
	uint16_t len, t;
	memcpy(&len, s->p, 2);
	memcpy(&t, s->p + 2, 2);
	if (len < 4 || len > s->n)
		return -EINVAL;
	*type = t & NLA_TYPE_MASK;
	val->p = s->p + 4;
	val->n = (size_t)len - 4;
	size_t adv = ((size_t)len + 3u) & ~(size_t)3u;
	if (adv > s->n)
		adv = s->n; /* the last attribute may lack its padding */
	s->p += adv;
	s->n -= adv;
	return 1;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static int parse_ip(struct span s, struct gwd_ct_rec *r)
{
	struct span v;
	uint16_t t;
	int k;
	bool src = false, dst = false;
	size_t want = r->family == 4 ? 4 : 16;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		bool is_src = t == (r->family == 4 ? CTA_IP_V4_SRC : CTA_IP_V6_SRC);
		bool is_dst = t == (r->family == 4 ? CTA_IP_V4_DST : CTA_IP_V6_DST);
		if (!is_src && !is_dst)
			continue;
		if (v.n != want)
			return -EINVAL;
		memcpy(is_src ? r->src : r->dst, v.p, want);
		src |= is_src;
		dst |= is_dst;
	}
	return k < 0 || !src || !dst ? -EINVAL : 0;
}

static int parse_proto(struct span s, struct gwd_ct_rec *r)
{
	struct span v;
	uint16_t t;
	int k;
	bool num = false;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		switch (t) {
		case CTA_PROTO_NUM:
			if (v.n != 1)
				return -EINVAL;
			r->proto = v.p[0];
			num = true;
			break;
		case CTA_PROTO_SRC_PORT:
		case CTA_PROTO_DST_PORT:
			if (v.n != 2)
				return -EINVAL;
			*(t == CTA_PROTO_SRC_PORT ? &r->sport : &r->dport) = be16(v.p);
			break;
		default:
			break;
		}
	}
	return k < 0 || !num ? -EINVAL : 0;
}

static int parse_tuple(struct span s, struct gwd_ct_rec *r)
{
	struct span v;
	uint16_t t;
	int k;
	bool ip = false, proto = false;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		if (t == CTA_TUPLE_IP) {
			if (parse_ip(v, r) < 0)
				return -EINVAL;
			ip = true;
		} else if (t == CTA_TUPLE_PROTO) {
			if (parse_proto(v, r) < 0)
				return -EINVAL;
			proto = true;
		}
	}
	if (k < 0 || !ip || !proto)
		return -EINVAL;
	/* Ports only where the protocol has them (ICMP's id is not one). */
	if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP && r->proto != IPPROTO_SCTP &&
	    r->proto != IPPROTO_UDPLITE)
		r->sport = r->dport = 0;
	return 0;
}

static int parse_counters(struct span s, struct gwd_ct_rec *r, unsigned dir)
{
	struct span v;
	uint16_t t;
	int k;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		uint64_t x;
		if (v.n == 8)
			x = be64(v.p);
		else if (v.n == 4)
			x = be32(v.p);
		else
			return -EINVAL;
		if (t == CTA_COUNTERS_PACKETS || t == CTA_COUNTERS32_PACKETS)
			r->pkts[dir] = x;
		else if (t == CTA_COUNTERS_BYTES || t == CTA_COUNTERS32_BYTES)
			r->bytes[dir] = x;
	}
	return k < 0 ? -EINVAL : 0;
}

static int parse_protoinfo(struct span s, struct gwd_ct_rec *r)
{
	struct span v, w;
	uint16_t t, u;
	int k, j;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		if (t != CTA_PROTOINFO_TCP)
			continue;
		while ((j = attr_take(&v, &u, &w)) > 0) {
			if (u != CTA_PROTOINFO_TCP_STATE)
				continue;
			if (w.n != 1)
				return -EINVAL;
			r->tcp_state = w.p[0];
			r->has_tcp_state = true;
		}
		if (j < 0)
			return -EINVAL;
	}
	return k < 0 ? -EINVAL : 0;
}

int gwd_ct_parse(const void *msg, size_t len, struct gwd_ct_rec *ret)
{
	const struct nlmsghdr *nlh = msg;
	const size_t head = sizeof(struct nlmsghdr) + sizeof(struct nfgenmsg);
	if (len < sizeof(*nlh) || nlh->nlmsg_len < head || nlh->nlmsg_len > len ||
	    nlh->nlmsg_type >> 8 != NFNL_SUBSYS_CTNETLINK)
		return -EINVAL;
	struct gwd_ct_rec r;
	memset(&r, 0, sizeof(r));
	unsigned type = nlh->nlmsg_type & 0xff;
	if (type == IPCTNL_MSG_CT_DELETE)
		r.kind = GWD_CT_DESTROY;
	else if (type == IPCTNL_MSG_CT_NEW)
		r.kind = nlh->nlmsg_flags & NLM_F_CREATE ? GWD_CT_NEW : GWD_CT_UPDATE;
	else
		return -EINVAL;
	const struct nfgenmsg *g = (const void *)((const uint8_t *)msg + sizeof(*nlh));
	if (g->nfgen_family == AF_INET)
		r.family = 4;
	else if (g->nfgen_family == AF_INET6)
		r.family = 6;
	else
		return -EINVAL;
	struct span s = { (const uint8_t *)msg + head, nlh->nlmsg_len - head }, v;
	uint16_t t;
	int k;
	bool tuple = false;
	while ((k = attr_take(&s, &t, &v)) > 0) {
		switch (t) {
		case CTA_TUPLE_ORIG:
			if (parse_tuple(v, &r) < 0)
				return -EINVAL;
			tuple = true;
			break;
		case CTA_COUNTERS_ORIG:
		case CTA_COUNTERS_REPLY:
			if (parse_counters(v, &r, t == CTA_COUNTERS_REPLY) < 0)
				return -EINVAL;
			r.has_counters = true;
			break;
		case CTA_MARK:
			if (v.n != 4)
				return -EINVAL;
			r.mark = be32(v.p);
			r.has_mark = true;
			break;
		case CTA_ID:
			if (v.n != 4)
				return -EINVAL;
			r.id = be32(v.p);
			break;
		case CTA_STATUS:
			if (v.n != 4)
				return -EINVAL;
			r.status = be32(v.p);
			r.has_status = true;
			break;
		case CTA_PROTOINFO:
			if (parse_protoinfo(v, &r) < 0)
				return -EINVAL;
			break;
		default:
			break;
		}
	}
	if (k < 0 || !tuple)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* --- the sockets ---------------------------------------------------------------- */

#define ACCT_PATH "/proc/sys/net/netfilter/nf_conntrack_acct"
#define DRAIN_MAX 64   /* reads of the event socket per gwd_ct_drain */
#define DRAIN_BATCH 32 /* messages a read takes (recvmmsg: netlink hands one a datagram) */
_Static_assert(DRAIN_MAX * DRAIN_BATCH == GWD_CT_DRAIN_MAX, "conntrack.h says the bound");
#define EV_BUF 4096    /* one event message: a few hundred bytes */

int gwd_ct_acct_on(int *ret_was)
{
	char buf[16] = "";
	int fd = open(ACCT_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		r = -errno;
		goto out;
	}
	*ret_was = atoi(buf);
	if (*ret_was != 1 && pwrite(fd, "1\n", 2, 0) != 2)
		r = -errno;
out:
	close(fd);
	return r;
}

struct gwd_ct {
	struct mnl_socket *ev, *dump;
	uint32_t dump_portid, seq;
};

void gwd_ct_free(struct gwd_ct *c)
{
	if (!c)
		return;
	if (c->ev)
		mnl_socket_close(c->ev);
	if (c->dump)
		mnl_socket_close(c->dump);
	free(c);
}

int gwd_ct_new(struct gwd_ct **ret)
{
	struct gwd_ct *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	int r;
	c->ev = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	c->dump = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!c->ev || !c->dump) {
		r = -errno;
		goto fail;
	}
	/* DESTROY events only: the kernel builds no message for a new
	 * connection while nobody listens to that group (the dump finds the
	 * live ones); an ended one brings its counters. */
	if (mnl_socket_bind(c->ev, NF_NETLINK_CONNTRACK_DESTROY, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_bind(c->dump, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto fail;
	}
	/* Room for a burst of connections, and for the events of the few
	 * milliseconds gwd lets them gather (engine_nft.c: CT_BATCH_MS; some
	 * 700 bytes of kernel memory an event); as root past rmem_max. */
	int sz = 8 << 20;
	if (setsockopt(mnl_socket_get_fd(c->ev), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(mnl_socket_get_fd(c->ev), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(mnl_socket_get_fd(c->dump), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	c->dump_portid = mnl_socket_get_portid(c->dump);
	c->seq = (uint32_t)time(NULL);
	*ret = c;
	return 0;
fail:
	gwd_ct_free(c);
	return r;
}

int gwd_ct_fd(const struct gwd_ct *c)
{
	return mnl_socket_get_fd(c->ev);
}

static void each(const void *buf, size_t len, gwd_ct_fn fn, void *arg)
{
	const struct nlmsghdr *nlh = buf;
	int n = (int)len;
	for (; mnl_nlmsg_ok(nlh, n); nlh = mnl_nlmsg_next(nlh, &n)) {
		struct gwd_ct_rec r;
		if (gwd_ct_parse(nlh, nlh->nlmsg_len, &r) == 0)
			fn(&r, arg);
	}
}

unsigned gwd_ct_drain(struct gwd_ct *c, gwd_ct_fn fn, void *arg, uint64_t *ret_lost)
{
	static _Alignas(struct nlmsghdr) uint8_t buf[DRAIN_BATCH][EV_BUF];
	struct mmsghdr mm[DRAIN_BATCH];
	struct iovec iov[DRAIN_BATCH];
	unsigned n = 0;
	*ret_lost = 0;
	/* At most DRAIN_MAX reads a call, each of up to DRAIN_BATCH messages
	 * (one syscall, not one a message): under a flood of connections the
	 * event loop gets its turn (the rest waits in the socket, or the
	 * kernel drops it: lost, and the next dump mends what it can). */
	for (unsigned i = 0; i < DRAIN_MAX; i++) {
		memset(mm, 0, sizeof(mm));
		for (unsigned k = 0; k < DRAIN_BATCH; k++) {
			iov[k] = (struct iovec){ .iov_base = buf[k], .iov_len = EV_BUF };
			mm[k].msg_hdr.msg_iov = &iov[k];
			mm[k].msg_hdr.msg_iovlen = 1;
		}
		int got = recvmmsg(mnl_socket_get_fd(c->ev), mm, DRAIN_BATCH, MSG_DONTWAIT, NULL);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				(*ret_lost)++;
				continue;
			}
			return n;
		}
		n += (unsigned)got;
		for (int k = 0; k < got; k++)
			if (!(mm[k].msg_hdr.msg_flags & MSG_TRUNC)) /* never cut: skip, not misread */
				each(buf[k], mm[k].msg_len, fn, arg);
		if (got < DRAIN_BATCH)
			return n; /* the socket is empty */
	}
	return n;
}

int gwd_ct_dump(struct gwd_ct *c, uint32_t mark, uint32_t mask, uint32_t status,
		uint32_t status_mask, gwd_ct_fn fn, void *arg)
{
	_Alignas(struct nlmsghdr) uint8_t req[128];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(req);
	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++c->seq;
	struct nfgenmsg *g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = 0;
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	if (status_mask) {
		mnl_attr_put_u32(nlh, CTA_STATUS, htonl(status));
		mnl_attr_put_u32(nlh, CTA_STATUS_MASK, htonl(status_mask));
	}
	if (mnl_socket_sendto(c->dump, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	static _Alignas(struct nlmsghdr) uint8_t buf[65536];
	for (;;) {
		ssize_t got = recv(mnl_socket_get_fd(c->dump), buf, sizeof(buf), 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		const struct nlmsghdr *m = (const void *)buf;
		int n = (int)got;
		for (; mnl_nlmsg_ok(m, n); m = mnl_nlmsg_next(m, &n)) {
			if (m->nlmsg_seq != nlh->nlmsg_seq || m->nlmsg_pid != c->dump_portid)
				continue; /* the answer to an earlier dump that timed out */
			if (m->nlmsg_type == NLMSG_DONE)
				return 0;
			if (m->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = mnl_nlmsg_get_payload(m);
				if (m->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
					return -EBADMSG;
				return e->error;
			}
			struct gwd_ct_rec r;
			/* The kernel filters; a kernel that ignored a filter
			 * is held to it here. */
			if (gwd_ct_parse(m, m->nlmsg_len, &r) == 0 &&
			    (!r.has_mark || (r.mark & mask) == (mark & mask)) &&
			    (!status_mask || !r.has_status || (r.status & status_mask) == status))
				fn(&r, arg);
		}
	}
}

/* --- the tracker ---------------------------------------------------------------- */

#define NIL UINT32_MAX

struct ent {
	uint32_t id;
	uint32_t next;    /* in its bucket, or the free list */
	uint32_t dump;    /* the last dump that showed it */
	bool ended;       /* END told (TCP closed): kept so a dump does not start it again */
	bool replied;     /* seen answered (IPS_SEEN_REPLY): a replied-only dump shows it */
	struct gwd_flow_ev ev;
};

struct gwd_ct_tracker {
	uint32_t cap, nbuckets, mark, mask;
	struct ent *v;
	uint32_t *head;
	uint32_t free_list;
	uint32_t dumps;   /* dumps begun (never 0 once one began) */
	bool in_dump;     /* between dump_begin and dump_end */
	bool replied_only; /* that dump shows answered connections only */
	struct gwd_flows *flows;
	gwd_ct_attr_fn attr;
	void *arg;
	struct gwd_ct_stats st;
};

int gwd_ct_tracker_new(uint32_t cap, uint32_t mark, uint32_t mask, struct gwd_flows *flows,
		       gwd_ct_attr_fn attr, void *arg, struct gwd_ct_tracker **ret)
{
	if (!cap || cap >= NIL / 2 || !attr)
		return -EINVAL;
	struct gwd_ct_tracker *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cap = cap;
	t->nbuckets = 1;
	while (t->nbuckets < cap)
		t->nbuckets <<= 1;
	t->v = calloc(cap, sizeof(*t->v));
	t->head = malloc(t->nbuckets * sizeof(*t->head));
	if (!t->v || !t->head) {
		gwd_ct_tracker_free(t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nbuckets; i++)
		t->head[i] = NIL;
	for (uint32_t i = 0; i < cap; i++)
		t->v[i].next = i + 1 < cap ? i + 1 : NIL;
	t->free_list = 0;
	t->mark = mark;
	t->mask = mask;
	t->flows = flows;
	t->attr = attr;
	t->arg = arg;
	*ret = t;
	return 0;
}

void gwd_ct_tracker_free(struct gwd_ct_tracker *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->head);
	free(t);
}

static uint32_t bucket(const struct gwd_ct_tracker *t, uint32_t id)
{
	return (id * 2654435761u) & (t->nbuckets - 1);
}

static struct ent *find(struct gwd_ct_tracker *t, uint32_t id)
{
	for (uint32_t i = t->head[bucket(t, id)]; i != NIL; i = t->v[i].next)
		if (t->v[i].id == id)
			return &t->v[i];
	return NULL;
}

static void drop(struct gwd_ct_tracker *t, struct ent *e)
{
	uint32_t idx = (uint32_t)(e - t->v);
	uint32_t *p = &t->head[bucket(t, e->id)];
	while (*p != idx)
		p = &t->v[*p].next;
	*p = e->next;
	if (!e->ended)
		t->st.tracked--;
	e->next = t->free_list;
	t->free_list = idx;
}

static void tell(struct gwd_ct_tracker *t, struct gwd_flow_ev *ev, uint8_t kind, uint64_t time_ms)
{
	ev->kind = kind;
	ev->time_ms = time_ms;
	if (t->flows)
		gwd_flows_feed(t->flows, ev);
}

/* TCP past both FINs (or reset): the connection is over, conntrack only
 * waits out its stray packets. */
static bool closed(const struct gwd_ct_rec *r)
{
	return r->has_tcp_state &&
	       (r->tcp_state == TCP_CONNTRACK_LAST_ACK || r->tcp_state == TCP_CONNTRACK_TIME_WAIT ||
		r->tcp_state == TCP_CONNTRACK_CLOSE);
}

static void counters_into(const struct gwd_ct_rec *r, struct gwd_flow_ev *ev)
{
	if (!r->has_counters)
		return;
	for (unsigned d = 0; d < 2; d++) {
		/* Totals never go down (a record without one keeps the last). */
		if (r->pkts[d] > ev->pkts[d])
			ev->pkts[d] = r->pkts[d];
		if (r->bytes[d] > ev->bytes[d])
			ev->bytes[d] = r->bytes[d];
	}
}

void gwd_ct_tracker_feed(struct gwd_ct_tracker *t, const struct gwd_ct_rec *r, uint64_t time_ms)
{
	if (!r->id || !r->has_mark || (r->mark & t->mask) != (t->mark & t->mask))
		return;
	bool replied = r->has_status && (r->status & IPS_SEEN_REPLY);
	struct ent *e = find(t, r->id);
	if (e) {
		if (t->in_dump)
			e->dump = t->dumps;
		e->replied |= replied;
		if (e->ended) {
			if (r->kind == GWD_CT_DESTROY)
				drop(t, e);
			return;
		}
		uint64_t p0 = e->ev.pkts[0] + e->ev.pkts[1];
		uint64_t b0 = e->ev.bytes[0] + e->ev.bytes[1];
		counters_into(r, &e->ev);
		if (r->kind == GWD_CT_DESTROY || closed(r)) {
			tell(t, &e->ev, GWD_FLOW_END, time_ms);
			if (r->kind == GWD_CT_DESTROY) {
				drop(t, e);
			} else {
				e->ended = true;
				t->st.tracked--;
			}
		} else if (e->ev.pkts[0] + e->ev.pkts[1] != p0 ||
			   e->ev.bytes[0] + e->ev.bytes[1] != b0) {
			tell(t, &e->ev, GWD_FLOW_UPDATE, time_ms);
		}
		return;
	}
	bool over = r->kind == GWD_CT_DESTROY || closed(r);
	if (t->free_list == NIL && !over) {
		/* Full: not even attributed (that is the costly part). */
		t->st.over_cap++;
		return;
	}
	struct gwd_flow_ev ev = {
		.engine = GWD_ENGINE_NFT, .family = r->family, .proto = r->proto,
		.sport = r->sport, .dport = r->dport,
	};
	memcpy(ev.src, r->src, 16);
	memcpy(ev.dst, r->dst, 16);
	counters_into(r, &ev);
	if (!t->attr(r, &ev, t->arg)) {
		t->st.unattributed++;
		return;
	}
	if (over) {
		/* Seen only at its end (its start was missed): one END. */
		t->st.reported++;
		tell(t, &ev, GWD_FLOW_END, time_ms);
		if (r->kind == GWD_CT_DESTROY)
			return;
	}
	if (t->free_list == NIL)
		return; /* ended: told, no tombstone needed where there is no room */
	uint32_t idx = t->free_list;
	e = &t->v[idx];
	t->free_list = e->next;
	e->id = r->id;
	e->ev = ev;
	e->dump = t->in_dump ? t->dumps : 0;
	e->ended = over;
	e->replied = replied;
	uint32_t b = bucket(t, r->id);
	e->next = t->head[b];
	t->head[b] = idx;
	if (over)
		return;
	t->st.tracked++;
	t->st.reported++;
	tell(t, &e->ev, GWD_FLOW_NEW, time_ms);
}

void gwd_ct_tracker_dump_begin(struct gwd_ct_tracker *t, bool replied_only)
{
	if (++t->dumps == 0)
		t->dumps = 1;
	t->in_dump = true;
	t->replied_only = replied_only;
}

void gwd_ct_tracker_dump_cancel(struct gwd_ct_tracker *t)
{
	t->in_dump = false;
}

void gwd_ct_tracker_dump_end(struct gwd_ct_tracker *t, uint64_t time_ms)
{
	if (!t->in_dump)
		return;
	t->in_dump = false;
	/* Gone from conntrack without a DESTROY we heard (events lost): its
	 * END now; kept one dump more as ended, so a late DESTROY of it is
	 * not taken for a connection never seen. */
	for (uint32_t b = 0; b < t->nbuckets; b++) {
		uint32_t i = t->head[b];
		while (i != NIL) {
			struct ent *e = &t->v[i];
			i = e->next;
			/* A dump of answered connections says nothing of
			 * one never seen answered (nor of its tombstone). */
			if (e->dump == t->dumps || (t->replied_only && !e->replied))
				continue;
			if (e->ended) {
				drop(t, e);
				continue;
			}
			tell(t, &e->ev, GWD_FLOW_END, time_ms);
			e->ended = true;
			e->dump = t->dumps;
			t->st.tracked--;
		}
	}
}

void gwd_ct_tracker_add_lost(struct gwd_ct_tracker *t, uint64_t lost)
{
	t->st.lost += lost;
}

void gwd_ct_tracker_stats(const struct gwd_ct_tracker *t, struct gwd_ct_stats *ret)
{
	*ret = t->st;
}
