/* SPDX-License-Identifier: MIT */
/*
 * gwtop's side of gwd (libgwclient): one connection for requests, kept
 * open between ticks, and one subscribed to the events gwtop shows
 * (blocks).  Either may fail at any moment (gwd restarts): the call says
 * why in f->err, the connections are dropped, and the next tick connects
 * again.  Each request waits at most TOP_FETCH_TIMEOUT_MS, so a stuck gwd
 * cannot freeze the screen.
 */
#ifndef GW_TOOLS_GWTOP_FETCH_H
#define GW_TOOLS_GWTOP_FETCH_H

#include <jansson.h>
#include <stdbool.h>

#include "client.h"
#include "model.h"

#define TOP_FETCH_TIMEOUT_MS 3000

struct top_fetch {
	const char *sock;
	struct gwc_conn *req, *ev;
	bool up;            /* the last request was answered */
	bool want_events;   /* subscribe to blocks (interactive mode) */
	char err[512];      /* why the last request failed */
};

void top_fetch_init(struct top_fetch *f, const char *sock, bool want_events);
void top_fetch_close(struct top_fetch *f);
/* One request (stolen), its ok reply in *ret; -errno and f->err otherwise
 * (a refusal from gwd too). */
int top_fetch_call(struct top_fetch *f, json_t *req, json_t **ret);
/* The events that came, into m; subscribes first if need be.  The fd to
 * poll for more is top_fetch_fd (-1 when not subscribed). */
int top_fetch_events(struct top_fetch *f, struct top_model *m);
int top_fetch_fd(const struct top_fetch *f);

#endif
