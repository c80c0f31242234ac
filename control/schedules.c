/* SPDX-License-Identifier: MIT */
/*
 * Schedules (daemon_int.h): the current generation's active-rule mask,
 * computed in the policy's time zone at the start of every minute and
 * pushed to every engine when it changed.  Touches d->mask and the
 * engines' set_active; generations.c sets d->ir and the first mask.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "eval.h"
#include "image.h"
#include "log.h"

uint64_t *gwd_sched_mask_now(const struct pol_ir *ir)
{
	struct pol_when when;
	uint64_t *m = calloc(ir->nrules / 64 + 1, sizeof(uint64_t));
	if (!m)
		return NULL;
	/* pol_when_at fails only on a zone the image loader already refused;
	 * then every rule stays on rather than none. */
	if (pol_when_at(ir, time(NULL), &when) < 0)
		memset(m, 0xff, (ir->nrules + 63) / 64 * sizeof(uint64_t));
	else
		pol_active_rules(ir, when, m);
	return m;
}

unsigned gwd_sched_popcount(const uint64_t *m, uint32_t nrules)
{
	unsigned n = 0;
	for (uint32_t w = 0; w < (nrules + 63) / 64; w++)
		n += (unsigned)__builtin_popcountll(m[w]);
	return n;
}

/* Schedules are minute-exact: the mask is computed at the start of
 * every minute (which also follows DST and clock steps) and pushed to
 * every engine when it differs from the one in force. */
void gwd_sched_arm(struct gwd *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long ms = 60000 - (long)(ts.tv_sec % 60) * 1000 - ts.tv_nsec / 1000000 + 20;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(d->sched_timer, &tv);
}

void gwd_sched_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwd *d = arg;
	gwd_sched_arm(d);
	if (!d->ir || !d->mask)
		return;
	uint64_t *m = gwd_sched_mask_now(d->ir);
	uint32_t nrules = d->ir->nrules;
	if (!m || !memcmp(m, d->mask, (nrules + 63) / 64 * sizeof(uint64_t))) {
		free(m);
		return;
	}
	free(d->mask);
	d->mask = m;
	gwd_log("schedule", "gen=%u active=%u rules=%u", d->st.generation,
		gwd_sched_popcount(m, nrules), nrules);
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		char err[256], q[300];
		if (!e->ops->set_active || e->generation != d->st.generation)
			continue;
		if (e->ops->set_active(e, m, nrules, err, sizeof(err)) < 0)
			gwd_log("schedule_push_failed", "engine=%s gen=%u reason=%s", e->ops->name,
				d->st.generation, gwd_log_value(q, sizeof(q), err));
	}
}
