/* SPDX-License-Identifier: MIT */
/*
 * The API socket and its connections (api.h).  Lines are cut here, checked
 * by api_msg.c, run by daemon.c (gwd_run and the duties it calls).  A line
 * over GWD_API_MAX_LINE is refused and the connection closed once the
 * refusal is sent; anything else that is wrong gets an error reply and the
 * connection stays usable.
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
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "api.h"
#include "log.h"

struct conn {
	struct gwd_api *api;
	struct bufferevent *bev;
	struct gwd_peer peer;
	bool closing; /* close once the output is sent */
	struct conn *next;
};

struct gwd_api {
	struct gwd *d;
	struct evconnlistener *listener;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conns;
	unsigned nconns;
	bool have_group;
	gid_t gw_gid;
};

static void conn_free(struct conn *c)
{
	struct conn **p = &c->api->conns;
	while (*p && *p != c)
		p = &(*p)->next;
	if (*p)
		*p = c->next;
	c->api->nconns--;
	bufferevent_free(c->bev);
	free(c);
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

static void send_line(struct conn *c, char *line)
{
	if (!line) {
		/* Out of memory for the reply: the client sees the connection
		 * end rather than a reply that is not one. */
		c->closing = true;
		return;
	}
	bufferevent_write(c->bev, line, strlen(line));
	free(line);
}

static void handle(struct conn *c, const char *line, size_t len)
{
	struct gwd_api_req req;
	struct gwd_api_err perr;
	char q[300];
	if (gwd_api_parse(line, len, &req, &perr) < 0) {
		gwd_log("request_refused", "uid=%u code=%s reason=%s", (unsigned)c->peer.uid,
			perr.code, gwd_log_value(q, sizeof(q), perr.message));
		send_line(c, gwd_api_reply_err(perr.have_id, perr.id, perr.code, perr.message,
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
		send_line(c, gwd_api_reply_err(true, req.id, "unauthorised", msg, NULL));
		gwd_api_req_free(&req);
		return;
	}
	struct gwd_result res;
	gwd_run(c->api->d, &req, &c->peer, &res);
	if (res.code) {
		gwd_log("request_failed", "uid=%u cmd=%s code=%s reason=%s", (unsigned)c->peer.uid,
			gwd_cmd_name(req.cmd), res.code,
			gwd_log_value(q, sizeof(q), res.message));
		json_t *diags = res.diagnostics;
		res.diagnostics = NULL;
		send_line(c, gwd_api_reply_err(true, req.id, res.code, res.message, diags));
	} else {
		if (gwd_cmd_changes(req.cmd) || req.dry_run)
			gwd_log("request", "uid=%u cmd=%s ok=1", (unsigned)c->peer.uid,
				gwd_cmd_name(req.cmd));
		json_t *fields = res.fields;
		res.fields = NULL;
		send_line(c, gwd_api_reply_ok(req.id, fields));
	}
	gwd_result_clear(&res);
	gwd_api_req_free(&req);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	while (!c->closing) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		size_t have = evbuffer_get_length(in);
		if (eol.pos < 0) {
			if (have > GWD_API_MAX_LINE)
				goto too_long;
			return;
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
	goto check_close;
too_long:
	gwd_log("request_refused", "uid=%u code=too_long bytes=%zu", (unsigned)c->peer.uid,
		evbuffer_get_length(in));
	{
		char msg[128];
		snprintf(msg, sizeof(msg), "a request line is at most %u bytes; closing",
			 GWD_API_MAX_LINE);
		send_line(c, gwd_api_reply_err(false, 0, "too_long", msg, NULL));
	}
	c->closing = true;
check_close:
	if (c->closing) {
		bufferevent_disable(bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	/* A client that shut down its side after its last request still
	 * gets the replies. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		c->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_free(c);
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
	if (a->nconns >= GWD_API_MAX_CONNS) {
		char *line = gwd_api_reply_err(false, 0, "busy", "too many connections", NULL);
		if (line && write(fd, line, strlen(line)) < 0)
			gwd_log("accept_refused", "uid=%u reason=busy", (unsigned)cred.uid);
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
	c->next = a->conns;
	a->conns = c;
	a->nconns++;
	/* Past the limit libevent stops reading, and on_read refuses the line. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, GWD_API_MAX_LINE + 2);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

int gwd_api_new(struct event_base *base, struct gwd *d, const char *path, struct gwd_api **ret,
		char *err, size_t errlen)
{
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
	int r, fd = -1;
	struct group *gr = getgrnam("gw");
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
	while (a->conns)
		conn_free(a->conns);
	if (a->listener)
		evconnlistener_free(a->listener);
	if (a->path[0])
		unlink(a->path);
	free(a);
}
