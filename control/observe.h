/* SPDX-License-Identifier: MIT */
/*
 * What gwd sees, told: its live events (events.h, docs/api.md) and the
 * figures of its metrics (metrics.h, docs/metrics.md).
 *
 *  - Every flow event the collector counts (flows.h's watcher): flow.start
 *    or flow.blocked at a flow's start, flow.decided when a live flow's
 *    verdict or rule (by name) changes, flow.end when it leaves the table,
 *    device.new for a MAC no device of the running policy names; and the
 *    packets and bytes it brought, added to its rule's (by name).
 *  - The generations' duty tells it of each new generation, a confirm,
 *    and how long an apply took.
 *  - Once a second: each engine's state (engine.state when it changed),
 *    and, while someone subscribes to rate.drop, each engine's rate_limit
 *    drops (rate.drop when they grew).
 * Runs on gwd's loop; owns the event hub.
 */
#ifndef GW_CONTROL_OBSERVE_H
#define GW_CONTROL_OBSERVE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "events.h"

struct gwd;
struct gwd_observe;

int gwd_observe_new(struct gwd *d, struct gwd_observe **ret);
void gwd_observe_free(struct gwd_observe *o);
struct gwd_events *gwd_observe_events(struct gwd_observe *o);

/* A policy event (policy.applied, confirmed, rolled_back, reverted) with
 * its fields (stolen). */
void gwd_observe_policy(struct gwd_observe *o, enum gwd_api_event type, json_t *fields);
/* An apply (a new generation of any kind) took ms milliseconds. */
void gwd_observe_apply_ms(struct gwd_observe *o, double ms);

/* For the metrics: the flows each rule decided since gwd started (at
 * their start, or decided again by it) and their packets and bytes (both
 * directions), by rule name, in no order. */
typedef void (*gwd_rule_count_fn)(const char *rule, uint64_t flows, uint64_t packets,
				  uint64_t bytes, void *arg);
void gwd_observe_rules(const struct gwd_observe *o, gwd_rule_count_fn fn, void *arg);

/* The apply durations' histogram: counts of applies at or under each
 * bound (seconds, ascending; the last is +Inf), their sum and count. */
#define GWD_APPLY_BUCKETS 10
extern const double gwd_apply_bounds[GWD_APPLY_BUCKETS];
struct gwd_apply_hist {
	uint64_t le[GWD_APPLY_BUCKETS]; /* cumulative */
	double sum_s;
	uint64_t count;
};
void gwd_observe_applies(const struct gwd_observe *o, struct gwd_apply_hist *ret);

#endif
