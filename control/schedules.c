/* SPDX-License-Identifier: MIT */
/*
 * Schedules (daemon_int.h): the current generation's active-rule mask,
 * computed in the policy's time zone at the start of every minute, and
 * kept in force on every engine.
 *
 * gwd, not the engines, says which mask runs.  An engine starts a
 * generation (commit, resync) with its own clock's mask, which is gwd's
 * when the clock is believed; otherwise, and whenever gwd does not know
 * what an engine holds (adopted at start, after gwd was down, perhaps
 * across a schedule boundary), gwd pushes its mask.  gwd remembers per
 * engine the mask it last acknowledged, so an engine that missed a push
 * (it failed) gets it at the next minute at the latest.  An engine that can (the dataplane) takes the
 * mask with a lifetime of GWD_MASK_LIFETIME_S, renewed every minute: if
 * gwd stops renewing it (gwd is down), the engine goes back to computing
 * the schedules from its own clock instead of holding a mask that no
 * longer matches the time.  The eBPF classifier cannot compute schedules
 * in the kernel: its engine (engine_ebpf.c) hands it a timeline of the
 * next 24 hours' masks, from gwd's mask and the same computation, which
 * the kernel follows while gwd is down (docs/gwd.md).
 *
 * While the wall clock cannot be believed (clock.h: it reads a time
 * before this build, as a router without a battery-backed clock does
 * until NTP sets it), schedules wait: the mask is the restrictive one
 * (every scheduled block or reject rule on, every scheduled allow rule
 * off; rules without a schedule as always), and status says why.
 *
 * Touches d->mask, d->acked and the engines' set_active/set_active_for;
 * generations.c sets d->ir and calls gwd_sched_set_current.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "daemon_int.h"
#include "eval.h"
#include "image.h"
#include "log.h"

/* Safe while the clock cannot be believed: what a scheduled rule
 * forbids is forbidden, what it allows is not allowed (engine.h). */
void gwd_sched_restrictive(const struct pol_ir *ir, uint64_t *m)
{
	for (uint32_t r = 0; r < ir->nrules; r++) {
		const struct pol_rule *ru = &ir->rules[r];
		if (!(ru->flags & POL_RULE_DURING) || ru->action != POL_ALLOW)
			m[r / 64] |= 1ull << (r % 64);
	}
}

/* ir's mask at this moment, malloc'd ((nrules + 63) / 64 words, at least
 * one); d's clock state follows what was found. */
static uint64_t *mask_now(struct gwd *d, const struct pol_ir *ir)
{
	uint64_t *m = calloc(ir->nrules / 64 + 1, sizeof(uint64_t));
	if (!m)
		return NULL;
	time_t now = time(NULL);
	char why[sizeof(d->clock_wait)];
	bool ok = gwd_clock_synchronised(now, why, sizeof(why));
	if (ok != !d->clock_wait[0]) {
		char q[200];
		if (ok)
			gwd_log("clock_synchronised", "gen=%u", d->st.generation);
		else
			gwd_log("clock_unsynchronised", "gen=%u schedules=waiting reason=%s",
				d->st.generation, gwd_log_value(q, sizeof(q), why));
	}
	snprintf(d->clock_wait, sizeof(d->clock_wait), "%s", ok ? "" : why);
	struct pol_when when;
	if (!ok)
		gwd_sched_restrictive(ir, m);
	/* pol_when_at fails only on a zone the image loader already refused;
	 * then every rule stays on rather than none. */
	else if (pol_when_at(ir, now, &when) < 0)
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

/* What an acknowledgement is of: this generation's rules and this mask
 * (never 0, which stands for "nothing acknowledged"). */
static uint64_t mask_id(const struct gwd *d)
{
	uint64_t h = 1469598103934665603ull ^ d->st.generation;
	for (uint32_t w = 0; w < (d->ir->nrules + 63) / 64; w++)
		h = (h ^ d->mask[w]) * 1099511628211ull;
	return h ? h : 1;
}

static void save_acked(const struct gwd *d);

void gwd_sched_forget(struct gwd *d, const struct gwd_engine *e)
{
	for (size_t i = 0; i < d->nengines; i++)
		if (!e || d->engines[i] == e) {
			d->acked[i] = 0;
			d->pinned[i] = false;
		}
}

void gwd_sched_started(struct gwd *d, const struct gwd_engine *e)
{
	gwd_sched_forget(d, e);
	if (!d->ir || !d->mask || d->clock_wait[0])
		return;
	uint64_t id = mask_id(d);
	for (size_t i = 0; i < d->nengines; i++)
		if (!e || d->engines[i] == e)
			d->acked[i] = id;
	save_acked(d);
}

/* state_dir/schedule.json: {"generation":G,"acked":{"ENGINE":"ID",...}},
 * what each engine acknowledged, so a restarted gwd knows which engines
 * hold its mask already.  Not synced: a lost file only costs a push. */
static void acked_path(const struct gwd *d, char *buf, size_t n)
{
	snprintf(buf, n, "%s/schedule.json", d->cfg.state_dir);
}

static void save_acked(const struct gwd *d)
{
	json_t *o = json_pack("{s:I,s:{}}", "generation", (json_int_t)d->st.generation, "acked");
	json_t *a = o ? json_object_get(o, "acked") : NULL;
	for (size_t i = 0; a && i < d->nengines; i++)
		if (d->acked[i]) {
			char hex[17];
			snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)d->acked[i]);
			json_object_set_new(a, d->engines[i]->ops->name, json_string(hex));
		}
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	char p[GWD_PATH_MAX + 32], q[300];
	acked_path(d, p, sizeof(p));
	int r = text ? gwd_write_file(p, text, strlen(text), false) : -ENOMEM;
	if (r < 0)
		gwd_log("schedule_record_failed", "path=%s reason=%s", gwd_log_value(q, sizeof(q), p),
			strerror(-r));
	free(text);
	json_decref(o);
}

void gwd_sched_adopted(struct gwd *d)
{
	gwd_sched_forget(d, NULL);
	char p[GWD_PATH_MAX + 32], *text;
	size_t len;
	acked_path(d, p, sizeof(p));
	if (!d->ir || !d->mask || gwd_read_file(p, 1u << 16, &text, &len) < 0)
		return;
	json_t *o = json_loadb(text, len, 0, NULL);
	free(text);
	json_t *a = json_object_get(o, "acked");
	uint64_t id = mask_id(d);
	if (json_integer_value(json_object_get(o, "generation")) == d->st.generation &&
	    json_is_object(a))
		for (size_t i = 0; i < d->nengines; i++) {
			const char *hex = json_string_value(json_object_get(a,
								 d->engines[i]->ops->name));
			if (hex && strtoull(hex, NULL, 16) == id)
				d->acked[i] = id;
		}
	json_decref(o);
}

void gwd_sched_push(struct gwd *d, bool renew)
{
	if (!d->ir || !d->mask)
		return;
	uint64_t id = mask_id(d);
	bool changed = false;
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		char err[256], q[300];
		if (!e->ops->set_active || e->generation != d->st.generation)
			continue;
		bool lifetime = e->ops->set_active_for != NULL;
		/* A mask pinned with a lifetime is renewed every minute; the
		 * others go only where the engine has not acknowledged them. */
		if (d->acked[i] == id && !(renew && lifetime && d->pinned[i]))
			continue;
		int r = lifetime ? e->ops->set_active_for(e, d->mask, d->ir->nrules,
							  GWD_MASK_LIFETIME_S, err, sizeof(err))
				 : e->ops->set_active(e, d->mask, d->ir->nrules, err, sizeof(err));
		if (r < 0) {
			changed |= d->acked[i] != 0;
			d->acked[i] = 0;
			gwd_log("schedule_push_failed", "engine=%s gen=%u reason=%s", e->ops->name,
				d->st.generation, gwd_log_value(q, sizeof(q), err));
			continue;
		}
		if (d->acked[i] != id) {
			changed = true;
			gwd_log("schedule_pushed", "engine=%s gen=%u active=%u rules=%u",
				e->ops->name, d->st.generation,
				gwd_sched_popcount(d->mask, d->ir->nrules), d->ir->nrules);
		}
		d->acked[i] = id;
		d->pinned[i] = lifetime;
	}
	if (changed)
		save_acked(d);
}

void gwd_sched_set_current(struct gwd *d)
{
	free(d->mask);
	d->mask = d->ir ? mask_now(d, d->ir) : NULL;
}

const char *gwd_sched_state(const struct gwd *d)
{
	return d->clock_wait[0] ? d->clock_wait : NULL;
}

/* Schedules are minute-exact: the mask is computed at the start of
 * every minute (which also follows DST and clock steps). */
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
	uint64_t *m = mask_now(d, d->ir);
	uint32_t nrules = d->ir->nrules;
	if (m && memcmp(m, d->mask, (nrules + 63) / 64 * sizeof(uint64_t))) {
		free(d->mask);
		d->mask = m;
		gwd_log("schedule", "gen=%u active=%u rules=%u", d->st.generation,
			gwd_sched_popcount(m, nrules), nrules);
	} else {
		free(m);
	}
	gwd_sched_push(d, true);
}
