/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's I/O (server.h): the inherited port-53 sockets, the TCP
 * clients, the upstream sockets and the control socket to gwd, on one
 * libevent loop.  Everything DNS is the resolver's; this file only moves
 * bytes, keeps time and bounds connections.
 *
 * Bounds: GWDNS_TCP_CONNS client connections (more are closed at once),
 * each idle at most GWDNS_TCP_IDLE_S seconds and with at most
 * GWDNS_TCP_OUT_MAX bytes of answers not yet read by the client (past it,
 * the connection is closed).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "log.h"
#include "msg.h"
#include "resolver.h"
#include "server.h"

#define GWDNS_TCP_CONNS   64
#define GWDNS_TCP_IDLE_S  10
#define GWDNS_TCP_OUT_MAX (64u << 10)
#define GWDNS_UDP_BATCH   64
#define GWDNS_UDP_BUF     1232 /* the largest UDP answer gw-dns sends (EDNS 1232) */

/*
 * One recvmmsg's worth of queries and the answers to them, sent with one
 * sendmmsg: two system calls for up to GWDNS_UDP_BATCH queries.
 */
struct udp_batch {
	struct mmsghdr in[GWDNS_UDP_BATCH], out[GWDNS_UDP_BATCH];
	struct iovec in_iov[GWDNS_UDP_BATCH], out_iov[GWDNS_UDP_BATCH];
	struct sockaddr_storage in_addr[GWDNS_UDP_BATCH], out_addr[GWDNS_UDP_BATCH];
	uint8_t in_buf[GWDNS_UDP_BATCH][4096];
	uint8_t out_buf[GWDNS_UDP_BATCH][GWDNS_UDP_BUF];
	unsigned nout;
	int fd;     /* the socket being answered, -1 outside a batch */
};

struct tcp_conn {
	struct tcp_conn *next;
	struct gwdns_server *s;
	uint64_t id;
	struct bufferevent *bev;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct up_slot {
	struct gwdns_server *s;
	struct gwdns_pending *p;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;                  /* UDP */
	struct event *ev;        /* UDP */
	struct bufferevent *bev; /* TCP */
};

/* A LEARN sent to gwd, waiting for its reply. */
struct learn_wait {
	struct learn_wait *next;
	uint64_t msg_id, hold_id;
};

struct gwdns_server {
	struct event_base *base;
	uint16_t port_lo, port_hi; /* upstream source ports (gwdns_server_fds) */
	struct gwdns_resolver *res;
	struct event *udp_ev[GWDNS_LISTEN_MAX];
	int udp_fd[GWDNS_LISTEN_MAX];
	size_t n_udp;
	struct evconnlistener *tcp_l[GWDNS_LISTEN_MAX];
	size_t n_tcp;
	struct tcp_conn *conns;
	size_t n_conns;
	uint64_t next_conn;
	struct bufferevent *control;
	struct event *tick;
	int failed;
	uint64_t next_msg;
	struct learn_wait *learns;
	struct udp_batch *batch;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- clients */

static struct tcp_conn *conn_find(struct gwdns_server *s, uint64_t id)
{
	struct tcp_conn *c;

	for (c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static void conn_close(struct tcp_conn *c)
{
	struct gwdns_server *s = c->s;
	struct tcp_conn **pp;

	for (pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->n_conns--;
	gwdns_resolver_forget_conn(s->res, c->id);
	bufferevent_free(c->bev);
	free(c);
}

static void io_reply(void *io, const struct gwdns_client *c, const uint8_t *wire, size_t len)
{
	struct gwdns_server *s = io;

	if (c->conn == 0) {
		struct udp_batch *b = s->batch;

		if (b->fd == c->fd && b->nout < GWDNS_UDP_BATCH && len <= GWDNS_UDP_BUF) {
			unsigned k = b->nout++;

			memcpy(b->out_buf[k], wire, len);
			memcpy(&b->out_addr[k], &c->addr, c->addrlen);
			b->out_iov[k].iov_base = b->out_buf[k];
			b->out_iov[k].iov_len = len;
			memset(&b->out[k], 0, sizeof(b->out[k]));
			b->out[k].msg_hdr.msg_name = &b->out_addr[k];
			b->out[k].msg_hdr.msg_namelen = c->addrlen;
			b->out[k].msg_hdr.msg_iov = &b->out_iov[k];
			b->out[k].msg_hdr.msg_iovlen = 1;
			return;
		}
		/* UDP: a full socket buffer loses the answer, as UDP would. */
		(void)sendto(c->fd, wire, len, MSG_DONTWAIT, (const struct sockaddr *)&c->addr,
			     c->addrlen);
		return;
	}
	{
		struct tcp_conn *conn = conn_find(s, c->conn);
		uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };
		struct evbuffer *out;

		if (!conn)
			return;
		out = bufferevent_get_output(conn->bev);
		if (evbuffer_get_length(out) + len + 2 > GWDNS_TCP_OUT_MAX) {
			/* A client that does not read its answers loses the connection. */
			gwdns_resolver_count(s->res, GWDNS_C_TCP_DROP);
			conn_close(conn);
			return;
		}
		evbuffer_add(out, l, 2);
		evbuffer_add(out, wire, len);
	}
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct gwdns_server *s = arg;
	struct udp_batch *b = s->batch;
	int i, n;

	for (i = 0; i < GWDNS_UDP_BATCH; i++) {
		b->in_iov[i].iov_base = b->in_buf[i];
		b->in_iov[i].iov_len = sizeof(b->in_buf[i]);
		memset(&b->in[i], 0, sizeof(b->in[i]));
		b->in[i].msg_hdr.msg_name = &b->in_addr[i];
		b->in[i].msg_hdr.msg_namelen = sizeof(b->in_addr[i]);
		b->in[i].msg_hdr.msg_iov = &b->in_iov[i];
		b->in[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, b->in, GWDNS_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n <= 0)
		return;
	b->fd = fd;
	b->nout = 0;
	for (i = 0; i < n; i++) {
		struct gwdns_client c;

		memset(&c, 0, sizeof(c));
		memcpy(&c.addr, &b->in_addr[i], b->in[i].msg_hdr.msg_namelen);
		c.addrlen = b->in[i].msg_hdr.msg_namelen;
		c.fd = fd;
		/* A datagram past the buffer was cut: MSG_TRUNC tells, and it is dropped as malformed. */
		gwdns_resolver_query(s->res, &c, b->in_buf[i],
				     (b->in[i].msg_hdr.msg_flags & MSG_TRUNC) ? 0 : b->in[i].msg_len,
				     now_ms());
	}
	b->fd = -1;
	for (i = 0; i < (int)b->nout;) {
		int sent = sendmmsg(fd, b->out + i, b->nout - (unsigned)i, MSG_DONTWAIT);

		if (sent <= 0)
			break; /* a full socket buffer loses answers, as UDP would */
		i += sent;
	}
	b->nout = 0;
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct gwdns_server *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint64_t id = c->id;

	for (;;) {
		uint8_t l[2], buf[65535];
		struct gwdns_client cl;
		size_t len;

		if (evbuffer_get_length(in) < 2)
			return;
		evbuffer_copyout(in, l, 2);
		len = (size_t)l[0] << 8 | l[1];
		if (evbuffer_get_length(in) < len + 2)
			return;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, buf, len);
		memset(&cl, 0, sizeof(cl));
		cl.addr = c->addr;
		cl.addrlen = c->addrlen;
		cl.conn = id;
		gwdns_resolver_query(s->res, &cl, buf, len, now_ms());
		/* The reply may have closed the connection (a client that does not read). */
		if (!conn_find(s, id))
			return;
	}
}

static void on_conn_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	conn_close(arg); /* EOF, error or idle timeout */
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	struct gwdns_server *s = arg;
	struct timeval idle = { GWDNS_TCP_IDLE_S, 0 };
	struct tcp_conn *c;

	(void)l;
	if (s->n_conns >= GWDNS_TCP_CONNS || (size_t)salen > sizeof(c->addr) ||
	    !(c = calloc(1, sizeof(*c)))) {
		gwdns_resolver_count(s->res, GWDNS_C_TCP_DROP);
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		free(c);
		gwdns_resolver_count(s->res, GWDNS_C_TCP_DROP);
		return;
	}
	c->s = s;
	c->id = ++s->next_conn;
	memcpy(&c->addr, sa, (size_t)salen);
	c->addrlen = (socklen_t)salen;
	c->next = s->conns;
	s->conns = c;
	s->n_conns++;
	gwdns_resolver_count(s->res, GWDNS_C_TCP_ACCEPT);
	bufferevent_setcb(c->bev, on_conn_read, NULL, on_conn_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 65537);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---------------------------------------------------------------- upstream */

static void slot_free(struct up_slot *u)
{
	if (u->ev)
		event_free(u->ev);
	if (u->fd >= 0)
		close(u->fd);
	if (u->bev)
		bufferevent_free(u->bev);
	free(u);
}

static void on_up_udp(evutil_socket_t fd, short what, void *arg)
{
	struct up_slot *u = arg;
	struct gwdns_server *s = u->s;
	struct gwdns_pending *p = u->p;
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	uint8_t buf[65536];
	ssize_t n;

	n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		/* ICMP unreachable (ECONNREFUSED): this upstream is not there. */
		gwdns_resolver_upstream_error(s->res, p, -errno, now_ms());
		return;
	}
	/* The resolver may cancel (free) u: nothing touches it after this call. */
	gwdns_resolver_upstream_input(s->res, p, (struct sockaddr *)&from, fromlen, buf, (size_t)n,
				      now_ms());
}

static void on_up_tcp_read(struct bufferevent *bev, void *arg)
{
	struct up_slot *u = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t l[2], buf[65535];
	size_t len;

	if (evbuffer_get_length(in) < 2)
		return;
	evbuffer_copyout(in, l, 2);
	len = (size_t)l[0] << 8 | l[1];
	if (evbuffer_get_length(in) < len + 2)
		return;
	evbuffer_drain(in, 2);
	evbuffer_remove(in, buf, len);
	gwdns_resolver_upstream_input(u->s->res, u->p, (struct sockaddr *)&u->addr, u->addrlen, buf,
				      len, now_ms());
}

static void on_up_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct up_slot *u = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		return;
	gwdns_resolver_upstream_error(u->s->res, u->p, -ECONNRESET, now_ms());
}

static void to_sockaddr(const struct gwdns_prefix *up, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (up->family == 4) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(up->port);
		memcpy(&s4->sin_addr, up->addr, 4);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(up->port);
		memcpy(&s6->sin6_addr, up->addr, 16);
		*len = sizeof(*s6);
	}
}

/* A UDP socket bound to a random port above 1023 (the kernel's choice after 10 collisions). */
void gwdns_ephemeral_ports(uint16_t *lo, uint16_t *hi)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re");
	unsigned a = 0, b = 0;

	*lo = 32768;
	*hi = 60999;
	if (!f)
		return;
	if (fscanf(f, "%u %u", &a, &b) == 2 && a >= 1024 && a <= b && b <= 65535) {
		*lo = (uint16_t)a;
		*hi = (uint16_t)b;
	}
	fclose(f);
}

/* A UDP socket bound to a random port of the ephemeral range (RFC 5452:
 * as many ports as may be used, chosen at random). */
static int random_port_socket(const struct gwdns_server *s, int family)
{
	int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int i;

	if (fd < 0)
		return -errno;
	for (i = 0; i < 10; i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		struct gwdns_prefix any = { .family = (uint8_t)family };
		uint16_t port;

		if (getrandom(&port, sizeof(port), 0) != sizeof(port))
			break;
		any.port = (uint16_t)(s->port_lo + port % ((unsigned)s->port_hi - s->port_lo + 1));
		to_sockaddr(&any, &ss, &len);
		if (bind(fd, (struct sockaddr *)&ss, len) == 0)
			return fd;
	}
	return fd; /* unbound: connect picks an ephemeral port */
}

static int io_upstream_send(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
			    const uint8_t *wire, size_t len)
{
	struct gwdns_server *s = io;
	struct up_slot *u = calloc(1, sizeof(*u));
	int r;

	if (!u)
		return -ENOMEM;
	u->s = s;
	u->p = p;
	u->fd = -1;
	to_sockaddr(up, &u->addr, &u->addrlen);
	if (!tcp) {
		u->fd = random_port_socket(s, up->family);
		if (u->fd < 0) {
			r = u->fd;
			u->fd = -1;
			goto fail;
		}
		/* Connected: the kernel delivers only the upstream's datagrams (the resolver checks again). */
		if (connect(u->fd, (struct sockaddr *)&u->addr, u->addrlen) < 0 ||
		    send(u->fd, wire, len, 0) < 0) {
			r = -errno;
			goto fail;
		}
		u->ev = event_new(s->base, u->fd, EV_READ | EV_PERSIST, on_up_udp, u);
		if (!u->ev || event_add(u->ev, NULL) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	} else {
		uint8_t l[2] = { (uint8_t)(len >> 8), (uint8_t)len };

		u->bev = bufferevent_socket_new(s->base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!u->bev) {
			r = -ENOMEM;
			goto fail;
		}
		bufferevent_setcb(u->bev, on_up_tcp_read, NULL, on_up_tcp_event, u);
		bufferevent_setwatermark(u->bev, EV_READ, 0, 65537);
		if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&u->addr, (int)u->addrlen) < 0) {
			r = -ECONNREFUSED;
			goto fail;
		}
		bufferevent_write(u->bev, l, 2);
		bufferevent_write(u->bev, wire, len);
		bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	}
	gwdns_pending_set_io(p, u);
	return 0;
fail:
	slot_free(u);
	return r;
}

static void io_upstream_cancel(void *io, struct gwdns_pending *p)
{
	struct up_slot *u = gwdns_pending_io(p);

	(void)io;
	gwdns_pending_set_io(p, NULL);
	if (u)
		slot_free(u);
}

static void io_event(void *io, const char *event, const char *detail)
{
	char v[600];

	(void)io;
	gwd_log(event, "name=%s", gwd_log_value(v, sizeof(v), detail));
}

static int io_learn(void *io, uint64_t hold_id, const struct gwdns_learn *l,
		    const struct gwdns_learn_addr *addrs)
{
	struct gwdns_server *s = io;
	struct learn_wait *w;
	struct gwdns_hdr h;
	struct evbuffer *out;
	size_t alen = (size_t)l->naddrs * sizeof(*addrs);

	if (!s->control)
		return -ENOTCONN;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->msg_id = ++s->next_msg;
	w->hold_id = hold_id;
	gwdns_msg_hdr(&h, GWDNS_MSG_LEARN, (uint32_t)(sizeof(*l) + alen), w->msg_id);
	out = bufferevent_get_output(s->control);
	if (evbuffer_add(out, &h, sizeof(h)) < 0 || evbuffer_add(out, l, sizeof(*l)) < 0 ||
	    evbuffer_add(out, addrs, alen) < 0) {
		free(w);
		return -ENOMEM;
	}
	w->next = s->learns;
	s->learns = w;
	return 0;
}

/* One line per blocked answer: the policy's decision, as gwd logs a rule's. */
static void io_blocked(void *io, const char *device, const char *rule, const char *name)
{
	char d[200], r[200], n[600];

	(void)io;
	gwd_log("dns_block", "device=%s rule=%s name=%s", gwd_log_value(d, sizeof(d), device),
		gwd_log_value(r, sizeof(r), rule), gwd_log_value(n, sizeof(n), name));
}

static const struct gwdns_io_ops ops = {
	.reply = io_reply,
	.upstream_send = io_upstream_send,
	.upstream_cancel = io_upstream_cancel,
	.event = io_event,
	.learn = io_learn,
	.blocked = io_blocked,
};

/* gwd's reply to a LEARN: the held answer goes, or fails. */
static void learn_reply(struct gwdns_server *s, const struct gwdns_hdr *h, const uint8_t *body)
{
	struct learn_wait **pp, *w = NULL;
	struct gwdns_reply rep;
	struct gwdns_learn_reply lr = { 0, 0 };

	for (pp = &s->learns; *pp; pp = &(*pp)->next)
		if ((*pp)->msg_id == h->id) {
			w = *pp;
			*pp = w->next;
			break;
		}
	if (!w || h->type != (GWDNS_MSG_LEARN | GWDNS_MSG_REPLY) || h->length < sizeof(rep)) {
		gwdns_resolver_count(s->res, GWDNS_C_CONTROL_ERROR);
		free(w);
		return;
	}
	memcpy(&rep, body, sizeof(rep));
	if (rep.status == 0) {
		if (h->length != sizeof(rep) + sizeof(lr)) {
			rep.status = -EBADMSG;
			gwdns_resolver_count(s->res, GWDNS_C_CONTROL_ERROR);
		} else {
			memcpy(&lr, body + sizeof(rep), sizeof(lr));
		}
	}
	gwdns_resolver_learned(s->res, w->hold_id, rep.status, lr.failed, now_ms());
	free(w);
}

/* ---------------------------------------------------------------- control */

static void control_reply(struct gwdns_server *s, const struct gwdns_hdr *req, int32_t status,
			  const void *body, size_t len)
{
	struct gwdns_hdr h;
	struct gwdns_reply rep = { .status = status };
	struct evbuffer *out = bufferevent_get_output(s->control);

	gwdns_msg_hdr(&h, (uint16_t)(req->type | GWDNS_MSG_REPLY),
		      (uint32_t)(sizeof(rep) + (status == 0 ? len : 0)), req->id);
	evbuffer_add(out, &h, sizeof(h));
	evbuffer_add(out, &rep, sizeof(rep));
	if (status == 0 && len)
		evbuffer_add(out, body, len);
}

static void control_stats(struct gwdns_server *s, const struct gwdns_hdr *h)
{
	uint64_t v[GWDNS_C_COUNT];
	struct {
		struct gwdns_stats_head head;
		struct gwdns_counter c[GWDNS_C_COUNT];
	} body;
	unsigned i;

	memset(&body, 0, sizeof(body));
	gwdns_resolver_counters(s->res, v);
	body.head.count = GWDNS_C_COUNT;
	for (i = 0; i < GWDNS_C_COUNT; i++) {
		strncpy(body.c[i].name, gwdns_counter_name(i), sizeof(body.c[i].name) - 1);
		body.c[i].value = v[i];
	}
	control_reply(s, h, 0, &body, sizeof(body));
}

static void control_message(struct gwdns_server *s, const struct gwdns_hdr *h, const uint8_t *body)
{
	struct gwdns_conf conf;
	struct gwdns_zrec *recs = NULL;
	size_t n = 0;
	int r;
	char v[64];

	if (h->type & GWDNS_MSG_REPLY) {
		learn_reply(s, h, body);
		return;
	}
	switch (h->type) {
	case GWDNS_MSG_CONFIG:
		r = gwdns_conf_decode(body, h->length, &conf);
		if (r == 0)
			r = gwdns_resolver_configure(s->res, &conf);
		if (r == 0)
			gwd_log("config", "zone=%s upstreams=%u clients=%u",
				gwd_log_value(v, sizeof(v), gwdns_resolver_zone(s->res)),
				conf.n_upstreams, conf.n_clients);
		break;
	case GWDNS_MSG_ZONE:
		r = -ENOENT;
		if (gwdns_resolver_zone(s->res))
			r = gwdns_zone_decode(body, h->length, gwdns_resolver_zone(s->res), &recs, &n);
		if (r == 0)
			r = gwdns_resolver_set_zone(s->res, recs, n);
		free(recs);
		if (r == 0)
			gwd_log("zone", "records=%zu", n);
		break;
	case GWDNS_MSG_CLIENTS: {
		struct gwdns_client_map *map = NULL;

		r = gwdns_clients_decode(body, h->length, &map, &n);
		if (r == 0)
			r = gwdns_resolver_set_clients(s->res, map, n);
		free(map);
		if (r == 0)
			gwd_log("clients", "addresses=%zu", n);
		break;
	}
	case GWDNS_MSG_POLICY:
		r = gwdns_resolver_set_policy(s->res, body, h->length);
		if (r == 0)
			gwd_log("policy", "bytes=%u", h->length);
		break;
	case GWDNS_MSG_STATS:
		r = h->length == 0 ? 0 : -EINVAL;
		if (r == 0) {
			control_stats(s, h);
			return;
		}
		break;
	default:
		r = -EOPNOTSUPP;
		break;
	}
	if (r < 0) {
		gwdns_resolver_count(s->res, GWDNS_C_CONTROL_ERROR);
		gwd_log("control_refused", "type=%u reason=%s", h->type,
			gwd_log_value(v, sizeof(v), strerror(-r)));
	}
	control_reply(s, h, r, NULL, 0);
}

static void control_gone(struct gwdns_server *s, const char *why)
{
	gwd_log("control_closed", "reason=%s", why);
	event_base_loopbreak(s->base);
}

static void on_control_event(struct bufferevent *bev, short what, void *arg);

static void on_control_drained(struct bufferevent *bev, void *arg)
{
	(void)bev;
	control_gone(arg, "bad_header");
}

static void on_control_read(struct bufferevent *bev, void *arg)
{
	struct gwdns_server *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		struct gwdns_hdr h;
		uint8_t *body;
		int r;

		if (evbuffer_get_length(in) < sizeof(h))
			return;
		evbuffer_copyout(in, &h, sizeof(h));
		r = gwdns_msg_check_hdr(&h);
		if (r < 0) {
			/* The stream cannot be read on: say why, then stop. */
			gwdns_resolver_count(s->res, GWDNS_C_CONTROL_ERROR);
			control_reply(s, &h, r, NULL, 0);
			/* The loop ends once the reply is written (on_control_drained). */
			s->failed = 1;
			bufferevent_disable(bev, EV_READ);
			bufferevent_setcb(bev, NULL, on_control_drained, on_control_event, s);
			return;
		}
		if (evbuffer_get_length(in) < sizeof(h) + h.length)
			return;
		evbuffer_drain(in, sizeof(h));
		body = malloc(h.length ? h.length : 1);
		if (!body) {
			s->failed = 1;
			control_gone(s, "nomem");
			return;
		}
		evbuffer_remove(in, body, h.length);
		control_message(s, &h, body);
		free(body);
	}
}

static void on_control_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	control_gone(arg, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwdns_server *s = arg;

	(void)fd;
	(void)what;
	gwdns_resolver_tick(s->res, now_ms());
}

/* ---------------------------------------------------------------- setup */

int gwdns_server_new(struct event_base *base, const struct gwdns_server_fds *fds,
		     struct gwdns_server **ret)
{
	struct gwdns_server *s = calloc(1, sizeof(*s));
	struct timeval tick = { 0, GWDNS_TICK_MS * 1000 };
	size_t i;
	int r = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->base = base;
	r = gwdns_resolver_new(&ops, s, &s->res);
	if (r < 0)
		goto fail;
	s->batch = calloc(1, sizeof(*s->batch));
	if (!s->batch) {
		r = -ENOMEM;
		goto fail;
	}
	s->batch->fd = -1;
	r = -ENOMEM;
	s->port_lo = fds->port_lo;
	s->port_hi = fds->port_hi;
	if (!s->port_lo || s->port_lo > s->port_hi)
		gwdns_ephemeral_ports(&s->port_lo, &s->port_hi);
	for (i = 0; i < fds->n_udp; i++) {
		evutil_make_socket_nonblocking(fds->udp[i]);
		s->udp_fd[i] = fds->udp[i];
		s->udp_ev[i] = event_new(base, fds->udp[i], EV_READ | EV_PERSIST, on_udp, s);
		if (!s->udp_ev[i])
			goto fail;
		s->n_udp++;
		if (event_add(s->udp_ev[i], NULL) < 0)
			goto fail;
	}
	for (i = 0; i < fds->n_tcp; i++) {
		evutil_make_socket_nonblocking(fds->tcp[i]);
		s->tcp_l[i] = evconnlistener_new(base, on_accept, s, LEV_OPT_CLOSE_ON_FREE, 0, fds->tcp[i]);
		if (!s->tcp_l[i])
			goto fail;
		s->n_tcp++;
	}
	evutil_make_socket_nonblocking(fds->control);
	s->control = bufferevent_socket_new(base, fds->control, BEV_OPT_CLOSE_ON_FREE);
	if (!s->control)
		goto fail;
	bufferevent_setcb(s->control, on_control_read, NULL, on_control_event, s);
	bufferevent_enable(s->control, EV_READ | EV_WRITE);
	s->tick = event_new(base, -1, EV_PERSIST, on_tick, s);
	if (!s->tick || event_add(s->tick, &tick) < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	gwdns_server_free(s);
	return r;
}

void gwdns_server_free(struct gwdns_server *s)
{
	size_t i;

	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	/* Pending queries cancel their upstream slots through the ops. */
	gwdns_resolver_free(s->res);
	for (i = 0; i < s->n_udp; i++)
		event_free(s->udp_ev[i]);
	for (i = 0; i < s->n_tcp; i++)
		evconnlistener_free(s->tcp_l[i]);
	if (s->control)
		bufferevent_free(s->control);
	if (s->tick)
		event_free(s->tick);
	while (s->learns) {
		struct learn_wait *w = s->learns;

		s->learns = w->next;
		free(w);
	}
	free(s->batch);
	free(s);
}

int gwdns_server_failed(const struct gwdns_server *s)
{
	return s->failed;
}
