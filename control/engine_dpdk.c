/* SPDX-License-Identifier: MIT */
/*
 * The DPDK engine (engine_dpdk.h): one connection to gw-dataplane's
 * control socket, requests one at a time with deadlines, replies checked
 * byte by byte before anything in them is used.  Touches only that socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine_dpdk.h"
#include "flows.h"
#include "image.h"
#include "ir.h"
#include "le.h"
#include "log.h"
#include "proto.h"
#include "proto_client.h"

#define IO_MS          1000 /* the most a request waits without progress */
#define LOAD_REPLY_MS  5000 /* LOAD_IMAGE: the dataplane builds its classifier */
#define HEALTH_MS      1000
#define EVENTS_MS      200
#define RESYNC_MIN_MS  3000 /* between two resync requests that did not help */
#define GEN_MAP        16

struct dp_engine {
	struct gwd_engine base;
	struct gwd_flows *flows;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	uint64_t next_id;
	/* what prepare copied, for commit */
	void *prep;
	size_t prep_size;
	uint32_t prep_gen, prep_nrules;
	bool prep_adopt; /* the dataplane runs exactly this image already */
	bool started;    /* a prepare has happened since gwd started */
	/* what the dataplane runs for gwd */
	uint32_t crc, size, nrules;
	uint32_t dp_gen;       /* its generation when last seen */
	uint64_t dp_uptime_ms;
	bool connected_once;   /* for "came back" */
	bool no_image_info, no_events, no_domains; /* the dataplane lacks them */
	/* dataplane generation -> gwd generation, for flow events */
	struct { uint32_t from, gen; } genmap[GEN_MAP];
	unsigned ngenmap;
	uint64_t last_resync_ms;
	uint64_t domains_id; /* set_domains_start's request, its reply not yet read */
	char state[300];
	uint8_t *buf; /* DP_REPLY_MAX bytes */
	struct event *health, *events;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void set_state(struct dp_engine *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_state(struct dp_engine *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gwd_engine_vset_state(p->state, sizeof(p->state), "dataplane", fmt, ap);
	va_end(ap);
}

static void disconnect(struct dp_engine *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

static int connect_dp(struct dp_engine *p)
{
	if (p->fd >= 0)
		return 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Room for a whole LOAD_IMAGE in the socket: the dataplane's agent
	 * reads its control socket when its lcore next runs (with one lcore,
	 * every 1024 rounds of the worker's loop), so with the default buffer
	 * (about 200 KB) a 4 MB image crossed in 20 turns.  Beyond wmem_max
	 * only with CAP_NET_ADMIN (gwd runs as root); else the largest the
	 * kernel allows, and the image takes more turns. */
	int sndbuf = DP_IMAGE_MAX + 65536;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, p->path, strlen(p->path));
	/* A unix connect finishes at once or fails with EAGAIN when the
	 * dataplane's backlog is full (its agent accepts when its lcore
	 * runs, which on a loaded machine is late): tried again, 10 ms
	 * apart, for at most half a second. */
	int r = 0;
	for (int tries = 0; tries < 50; tries++) {
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
		if (r != -EAGAIN)
			break;
		struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	p->fd = fd;
	/* A new connection may reach a new dataplane: ask again what it has. */
	p->no_image_info = p->no_events = p->no_domains = false;
	return 0;
}

/* Moves len bytes, each wait at most ms without progress. */
static int io(int fd, void *buf, size_t len, bool out, int ms)
{
	uint8_t *b = buf;
	while (len) {
		ssize_t n = out ? send(fd, b, len, MSG_NOSIGNAL) : recv(fd, b, len, 0);
		if (n > 0) {
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
		int r = poll(&pfd, 1, ms);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

/* The transport lost: the connection closed, the engine degraded. */
static int lost(struct dp_engine *p, uint16_t type, int r, char *err, size_t errlen)
{
	disconnect(p);
	snprintf(err, errlen, "no answer from %s (%s %s)", p->path, dp_proto_type_name(type),
		 strerror(-r));
	set_state(p, "degraded: no answer from %s", p->path);
	return r == -EBADMSG ? r : -EHOSTDOWN;
}

/* A request's first half: header and body (b1 then b2) sent; its id in
 * *ret_id for call_recv.  0, or a transport error as call's. */
static int call_send(struct dp_engine *p, uint16_t type, const void *b1, uint32_t l1,
		     const void *b2, uint32_t l2, uint64_t *ret_id, char *err, size_t errlen)
{
	uint8_t hdr[sizeof(struct dp_msg_hdr)];
	int r = connect_dp(p);
	if (r < 0)
		return lost(p, type, r, err, errlen);
	uint64_t id = ++p->next_id;
	dp_proto_request(hdr, type, id, l1 + l2);
	if ((r = io(p->fd, hdr, sizeof(hdr), true, IO_MS)) < 0 ||
	    (l1 && (r = io(p->fd, (void *)b1, l1, true, IO_MS)) < 0) ||
	    (l2 && (r = io(p->fd, (void *)b2, l2, true, IO_MS)) < 0))
		return lost(p, type, r, err, errlen);
	*ret_id = id;
	return 0;
}

/* Its second half: the reply to request id, as call's. */
static int call_recv(struct dp_engine *p, uint16_t type, uint64_t id, int reply_ms,
		     const uint8_t **ret_body, size_t *ret_len, char *err, size_t errlen)
{
	uint8_t hdr[sizeof(struct dp_msg_hdr)];
	int r;
	if (p->fd < 0)
		return lost(p, type, -ENOTCONN, err, errlen);
	if ((r = io(p->fd, hdr, sizeof(hdr), false, reply_ms)) < 0)
		return lost(p, type, r, err, errlen);
	/* What is wrong with a malformed reply is not kept: the engine says
	 * "no answer", as before these checks were factored out. */
	char why[256];
	uint32_t len;
	struct dp_reply_msg m;
	if ((r = dp_reply_header(hdr, type, id, &len, why, sizeof(why))) < 0 ||
	    (r = io(p->fd, p->buf, len, false, IO_MS)) < 0 ||
	    (r = dp_reply_parse(p->buf, len, &m, why, sizeof(why))) < 0)
		return lost(p, type, r, err, errlen);
	if (m.status < 0) {
		snprintf(err, errlen, "%s: %.*s", dp_proto_type_name(type), (int)m.reason_len,
			 m.reason);
		/* The server closes after these: it cannot find the next message. */
		if (m.status == -EOPNOTSUPP || m.status == -EBADMSG ||
		    m.status == -EPROTONOSUPPORT || m.status == -EMSGSIZE)
			disconnect(p);
		return m.status;
	}
	*ret_body = m.body;
	*ret_len = m.body_len;
	return 0;
}

/*
 * One request: header, body (b1 then b2), and its reply into p->buf,
 * checked by dp_reply_header and dp_reply_parse (the body for its type is
 * the caller's to check, with dp_reply_body).  Returns the reply's status
 * (0 or the dataplane's -errno, its reason in err) with *ret_body /
 * *ret_len the type's reply body; or a transport error or -EBADMSG, after
 * which the connection is closed and the engine degraded.
 */
static int call(struct dp_engine *p, uint16_t type, const void *b1, uint32_t l1, const void *b2,
		uint32_t l2, int reply_ms, const uint8_t **ret_body, size_t *ret_len, char *err,
		size_t errlen)
{
	uint64_t id;
	int r = call_send(p, type, b1, l1, b2, l2, &id, err, errlen);
	if (r < 0)
		return r;
	return call_recv(p, type, id, reply_ms, ret_body, ret_len, err, errlen);
}

struct health {
	uint32_t generation, nrules, flags;
	uint64_t uptime_ms;
};

static int health(struct dp_engine *p, struct health *h, char *err, size_t errlen)
{
	const uint8_t *b;
	size_t n;
	int r = call(p, DP_MSG_HEALTH, NULL, 0, NULL, 0, IO_MS, &b, &n, err, errlen);
	if (r < 0)
		return r;
	if ((r = dp_reply_body(DP_MSG_HEALTH, b, n, err, errlen)) < 0) {
		disconnect(p);
		return r;
	}
	h->generation = dp_get32(b);
	h->nrules = dp_get32(b + 8);
	h->flags = dp_get32(b + 12);
	h->uptime_ms = dp_get64(b + 16);
	return 0;
}

struct image_info {
	uint32_t generation, nrules, crc, size;
};

/* -EOPNOTSUPP: this dataplane has no IMAGE_INFO (remembered). */
static int image_info(struct dp_engine *p, struct image_info *ii, char *err, size_t errlen)
{
	if (p->no_image_info)
		return -EOPNOTSUPP;
	const uint8_t *b;
	size_t n;
	int r = call(p, DP_MSG_IMAGE_INFO, NULL, 0, NULL, 0, IO_MS, &b, &n, err, errlen);
	if (r == -EOPNOTSUPP) {
		p->no_image_info = true;
		return r;
	}
	if (r < 0)
		return r;
	if ((r = dp_reply_body(DP_MSG_IMAGE_INFO, b, n, err, errlen)) < 0) {
		disconnect(p);
		return r;
	}
	*ii = (struct image_info){ dp_get32(b), dp_get32(b + 4), dp_get32(b + 8), dp_get32(b + 12) };
	return 0;
}

static void map_gen(struct dp_engine *p, uint32_t dp_gen, uint32_t gen)
{
	if (p->ngenmap == GEN_MAP) {
		memmove(p->genmap, p->genmap + 1, sizeof(p->genmap[0]) * (GEN_MAP - 1));
		p->ngenmap--;
	}
	p->genmap[p->ngenmap].from = dp_gen;
	p->genmap[p->ngenmap].gen = gen;
	p->ngenmap++;
}

static uint32_t gwd_gen_of(const struct dp_engine *p, uint32_t dp_gen)
{
	for (unsigned i = p->ngenmap; i-- > 0;)
		if (p->genmap[i].from <= dp_gen)
			return p->genmap[i].gen;
	return 0;
}

static uint32_t image_crc(const void *img)
{
	return dp_get32((const uint8_t *)img + offsetof(struct pol_image_header, checksum));
}

static int prepare(struct gwd_engine *e, uint32_t gen, const void *image, size_t size,
		   const struct pol_ir *ir, char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	free(p->prep);
	p->prep = NULL;
	p->prep_adopt = false;
	if (size > DP_IMAGE_MAX) {
		snprintf(err, errlen, "an image of %zu bytes, the dataplane takes at most %u", size,
			 DP_IMAGE_MAX);
		return -E2BIG;
	}
	uint32_t nrules;
	int r;
	if (ir) {
		nrules = ir->nrules;
	} else {
		struct pol_ir *own;
		if ((r = pol_image_load(image, size, &own, err, errlen)) < 0)
			return r;
		nrules = own->nrules;
		pol_ir_free(own);
	}
	if (nrules > DP_MASK_RULES) {
		snprintf(err, errlen, "%u rules, the dataplane takes at most %u", nrules,
			 DP_MASK_RULES);
		return -E2BIG;
	}
	struct health h;
	if ((r = health(p, &h, err, errlen)) < 0)
		return r;
	p->prep = malloc(size);
	if (!p->prep) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(p->prep, image, size);
	p->prep_size = size;
	p->prep_gen = gen;
	p->prep_nrules = nrules;
	if (!p->started) {
		/* gwd just started: the dataplane may run this image already. */
		struct image_info ii;
		char why[256];
		if (image_info(p, &ii, why, sizeof(why)) == 0 && ii.size == size &&
		    ii.crc == image_crc(image) && ii.nrules == nrules && ii.generation)
			p->prep_adopt = true;
	}
	p->started = true;
	return 0;
}

static int commit(struct gwd_engine *e, char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	if (!p->prep) {
		snprintf(err, errlen, "nothing prepared");
		return -EINVAL;
	}
	uint32_t crc = image_crc(p->prep);
	if (p->prep_adopt) {
		struct health h;
		int r = health(p, &h, err, errlen);
		if (r < 0)
			return r;
		p->dp_gen = h.generation;
		p->dp_uptime_ms = h.uptime_ms;
		gwd_log("dataplane_adopt", "gen=%u dp_gen=%u crc=%08x", p->prep_gen, h.generation,
			crc);
		goto done;
	}
	const uint8_t *b;
	size_t n;
	int r = call(p, DP_MSG_LOAD_IMAGE, p->prep, (uint32_t)p->prep_size, NULL, 0,
		     LOAD_REPLY_MS, &b, &n, err, errlen);
	if (r < 0)
		return r;
	if ((r = dp_reply_body(DP_MSG_LOAD_IMAGE, b, n, err, errlen)) < 0)
		return r;
	if (dp_get32(b + 4) != p->prep_nrules) {
		snprintf(err, errlen, "load_image reply does not match the image");
		return -EBADMSG;
	}
	p->dp_gen = dp_get32(b);
	struct image_info ii;
	r = image_info(p, &ii, err, errlen);
	if (r == 0 && (ii.crc != crc || ii.size != p->prep_size)) {
		snprintf(err, errlen, "after load_image the dataplane runs crc %08x size %u, not "
			 "crc %08x size %zu", ii.crc, ii.size, crc, p->prep_size);
		return -EIO;
	}
	if (r < 0 && r != -EOPNOTSUPP)
		return r;
	struct health h;
	if (health(p, &h, err, errlen) == 0)
		p->dp_uptime_ms = h.uptime_ms;
	gwd_log("dataplane_load", "gen=%u dp_gen=%u nrules=%u crc=%08x verified=%d", p->prep_gen,
		p->dp_gen, p->prep_nrules, crc, r == 0);
done:
	map_gen(p, p->dp_gen, p->prep_gen);
	p->crc = crc;
	p->size = (uint32_t)p->prep_size;
	p->nrules = p->prep_nrules;
	e->generation = p->prep_gen;
	free(p->prep);
	p->prep = NULL;
	p->prep_adopt = false;
	set_state(p, "ok");
	return 0;
}

static void abort_(struct gwd_engine *e)
{
	struct dp_engine *p = (struct dp_engine *)e;
	free(p->prep);
	p->prep = NULL;
	p->prep_adopt = false;
}

/* SET_ACTIVE (valid_s 0: the pin holds for ever) or SET_ACTIVE_FOR. */
static int send_active(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules,
		       uint32_t valid_s, char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	if (nrules != p->nrules) {
		snprintf(err, errlen, "a mask for %u rules, the dataplane runs %u", nrules,
			 p->nrules);
		return -ESTALE;
	}
	uint8_t body[sizeof(struct dp_set_active_for) + DP_MASK_RULES / 8];
	uint16_t type = valid_s ? DP_MSG_SET_ACTIVE_FOR : DP_MSG_SET_ACTIVE;
	size_t head = valid_s ? sizeof(struct dp_set_active_for) : sizeof(struct dp_set_active);
	uint32_t words = (nrules + 63) / 64;
	memset(body, 0, head);
	dp_put32(body, 0); /* the running one: DOMAIN_SET also moves its number */
	dp_put32(body + 4, nrules);
	if (valid_s)
		dp_put32(body + 8, valid_s);
	for (uint32_t w = 0; w < words; w++)
		dp_put64(body + head + 8 * w, mask[w]);
	const uint8_t *b;
	size_t n;
	int r = call(p, type, body, head + 8 * words, NULL, 0, IO_MS, &b, &n, err, errlen);
	if (r < 0)
		return r;
	if ((r = dp_reply_body(type, b, n, err, errlen)) < 0)
		return r;
	p->dp_gen = dp_get32(b);
	map_gen(p, p->dp_gen, e->generation);
	return 0;
}

static int set_active(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules, char *err,
		      size_t errlen)
{
	return send_active(e, mask, nrules, 0, err, errlen);
}

static int set_active_for(struct gwd_engine *e, const uint64_t *mask, uint32_t nrules,
			  uint32_t valid_s, char *err, size_t errlen)
{
	return send_active(e, mask, nrules, valid_s, err, errlen);
}

/* DOMAIN_SET's body for k entries of v into body. */
static uint32_t domain_body(uint8_t *body, const struct gwd_domain_entry *v, size_t k)
{
	memset(body, 0, 8 + k * sizeof(struct dp_domain_entry));
	dp_put32(body, (uint32_t)k);
	for (size_t i = 0; i < k; i++) {
		uint8_t *d = body + 8 + i * sizeof(struct dp_domain_entry);
		d[0] = v[i].family;
		dp_put32(d + 4, v[i].ttl_s);
		memcpy(d + 8, v[i].addr, 16);
		dp_put64(d + 24, v[i].sets);
	}
	return (uint32_t)(8 + k * sizeof(struct dp_domain_entry));
}

/* DOMAIN_SET's reply to request id. */
static int domains_reply(struct dp_engine *p, uint64_t id, char *err, size_t errlen)
{
	const uint8_t *b;
	size_t n;
	int r = call_recv(p, DP_MSG_DOMAIN_SET, id, IO_MS, &b, &n, err, errlen);
	if (r == -EOPNOTSUPP)
		p->no_domains = true;
	else if (r == 0)
		r = dp_reply_body(DP_MSG_DOMAIN_SET, b, n, err, errlen);
	return r;
}

/* Every entry but the last request's sent and answered; the last request
 * sent, its id in *ret_id (0: nothing left to wait for). */
static int domains_send(struct dp_engine *p, const struct gwd_domain_entry *v, size_t count,
			uint64_t *ret_id, char *err, size_t errlen)
{
	if (p->no_domains) {
		snprintf(err, errlen, "this dataplane has no domain_set");
		return -EOPNOTSUPP;
	}
	uint8_t *body = malloc(DP_DOMAIN_MAX * sizeof(struct dp_domain_entry) + 8);
	if (!body) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	uint64_t id = 0;
	int r = 0;
	for (size_t at = 0; at < count && r == 0;) {
		size_t k = count - at > DP_DOMAIN_MAX ? DP_DOMAIN_MAX : count - at;
		if (id && (r = domains_reply(p, id, err, errlen)) < 0)
			break;
		id = 0;
		r = call_send(p, DP_MSG_DOMAIN_SET, body, domain_body(body, v + at, k), NULL, 0, &id,
			      err, errlen);
		at += k;
	}
	free(body);
	if (r == 0)
		*ret_id = id;
	return r;
}

static int set_domains(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t count,
		       char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	uint64_t id = 0;
	int r = domains_send(p, v, count, &id, err, errlen);
	if (r == 0 && id)
		r = domains_reply(p, id, err, errlen);
	return r;
}

/* set_domains in two halves (engine.h): the request out, then, after gwd
 * has told the other engines, its reply. */
static int set_domains_start(struct gwd_engine *e, const struct gwd_domain_entry *v,
			     size_t count, char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	p->domains_id = 0;
	return domains_send(p, v, count, &p->domains_id, err, errlen);
}

static int set_domains_finish(struct gwd_engine *e, char *err, size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	uint64_t id = p->domains_id;
	p->domains_id = 0;
	return id ? domains_reply(p, id, err, errlen) : 0;
}

static const char *state(const struct gwd_engine *e)
{
	return ((const struct dp_engine *)e)->state;
}

/* A restarted or replaced dataplane: gwd pushes its state again. */
static void want_resync(struct dp_engine *p, const char *why)
{
	uint64_t t = now_ms();
	if (p->last_resync_ms && t - p->last_resync_ms < RESYNC_MIN_MS)
		return;
	p->last_resync_ms = t;
	gwd_log("dataplane_resync", "path=%s gen=%u why=%s", p->path, p->base.generation, why);
	p->started = true; /* no adoption: what runs there is not ours */
	if (p->base.resync)
		p->base.resync(&p->base, p->base.resync_arg);
}

static void on_health(evutil_socket_t fd, short what, void *arg)
{
	struct dp_engine *p = arg;
	char err[256];
	bool was_connected = p->fd >= 0;
	struct health h;
	if (health(p, &h, err, sizeof(err)) < 0)
		return; /* degraded, said by call() */
	const char *why = NULL;
	if (p->base.generation) {
		struct image_info ii;
		int r;
		if (h.generation == 0)
			why = "generation_0";
		else if (h.generation < p->dp_gen || h.uptime_ms < p->dp_uptime_ms)
			why = "restarted";
		else if (h.nrules != p->nrules)
			why = "rule_count";
		else if ((r = image_info(p, &ii, err, sizeof(err))) == 0 &&
			 (ii.crc != p->crc || ii.size != p->size))
			why = "image_differs";
		else if (r < 0 && r != -EOPNOTSUPP)
			return;
	} else if (!was_connected) {
		/* Nothing committed yet (absent at start, or gwd has no
		 * generation): give it whatever gwd has. */
		why = "connected";
	}
	p->dp_uptime_ms = h.uptime_ms;
	if (why) {
		p->dp_gen = h.generation;
		want_resync(p, why);
		return;
	}
	p->dp_gen = h.generation > p->dp_gen ? h.generation : p->dp_gen;
	set_state(p, "ok");
}

static void feed(struct dp_engine *p, const uint8_t *b)
{
	static const uint8_t kinds[] = {
		[DP_EV_NEW] = GWD_FLOW_NEW, [DP_EV_END] = GWD_FLOW_END,
		[DP_EV_COUNTERS] = GWD_FLOW_UPDATE, [DP_EV_LOG] = GWD_FLOW_UPDATE,
	};
	uint8_t kind = b[0];
	if (kind < DP_EV_NEW || kind > DP_EV_LOG || (b[1] != 4 && b[1] != 6))
		return;
	struct gwd_flow_ev ev = {
		.kind = kinds[kind], .engine = GWD_ENGINE_DATAPLANE, .family = b[1],
		.proto = b[2], .action = b[3], .log = kind == DP_EV_LOG,
		.sport = (uint16_t)(b[44] | b[45] << 8), .dport = (uint16_t)(b[46] | b[47] << 8),
		.rule = dp_get32(b + 48), .generation = gwd_gen_of(p, dp_get32(b + 52)),
		.pkts = { dp_get64(b + 64), dp_get64(b + 72) }, .bytes = { dp_get64(b + 80), dp_get64(b + 88) },
		.time_ms = dp_get64(b + 96),
	};
	memcpy(ev.mac, b + 4, 6);
	memcpy(ev.src, b + 12, 16);
	memcpy(ev.dst, b + 28, 16);
	if (p->flows)
		gwd_flows_feed(p->flows, &ev);
}

static void on_events(evutil_socket_t fd, short what, void *arg)
{
	struct dp_engine *p = arg;
	if (p->fd < 0 || p->no_events)
		return;
	char err[256];
	/* A few batches a tick at most: the loop has other duties. */
	for (int round = 0; round < 4; round++) {
		uint8_t req[8] = { 0 };
		dp_put32(req, DP_EVENTS_MAX);
		const uint8_t *b;
		size_t n;
		int r = call(p, DP_MSG_EVENTS, req, sizeof(req), NULL, 0, IO_MS, &b, &n, err,
			     sizeof(err));
		if (r == -EOPNOTSUPP)
			p->no_events = true;
		if (r < 0 || dp_reply_body(DP_MSG_EVENTS, b, n, err, sizeof(err)) < 0)
			return;
		uint32_t count = dp_get32(b), lost = dp_get32(b + 4);
		if (lost)
			gwd_log("dataplane_events_lost", "lost=%u", lost);
		for (uint32_t i = 0; i < count; i++)
			feed(p, b + sizeof(struct dp_events_head) + i * sizeof(struct dp_flow_event));
		if (count < DP_EVENTS_MAX)
			return;
	}
}

/* STATS: "<role>.<counter>", "<role>.drop.<reason>", "<role>.punt.<reason>"
 * (dataplane/proto.h); rx is what "packets" counts. */
static int counters(struct gwd_engine *e, gwd_counter_fn fn, void *arg, char *err,
		    size_t errlen)
{
	struct dp_engine *p = (struct dp_engine *)e;
	const uint8_t *b;
	size_t n;
	int r = call(p, DP_MSG_STATS, NULL, 0, NULL, 0, IO_MS, &b, &n, err, errlen);
	if (r == 0)
		r = dp_reply_body(DP_MSG_STATS, b, n, err, errlen);
	if (r < 0)
		return r;
	uint32_t count = dp_get32(b);
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *c = b + sizeof(struct dp_stats_head) + i * sizeof(struct dp_counter);
		char name[sizeof(((struct dp_counter *)0)->name) + 1];
		memcpy(name, c, sizeof(name) - 1);
		name[sizeof(name) - 1] = '\0';
		uint64_t v = dp_get64(c + sizeof(((struct dp_counter *)0)->name));
		char *dot = strchr(name, '.');
		if (!dot)
			continue;
		*dot = '\0';
		const char *rest = dot + 1;
		if (!strncmp(rest, "drop.", 5))
			fn("drop", name, rest + 5, v, arg);
		else if (!strncmp(rest, "punt.", 5))
			fn("punt", name, rest + 5, v, arg);
		else if (!strcmp(rest, "rx"))
			fn("packets", name, "rx", v, arg);
	}
	return 0;
}

static void free_(struct gwd_engine *e)
{
	struct dp_engine *p = (struct dp_engine *)e;
	if (p->health)
		event_free(p->health);
	if (p->events)
		event_free(p->events);
	disconnect(p);
	free(p->prep);
	free(p->buf);
	free(p);
}

static const struct gwd_engine_ops dp_ops = {
	.name = "dataplane",
	.prepare = prepare,
	.commit = commit,
	.abort = abort_,
	.set_active = set_active,
	.set_active_for = set_active_for,
	.set_domains = set_domains,
	.set_domains_start = set_domains_start,
	.set_domains_finish = set_domains_finish,
	.counters = counters,
	.state = state,
	.free = free_,
};

int gwd_engine_dpdk_new(struct event_base *base, const char *path, struct gwd_flows *flows,
			struct gwd_engine **ret)
{
	struct dp_engine *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	int r = -ENAMETOOLONG;
	p->fd = -1;
	p->base.ops = &dp_ops;
	p->flows = flows;
	if (strlen(path) >= sizeof(p->path))
		goto fail;
	snprintf(p->path, sizeof(p->path), "%s", path);
	r = -ENOMEM;
	p->buf = malloc(DP_REPLY_MAX);
	p->health = event_new(base, -1, EV_PERSIST, on_health, p);
	p->events = event_new(base, -1, EV_PERSIST, on_events, p);
	if (!p->buf || !p->health || !p->events)
		goto fail;
	struct timeval th = { .tv_sec = HEALTH_MS / 1000, .tv_usec = (HEALTH_MS % 1000) * 1000 };
	struct timeval te = { .tv_sec = 0, .tv_usec = EVENTS_MS * 1000 };
	if (event_add(p->health, &th) < 0 || event_add(p->events, &te) < 0)
		goto fail;
	snprintf(p->state, sizeof(p->state), "degraded: no generation pushed yet");
	char err[256];
	struct health h;
	if (health(p, &h, err, sizeof(err)) == 0) {
		p->dp_gen = h.generation;
		p->dp_uptime_ms = h.uptime_ms;
		set_state(p, "ok");
	}
	*ret = &p->base;
	return 0;
fail:
	free_(&p->base);
	return r;
}
