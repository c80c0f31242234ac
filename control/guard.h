/* SPDX-License-Identifier: MIT */
/*
 * gwd's side of the guard (nft_guard.h): put in place at start, before
 * any engine (gwd refuses to run engines without it), checked every few
 * seconds and put back when something removed it (`nft flush ruleset`),
 * its drop counters for status.
 */
#ifndef GW_CONTROL_GUARD_H
#define GW_CONTROL_GUARD_H

#include <event2/event.h>
#include <jansson.h>

#include "config.h"

struct gwd_guard;

/* The guard of cfg, installed (an earlier one is replaced whole) and
 * checked: 0, or -errno with the reason in err (-EPERM: no CAP_NET_ADMIN).
 * base may be NULL: then nothing checks it later. */
int gwd_guard_new(struct event_base *base, const struct gwd_config *cfg, struct gwd_guard **ret,
		  char *err, size_t errlen);
void gwd_guard_free(struct gwd_guard *g);

/* Is it in place now (checked against the kernel)?  When not, it is put
 * back; false only when that failed too. */
bool gwd_guard_ensure(struct gwd_guard *g);

/* "ok" or "degraded: why". */
const char *gwd_guard_state(const struct gwd_guard *g);

/* {"table": "inet gw", "state": ..., "drops": {reason: packets, ...}}. */
json_t *gwd_guard_json(struct gwd_guard *g);

#endif
