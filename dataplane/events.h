/* SPDX-License-Identifier: MIT */
/*
 * The flow event queue behind EVENTS (proto.h): workers put struct
 * dp_flow_event records (new, end, counters, log) into one bounded
 * multi-producer, single-consumer rte_ring; the control agent takes them
 * out in EVENTS replies.  A full ring drops the event and counts it, so a
 * worker never waits and never allocates.  Events are rare next to
 * packets: one at a flow's start and end, one per DP_EVENT_PERIOD_MS
 * window in which it is active, and one per decision of a rule with log.
 */
#ifndef GW_DATAPLANE_EVENTS_H
#define GW_DATAPLANE_EVENTS_H

#include <stdint.h>

#include "proto.h"

#define DP_EVENT_PERIOD_MS 2000
#define DP_EVENT_RING 16384 /* events the queue holds */

struct dp_events;

/* -ENOMEM, or rte_ring's -errno. */
int dp_events_new(const char *name, int socket, struct dp_events **ret);
void dp_events_free(struct dp_events *q);

/* Any lcore: queues a copy of ev, or counts it lost. */
void dp_events_put(struct dp_events *q, const struct dp_flow_event *ev);
/* The one consumer: up to max events, oldest first, and the events lost
 * since the previous call. */
unsigned dp_events_take(struct dp_events *q, struct dp_flow_event *out, unsigned max,
			uint32_t *ret_lost);

#endif
