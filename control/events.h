/* SPDX-License-Identifier: MIT */
/*
 * gwd's live events (docs/api.md, "events.subscribe"; the names in
 * gwd_api.h).  gwd's duties tell the hub what happened; the hub writes the
 * line once, numbered, and hands it to its sink (the API socket, api.c),
 * which queues it on each subscriber that wants that type.  The hub never
 * waits for anyone: what a subscriber cannot take is its sink's to drop
 * and count.  Building an event costs something (names looked up, JSON
 * written), so a duty asks gwd_events_wants() first.
 *
 * No I/O, no clock: the caller gives the time.
 */
#ifndef GW_CONTROL_EVENTS_H
#define GW_CONTROL_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gwd_api.h"

struct gwd_events;

/* One event line, '\n' included, for every subscriber that wants type. */
typedef void (*gwd_events_sink)(enum gwd_api_event type, const char *line, size_t len,
				void *arg);

int gwd_events_new(struct gwd_events **ret);
void gwd_events_free(struct gwd_events *h);
void gwd_events_set_sink(struct gwd_events *h, gwd_events_sink fn, void *arg);
/* The types some subscriber wants now (bit t: type t), kept current by
 * the sink as subscribers come and go. */
void gwd_events_set_wanted(struct gwd_events *h, uint32_t mask);
bool gwd_events_wants(const struct gwd_events *h, enum gwd_api_event type);
/* fields: an object (stolen; NULL for none).  The line is
 * {"event":NAME,"seq":N,"time_ms":T, ...fields}; nothing happens when no
 * subscriber wants type. */
void gwd_events_emit(struct gwd_events *h, enum gwd_api_event type, uint64_t time_ms,
		     json_t *fields);
/* Events emitted so far (the last seq). */
uint64_t gwd_events_seq(const struct gwd_events *h);

#endif
