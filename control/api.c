/* SPDX-License-Identifier: MIT */
/*
 * The API socket and its connections (api.h).  Lines are cut here, checked
 * by api_msg.c, run by daemon.c (gwd_submit and the duties it calls).  A
 * line over GWD_API_MAX_LINE is refused and the connection closed once the
 * refusal is sent; anything else that is wrong gets an error reply and the
 * connection stays usable.
 *
 * What one client may hold (docs/api.md, "Limits"):
 *  - connections: api_max_connections in all, the last GWD_API_ROOT_SLOTS
 *    of them for uid 0 only, and api_max_per_user for any other uid;
 *  - input: one request line (GWD_API_MAX_LINE); requests are read and run
 *    one at a time, in order, and only while the connection can take one;
 *  - output: every reply goes through conn_send().  Past OUT_HIGH bytes
 *    not yet read by the client, its further requests wait until it has
 *    read down to OUT_LOW (a reply is queued whole: at most OUT_HIGH plus
 *    one reply);
 *  - time: a connection with no request for api_idle_timeout seconds, or
 *    whose replies wait as long without a byte being read, is closed.  A
 *    client waiting for its reply (a long apply) is never idle.
 *
 * Live events (events.subscribe, docs/api.md): a connection that
 * subscribed gets each event its types want through conn_write() too,
 * unless GWD_API_EVENTS_QUEUE bytes already wait unread: then the event
 * is dropped and counted, and once the client has read down (on_write)
 * or before its next event, it gets {"event":"lost","count":N} first.
 * gwd never waits for a subscriber.  A subscriber sends no requests, so
 * its idle timeout is off; the stall timeout still closes one that
 * reads nothing for api_idle_timeout seconds while events wait.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "api.h"
#include "log.h"

#define OUT_HIGH (256u << 10)
#define OUT_LOW (64u << 10)

struct conn {
	struct gwd_api *api;
	struct bufferevent *bev;
	struct gwd_peer peer;
	bool closing;   /* close once the output is sent */
	bool paused;    /* output over OUT_HIGH: requests wait */
	bool busy;      /* a request runs; its reply is not queued yet */
	bool in_submit; /* inside gwd_submit: a reply now is not a later one */
	struct gwd_call *call; /* the running request, cancelled if the client goes */
	/* the running request's reply header */
	int64_t id;
	enum gwd_cmd cmd;
	bool dry_run;
	/* events.subscribe: the types it wants (0: not a subscriber), and the
	 * events dropped since the last one it was sent */
	uint32_t sub_types;
	uint64_t lost;
	struct conn *next;
};

struct gwd_api {
	struct gwd *d;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conns;
	unsigned nconns;
	unsigned max_conns, max_per_uid, root_slots;
	struct timeval idle, stall;
	bool have_group;
	gid_t gw_gid;
};

static void process(struct conn *c);
static void update_wanted(struct gwd_api *a);

static void conn_free(struct conn *c)
{
	bool sub = c->sub_types != 0;
	struct conn **p = &c->api->conns;
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	c->api->nconns--;
	gwd_call_cancel(c->call);
	bufferevent_free(c->bev);
	struct gwd_api *a = c->api;
	free(c);
	if (sub)
		update_wanted(a);
}

static bool member_of(const struct gwd_api *a, uid_t uid, gid_t gid)
{
	if (!a->have_group)
		return false;
	if (gid == a->gw_gid)
		return true;
	struct passwd *pw = getpwuid(uid);
	if (!pw)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == a->gw_gid)
			return true;
	return false;
}

static size_t out_len(const struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev));
}

/* Reading is on only while the connection can take a request: not while
 * one runs, not while its replies pile up, not once it is closing.  The
 * idle timeout runs only while reading is on. */
static void update_reading(struct conn *c)
{
	if (c->closing || c->paused || c->busy)
		bufferevent_disable(c->bev, EV_READ);
	else
		bufferevent_enable(c->bev, EV_READ);
}

/* The one output path: every line to a client goes through here. */
static void conn_write(struct conn *c, const char *line, size_t len)
{
	bufferevent_write(c->bev, line, len);
	if (!c->paused && out_len(c) > OUT_HIGH) {
		c->paused = true;
		gwd_log("api_paused", "uid=%u pid=%d unread_bytes=%zu", (unsigned)c->peer.uid,
			(int)c->peer.pid, out_len(c));
	}
}

/* A reply line (malloc'd, taken). */
static void conn_send(struct conn *c, char *line)
{
	if (!line) {
		/* Out of memory for the reply: the client sees the connection
		 * end rather than a reply that is not one. */
		c->closing = true;
		return;
	}
	conn_write(c, line, strlen(line));
	free(line);
}

/* ---- live events -------------------------------------------------------- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The notice of what c missed, when it fits: true if c owes none now. */
static bool tell_lost(struct conn *c)
{
	if (!c->lost)
		return true;
	char line[128];
	int n = snprintf(line, sizeof(line), "{\"event\":\"lost\",\"count\":%llu,\"time_ms\":%llu}\n",
			 (unsigned long long)c->lost, (unsigned long long)wall_ms());
	if (out_len(c) + (size_t)n > GWD_API_EVENTS_QUEUE)
		return false;
	conn_write(c, line, (size_t)n);
	c->lost = 0;
	return true;
}

/* The hub's sink (events.h): each subscriber that wants the type gets the
 * line, or counts it lost. */
static void publish(enum gwd_api_event type, const char *line, size_t len, void *arg)
{
	struct gwd_api *a = arg;
	for (struct conn *c = a->conns; c; c = c->next) {
		if (!(c->sub_types >> type & 1) || c->closing)
			continue;
		if (tell_lost(c) && out_len(c) + len <= GWD_API_EVENTS_QUEUE)
			conn_write(c, line, len);
		else
			c->lost++;
	}
}

static void update_wanted(struct gwd_api *a)
{
	uint32_t mask = 0;
	for (const struct conn *c = a->conns; c; c = c->next)
		mask |= c->sub_types;
	gwd_events_set_wanted(gwd_events(a->d), mask);
}

static void subscribe(struct conn *c, const struct gwd_api_req *req)
{
	json_t *types = json_array();
	for (unsigned t = 0; t < GWD_API_EV_COUNT; t++)
		if (req->types >> t & 1)
			json_array_append_new(types, json_string(gwd_api_event_name(t)));
	json_t *fields = json_pack("{s:o,s:I,s:I}", "types", types, "queue_bytes",
				   (json_int_t)GWD_API_EVENTS_QUEUE, "seq",
				   (json_int_t)gwd_events_seq(gwd_events(c->api->d)));
	conn_send(c, gwd_api_reply_ok(req->id, fields));
	if (!c->sub_types)
		gwd_log("events_subscribe", "uid=%u pid=%d types=%#x", (unsigned)c->peer.uid,
			(int)c->peer.pid, req->types);
	c->sub_types = req->types;
	/* It sends no more requests: only the stall timeout stays. */
	bufferevent_set_timeouts(c->bev, NULL, &c->api->stall);
	update_wanted(c->api);
}

/* Closes c now if it is closing and has nothing left to send; true if it did. */
static bool maybe_close(struct conn *c)
{
	if (!c->closing)
		return false;
	bufferevent_disable(c->bev, EV_READ);
	if (out_len(c) > 0)
		return false;
	conn_free(c);
	return true;
}

/* A request's result, during gwd_submit or later from the event loop. */
static void on_result(struct gwd_result *res, void *arg)
{
	struct conn *c = arg;
	char q[300];
	if (res->code) {
		gwd_log("request_failed", "uid=%u cmd=%s code=%s reason=%s", (unsigned)c->peer.uid,
			gwd_cmd_name(c->cmd), res->code, gwd_log_value(q, sizeof(q), res->message));
		json_t *diags = res->diagnostics;
		res->diagnostics = NULL;
		conn_send(c, gwd_api_reply_err(true, c->id, res->code, res->message, diags));
	} else {
		if (gwd_cmd_changes(c->cmd) || c->dry_run)
			gwd_log("request", "uid=%u cmd=%s ok=1", (unsigned)c->peer.uid,
				gwd_cmd_name(c->cmd));
		if (res->raw) {
			conn_send(c, gwd_api_reply_raw(c->id, res->raw, res->raw_len));
		} else {
			json_t *fields = res->fields;
			res->fields = NULL;
			conn_send(c, gwd_api_reply_ok(c->id, fields));
		}
	}
	c->busy = false;
	c->call = NULL;
	if (!c->in_submit)
		process(c); /* the requests that waited for this one */
}

static void handle(struct conn *c, const char *line, size_t len)
{
	struct gwd_api_req req;
	struct gwd_api_err perr;
	char q[300];
	if (gwd_api_parse(line, len, &req, &perr) < 0) {
		gwd_log("request_refused", "uid=%u code=%s reason=%s", (unsigned)c->peer.uid,
			perr.code, gwd_log_value(q, sizeof(q), perr.message));
		conn_send(c, gwd_api_reply_err(perr.have_id, perr.id, perr.code, perr.message,
					       NULL));
		return;
	}
	if (gwd_cmd_changes(req.cmd) && !c->peer.may_change) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "%s changes the gateway: only root or the gw group may (you are %s, "
			 "uid %u)", gwd_cmd_name(req.cmd), c->peer.user, (unsigned)c->peer.uid);
		gwd_log("request_refused", "uid=%u cmd=%s code=unauthorised", (unsigned)c->peer.uid,
			gwd_cmd_name(req.cmd));
		conn_send(c, gwd_api_reply_err(true, req.id, "unauthorised", msg, NULL));
		gwd_api_req_free(&req);
		return;
	}
	if (req.cmd == GWD_CMD_EVENTS_SUBSCRIBE) {
		subscribe(c, &req);
		gwd_api_req_free(&req);
		return;
	}
	c->id = req.id;
	c->cmd = req.cmd;
	c->dry_run = req.dry_run;
	c->busy = true;
	c->in_submit = true;
	gwd_submit(c->api->d, &req, &c->peer, on_result, c, &c->call);
	c->in_submit = false;
	gwd_api_req_free(&req);
}

/* Runs the complete request lines waiting in c's input, one at a time,
 * while c can take them.  May free c. */
static void process(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->closing && !c->paused && !c->busy) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		size_t have = evbuffer_get_length(in);
		if (eol.pos < 0) {
			if (have > GWD_API_MAX_LINE)
				goto too_long;
			break;
		}
		size_t n = (size_t)eol.pos;
		if (n > GWD_API_MAX_LINE)
			goto too_long;
		char *line = (char *)evbuffer_pullup(in, (ev_ssize_t)(n + 1));
		if (!line) {
			c->closing = true;
			break;
		}
		handle(c, line, n);
		evbuffer_drain(in, n + 1);
	}
	goto out;
too_long:
	gwd_log("request_refused", "uid=%u code=too_long bytes=%zu", (unsigned)c->peer.uid,
		evbuffer_get_length(in));
	{
		char msg[128];
		snprintf(msg, sizeof(msg), "a request line is at most %u bytes; closing",
			 GWD_API_MAX_LINE);
		conn_send(c, gwd_api_reply_err(false, 0, "too_long", msg, NULL));
	}
	c->closing = true;
out:
	if (!maybe_close(c))
		update_reading(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	process(arg);
}

/* The output went down to OUT_LOW (the write watermark) or to nothing. */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (maybe_close(c))
		return;
	if (c->lost && out_len(c) <= OUT_LOW)
		tell_lost(c);
	if (c->paused && out_len(c) <= OUT_LOW) {
		c->paused = false;
		process(c); /* lines the client sent meanwhile */
	}
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		bool writing = what & BEV_EVENT_WRITING;
		gwd_log("api_timeout", "uid=%u pid=%d reason=%s unread_bytes=%zu",
			(unsigned)c->peer.uid, (int)c->peer.pid, writing ? "stalled" : "idle",
			out_len(c));
		conn_free(c);
		return;
	}
	/* A client that shut down its side after its last request still
	 * gets the replies, those of requests still running included. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && (out_len(c) > 0 || c->busy)) {
		c->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
}

static unsigned conns_of(const struct gwd_api *a, uid_t uid)
{
	unsigned n = 0;
	for (const struct conn *c = a->conns; c; c = c->next)
		n += c->peer.uid == uid;
	return n;
}

/* NULL when uid may have one more connection, else why not. */
static const char *refusal(const struct gwd_api *a, uid_t uid, char *buf, size_t size)
{
	if (a->nconns >= a->max_conns) {
		snprintf(buf, size, "too many connections (%u)", a->nconns);
		return buf;
	}
	if (uid == 0)
		return NULL;
	if (a->nconns >= a->max_conns - a->root_slots) {
		snprintf(buf, size, "too many connections (%u; the last %u are kept for root)",
			 a->nconns, a->root_slots);
		return buf;
	}
	unsigned mine = conns_of(a, uid);
	if (mine >= a->max_per_uid) {
		snprintf(buf, size, "uid %u has %u connections, the most one user may have",
			 (unsigned)uid, mine);
		return buf;
	}
	return NULL;
}

/* The groups the client runs with: a policy file is read with them
 * (compiler.h).  With more than fit, the first ones; none when they
 * cannot be read: fewer rights, never more. */
static void peer_groups(int fd, struct gwd_peer *peer)
{
	socklen_t len = sizeof(peer->groups);
	peer->ngroups = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, peer->groups, &len) == 0) {
		peer->ngroups = len / sizeof(gid_t);
		return;
	}
	if (errno != ERANGE)
		return;
	/* len is now what they need; the kernel copied nothing. */
	gid_t *all = malloc(len);
	if (all && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, all, &len) == 0) {
		memcpy(peer->groups, all, sizeof(peer->groups));
		peer->ngroups = GWD_PEER_MAX_GROUPS;
	}
	free(all);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
		      int socklen, void *arg)
{
	struct gwd_api *a = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		gwd_log("accept_failed", "reason=%s", strerror(errno));
		close(fd);
		return;
	}
	char why[128];
	if (refusal(a, cred.uid, why, sizeof(why))) {
		char *line = gwd_api_reply_err(false, 0, "busy", why, NULL);
		char q[200];
		gwd_log("accept_refused", "uid=%u pid=%d reason=%s", (unsigned)cred.uid,
			(int)cred.pid, gwd_log_value(q, sizeof(q), why));
		/* The socket is non-blocking and new: a short line fits. */
		if (line && write(fd, line, strlen(line)) < 0)
			gwd_log("accept_refused_unsent", "uid=%u", (unsigned)cred.uid);
		free(line);
		close(fd);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(evconnlistener_get_base(l), fd,
					BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		free(c);
		close(fd);
		return;
	}
	c->api = a;
	c->peer.uid = cred.uid;
	c->peer.gid = cred.gid;
	c->peer.pid = cred.pid;
	struct passwd *pw = getpwuid(cred.uid);
	if (pw)
		snprintf(c->peer.user, sizeof(c->peer.user), "%s", pw->pw_name);
	else
		snprintf(c->peer.user, sizeof(c->peer.user), "%u", (unsigned)cred.uid);
	c->peer.may_change = cred.uid == 0 || member_of(a, cred.uid, cred.gid);
	peer_groups(fd, &c->peer);
	c->next = a->conns;
	a->conns = c;
	a->nconns++;
	/* Past the limit libevent stops reading, and process() refuses the line. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, GWD_API_MAX_LINE + 2);
	/* on_write runs when the output drains to OUT_LOW (back-pressure) and
	 * to nothing (closing). */
	bufferevent_setwatermark(c->bev, EV_WRITE, OUT_LOW, 0);
	bufferevent_set_timeouts(c->bev, &a->idle, &a->stall);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int gwd_api_new(struct event_base *base, struct gwd *d, const struct gwd_config *cfg,
		struct gwd_api **ret, char *err, size_t errlen)
{
	const char *path = cfg->socket;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: longer than %zu bytes", path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);
	struct gwd_api *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->d = d;
	a->max_conns = cfg->api_max_conns;
	a->max_per_uid = cfg->api_max_per_uid;
	/* Root keeps its slots, but a tiny limit still admits others. */
	a->root_slots = GWD_API_ROOT_SLOTS < a->max_conns / 2 ? GWD_API_ROOT_SLOTS
							      : a->max_conns / 2;
	a->idle.tv_sec = cfg->api_idle_s;
	a->stall.tv_sec = cfg->api_idle_s;
	int r, fd = -1;
	struct group *gr = getgrnam(cfg->api_group);
	if (gr) {
		a->have_group = true;
		a->gw_gid = gr->gr_gid;
	}
	/* The socket's folder (/run/gw) may not exist after a boot. */
	char dir[sizeof(sun.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			snprintf(err, errlen, "%s: %s", dir, strerror(errno));
			goto fail;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		r = -EADDRINUSE;
		snprintf(err, errlen, "%s: another gwd answers on it", path);
		goto fail;
	}
	close(fd);
	unlink(path); /* a stale socket of a gwd that died */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	/* Never a moment with wider permissions than 0660. */
	mode_t old = umask(0117);
	r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	snprintf(a->path, sizeof(a->path), "%s", path);
	if (chmod(path, 0660) < 0 || (a->have_group && chown(path, (uid_t)-1, a->gw_gid) < 0)) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	a->listener = evconnlistener_new(base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, 16, fd);
	if (!a->listener) {
		r = -EIO;
		snprintf(err, errlen, "%s: cannot listen", path);
		goto fail;
	}
	fd = -1;
	gwd_events_set_sink(gwd_events(d), publish, a);
	*ret = a;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	gwd_api_free(a);
	return r;
}

void gwd_api_free(struct gwd_api *a)
{
	if (!a)
		return;
	if (a->listener)
		gwd_events_set_sink(gwd_events(a->d), NULL, NULL);
	while (a->conns)
		conn_free(a->conns);
	if (a->listener)
		evconnlistener_free(a->listener);
	if (a->path[0])
		unlink(a->path);
	free(a);
}
