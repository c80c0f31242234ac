/* SPDX-License-Identifier: MIT */
/* gwtop's connections to gwd (fetch.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fetch.h"

void top_fetch_init(struct top_fetch *f, const char *sock, bool want_events)
{
	memset(f, 0, sizeof(*f));
	f->sock = sock;
	f->want_events = want_events;
}

static void drop(struct gwc_conn **c)
{
	gwc_close(*c);
	*c = NULL;
}

void top_fetch_close(struct top_fetch *f)
{
	drop(&f->req);
	drop(&f->ev);
}

static int open_conn(struct top_fetch *f, struct gwc_conn **ret)
{
	int r = gwc_connect(f->sock, ret, f->err, sizeof(f->err));
	if (r == 0)
		gwc_set_timeout(*ret, TOP_FETCH_TIMEOUT_MS);
	return r;
}

/* An error reply's words into f->err. */
static int refused(struct top_fetch *f, json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));
	snprintf(f->err, sizeof(f->err), "gwd refused: %s (%s)", msg ? msg : "?",
		 code ? code : "?");
	return -EPERM;
}

int top_fetch_call(struct top_fetch *f, json_t *req, json_t **ret)
{
	int r = 0;
	if (!f->req && (r = open_conn(f, &f->req)) < 0) {
		json_decref(req);
		goto fail;
	}
	int64_t id;
	json_t *reply = NULL;
	if ((r = gwc_send(f->req, req, &id, f->err, sizeof(f->err))) < 0 ||
	    (r = gwc_read(f->req, &reply, f->err, sizeof(f->err))) < 0)
		goto fail;
	if (json_integer_value(json_object_get(reply, "id")) != id) {
		json_decref(reply);
		snprintf(f->err, sizeof(f->err), "gwd answered another request");
		r = -EPROTO;
		goto fail;
	}
	f->up = true;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		r = refused(f, reply);
		json_decref(reply);
		return r;
	}
	*ret = reply;
	return 0;
fail:
	f->up = false;
	top_fetch_close(f);
	return r;
}

int top_fetch_fd(const struct top_fetch *f)
{
	return f->ev ? gwc_fd(f->ev) : -1;
}

int top_fetch_events(struct top_fetch *f, struct top_model *m)
{
	char err[256];
	int r;
	if (!f->want_events)
		return 0;
	if (!f->ev) {
		if (open_conn(f, &f->ev) < 0)
			return -ENOTCONN;
		json_t *req = json_pack("{s:s,s:[s,s]}", "cmd", "events.subscribe", "types",
					"flow.blocked", "flow.decided");
		json_t *reply = NULL;
		if (gwc_send(f->ev, req, NULL, err, sizeof(err)) < 0 ||
		    gwc_read(f->ev, &reply, err, sizeof(err)) < 0 ||
		    !json_is_true(json_object_get(reply, "ok"))) {
			/* An older gwd without events: the rest still works. */
			json_decref(reply);
			drop(&f->ev);
			return -EOPNOTSUPP;
		}
		json_decref(reply);
	}
	json_t *e;
	while ((r = gwc_read_ready(f->ev, &e, err, sizeof(err))) == 0) {
		top_model_event(m, e);
		json_decref(e);
	}
	if (r != -EAGAIN) {
		drop(&f->ev);
		return r;
	}
	return 0;
}
