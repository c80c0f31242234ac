/* SPDX-License-Identifier: MIT */
/* The event hub (events.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

struct gwd_events {
	gwd_events_sink sink;
	void *arg;
	uint32_t wanted;
	uint64_t seq;
};

int gwd_events_new(struct gwd_events **ret)
{
	struct gwd_events *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*ret = h;
	return 0;
}

void gwd_events_free(struct gwd_events *h)
{
	free(h);
}

void gwd_events_set_sink(struct gwd_events *h, gwd_events_sink fn, void *arg)
{
	h->sink = fn;
	h->arg = arg;
}

void gwd_events_set_wanted(struct gwd_events *h, uint32_t mask)
{
	h->wanted = mask;
}

bool gwd_events_wants(const struct gwd_events *h, enum gwd_api_event type)
{
	return h && h->sink && type < GWD_API_EV_COUNT && (h->wanted >> type & 1);
}

void gwd_events_emit(struct gwd_events *h, enum gwd_api_event type, uint64_t time_ms,
		     json_t *fields)
{
	if (!gwd_events_wants(h, type)) {
		json_decref(fields);
		return;
	}
	/* Numbered first: an event lost for want of memory leaves a gap. */
	h->seq++;
	json_t *o = json_pack("{s:s,s:I,s:I}", "event", gwd_api_event_name(type), "seq",
			      (json_int_t)h->seq, "time_ms", (json_int_t)time_ms);
	if (o && fields)
		json_object_update_missing(o, fields);
	json_decref(fields);
	char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (!s)
		return; /* without memory: lost for everyone */
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	h->sink(type, line, n + 1, h->arg);
	free(line);
}

uint64_t gwd_events_seq(const struct gwd_events *h)
{
	return h->seq;
}
