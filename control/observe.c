/* SPDX-License-Identifier: MIT */
/* gwd's happenings as events and metric figures (observe.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "eval.h"
#include "flows_json.h"
#include "image.h"
#include "log.h"
#include "observe.h"

/* Rule names counted at most; past it the rest go to "(other)", so a
 * household that applies policy after policy with new names cannot grow
 * gwd without bound. */
#define MAX_RULE_NAMES 32768
#define OLD_IRS 4

const double gwd_apply_bounds[GWD_APPLY_BUCKETS] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, -1 /* +Inf */
};

struct rule_count {
	char *name; /* NULL: empty slot */
	uint64_t pkts, bytes, flows;
};

struct gwd_observe {
	struct gwd *d;
	struct gwd_events *events;
	struct event *tick;
	/* engine.state: what each engine said at the last tick */
	char state[GWD_MAX_ENGINES][300];
	/* rate.drop: each engine's rate_limit drops at the last tick */
	uint64_t rate_drops[GWD_MAX_ENGINES];
	bool have_rate[GWD_MAX_ENGINES];
	/* packets and bytes by rule name */
	struct rule_count *rules;
	size_t nrules, slots;
	struct rule_count other;
	/* images of older generations, to name their rules */
	struct {
		uint32_t gen;
		struct pol_ir *ir; /* NULL: not in the history */
	} old[OLD_IRS];
	unsigned nold, next_old;
	struct gwd_apply_hist applies;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The IR that names generation gen's rules: the current one, or an older
 * one from the history (kept for the next events). */
static const struct pol_ir *ir_of(uint32_t gen, void *arg)
{
	struct gwd_observe *o = arg;
	struct gwd *d = o->d;
	if (gen == d->st.generation)
		return d->ir;
	for (unsigned i = 0; i < o->nold; i++)
		if (o->old[i].gen == gen)
			return o->old[i].ir;
	json_t *e;
	void *img;
	size_t size;
	struct pol_ir *ir = NULL;
	char err[256];
	if (gwd_history_get(d->cfg.state_dir, gen, &e, &img, &size) == 0) {
		json_decref(e);
		if (pol_image_load(img, size, &ir, err, sizeof(err)) < 0)
			ir = NULL;
		free(img);
	}
	unsigned slot = o->nold < OLD_IRS ? o->nold++ : o->next_old++ % OLD_IRS;
	pol_ir_free(o->old[slot].ir);
	o->old[slot].gen = gen;
	o->old[slot].ir = ir;
	return ir;
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h;
}

static struct rule_count *rule_slot(struct gwd_observe *o, const char *name)
{
	if (o->nrules * 2 >= o->slots) {
		if (o->nrules >= MAX_RULE_NAMES)
			goto other;
		size_t slots = o->slots ? o->slots * 2 : 64;
		struct rule_count *v = calloc(slots, sizeof(*v));
		if (!v)
			goto other;
		for (size_t i = 0; i < o->slots; i++) {
			if (!o->rules[i].name)
				continue;
			size_t j = hash_name(o->rules[i].name) & (slots - 1);
			while (v[j].name)
				j = (j + 1) & (slots - 1);
			v[j] = o->rules[i];
		}
		free(o->rules);
		o->rules = v;
		o->slots = slots;
	}
	size_t j = hash_name(name) & (o->slots - 1);
	while (o->rules[j].name && strcmp(o->rules[j].name, name))
		j = (j + 1) & (o->slots - 1);
	if (!o->rules[j].name) {
		if (!(o->rules[j].name = strdup(name)))
			goto other;
		o->nrules++;
	}
	return &o->rules[j];
other:
	return &o->other;
}

static bool blocked(uint8_t action)
{
	return action == POL_BLOCK || action == POL_REJECT;
}

static const char *verdict(uint8_t action)
{
	static const char *const names[] = { "allow", "block", "reject" };
	return action < 3 ? names[action] : "?";
}

static json_t *flow_fields(struct gwd_observe *o, const struct gwd_flow_note *n)
{
	struct gwd *d = o->d;
	struct gwd_flow_info fi = { .last = *n->ev, .first_ms = n->first_ms };
	return gwd_flow_json(d->ir, d->st.generation, &fi, ir_of, o, gwd_peer_name, d,
			     n->ev->time_ms);
}

static void on_flow(const struct gwd_flow_note *n, void *arg)
{
	struct gwd_observe *o = arg;
	struct gwd *d = o->d;
	const struct gwd_flow_ev *ev = n->ev;
	uint64_t pkts = n->pkts[0] + n->pkts[1], bytes = n->bytes[0] + n->bytes[1];
	/* A flow counts for its rule when it starts or its rule changes (a
	 * blocked flow may bring no packet until it ends: the rule shows all
	 * the same); its growth counts for the rule that decided it now. */
	bool counts = (n->start || (n->decided && n->prev && n->prev->rule != ev->rule)) &&
		      !n->evicted;
	if (pkts || bytes || counts) {
		const char *rule = gwd_rule_name(ir_of(ev->generation, o), ev->rule);
		char idx[32];
		if (!rule) {
			snprintf(idx, sizeof(idx), "#%u", ev->rule);
			rule = idx;
		}
		struct rule_count *c = rule_slot(o, rule);
		c->pkts += pkts;
		c->bytes += bytes;
		c->flows += counts;
	}
	struct gwd_events *h = o->events;
	if (n->new_mac && gwd_events_wants(h, GWD_API_EV_DEVICE_NEW) &&
	    (!d->ir || pol_device_by_mac(d->ir, ev->mac) == POL_NONE)) {
		struct gwd_flow_info fi = { .last = *ev, .first_ms = n->first_ms };
		json_t *f = gwd_flow_json(NULL, 0, &fi, NULL, NULL, NULL, NULL, ev->time_ms);
		json_t *fields = json_pack("{s:O,s:O,s:O,s:O}", "mac", json_object_get(f, "mac"),
					   "addr", json_object_get(f, "src"), "engine",
					   json_object_get(f, "engine"), "generation",
					   json_object_get(f, "generation"));
		json_decref(f);
		gwd_events_emit(h, GWD_API_EV_DEVICE_NEW, ev->time_ms, fields);
	}
	if (n->start && !n->end) {
		enum gwd_api_event t = blocked(ev->action) ? GWD_API_EV_FLOW_BLOCKED
							   : GWD_API_EV_FLOW_START;
		if (gwd_events_wants(h, t))
			gwd_events_emit(h, t, ev->time_ms, flow_fields(o, n));
	} else if (n->decided && !n->end && n->prev &&
		   gwd_events_wants(h, GWD_API_EV_FLOW_DECIDED)) {
		/* A new generation decides every live flow again: only a
		 * change of verdict or of the deciding rule's name is news. */
		const char *was = gwd_rule_name(ir_of(n->prev->generation, o), n->prev->rule);
		const char *now = gwd_rule_name(ir_of(ev->generation, o), ev->rule);
		bool same_rule = was && now ? !strcmp(was, now) : n->prev->rule == ev->rule;
		if (n->prev->action != ev->action || !same_rule) {
			json_t *fields = flow_fields(o, n);
			json_object_set_new(fields, "previous",
					    json_pack("{s:s,s:o,s:I}", "verdict",
						      verdict(n->prev->action), "rule",
						      was ? json_string(was) : json_null(),
						      "generation",
						      (json_int_t)n->prev->generation));
			gwd_events_emit(h, GWD_API_EV_FLOW_DECIDED, ev->time_ms, fields);
		}
	}
	if (n->end && gwd_events_wants(h, GWD_API_EV_FLOW_END)) {
		json_t *fields = flow_fields(o, n);
		json_object_set_new(fields, "reason", json_string(n->evicted ? "evicted" : "ended"));
		gwd_events_emit(h, GWD_API_EV_FLOW_END, n->evicted ? now_ms() : ev->time_ms,
				fields);
	}
}

struct rate_sum {
	uint64_t drops;
	bool any;
};

static void add_rate(const char *kind, const char *where, const char *name, uint64_t v,
		     void *arg)
{
	struct rate_sum *s = arg;
	if (!strcmp(kind, "drop") && !strcmp(name, "rate_limit")) {
		s->drops += v;
		s->any = true;
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct gwd_observe *o = arg;
	struct gwd *d = o->d;
	uint64_t t = now_ms();
	bool want_rate = gwd_events_wants(o->events, GWD_API_EV_RATE_DROP);
	for (size_t i = 0; i < d->nengines && i < GWD_MAX_ENGINES; i++) {
		struct gwd_engine *e = d->engines[i];
		const char *s = e->ops->state(e);
		if (strcmp(s, o->state[i])) {
			gwd_events_emit(o->events, GWD_API_EV_ENGINE_STATE, t,
					json_pack("{s:s,s:s,s:s,s:I}", "engine", e->ops->name,
						  "state", s, "was", o->state[i], "generation",
						  (json_int_t)e->generation));
			snprintf(o->state[i], sizeof(o->state[i]), "%s", s);
		}
		if (!e->ops->counters)
			continue;
		if (!want_rate) {
			/* Nobody listens: the next subscriber starts from then. */
			o->have_rate[i] = false;
			continue;
		}
		struct rate_sum sum = { 0 };
		char err[256];
		if (e->ops->counters(e, add_rate, &sum, err, sizeof(err)) < 0 || !sum.any)
			continue;
		if (o->have_rate[i] && sum.drops > o->rate_drops[i])
			gwd_events_emit(o->events, GWD_API_EV_RATE_DROP, t,
					json_pack("{s:s,s:I,s:I}", "engine", e->ops->name,
						  "packets", (json_int_t)(sum.drops - o->rate_drops[i]),
						  "total", (json_int_t)sum.drops));
		o->rate_drops[i] = sum.drops;
		o->have_rate[i] = true;
	}
}

int gwd_observe_new(struct gwd *d, struct gwd_observe **ret)
{
	struct gwd_observe *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->d = d;
	int r = gwd_events_new(&o->events);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	o->tick = event_new(d->base, -1, EV_PERSIST, on_tick, o);
	struct timeval tv = { .tv_sec = 1 };
	if (!o->tick || event_add(o->tick, &tv) < 0)
		goto fail;
	/* The engines' states at start are not changes. */
	for (size_t i = 0; i < d->nengines && i < GWD_MAX_ENGINES; i++)
		snprintf(o->state[i], sizeof(o->state[i]), "%s",
			 d->engines[i]->ops->state(d->engines[i]));
	gwd_flows_watch(d->flows, on_flow, o);
	*ret = o;
	return 0;
fail:
	gwd_observe_free(o);
	return r;
}

void gwd_observe_free(struct gwd_observe *o)
{
	if (!o)
		return;
	if (o->d && o->d->flows)
		gwd_flows_watch(o->d->flows, NULL, NULL);
	if (o->tick)
		event_free(o->tick);
	for (size_t i = 0; i < o->slots; i++)
		free(o->rules[i].name);
	free(o->rules);
	for (unsigned i = 0; i < o->nold; i++)
		pol_ir_free(o->old[i].ir);
	gwd_events_free(o->events);
	free(o);
}

struct gwd_events *gwd_observe_events(struct gwd_observe *o)
{
	return o ? o->events : NULL;
}

void gwd_observe_policy(struct gwd_observe *o, enum gwd_api_event type, json_t *fields)
{
	if (!o) {
		json_decref(fields);
		return;
	}
	gwd_events_emit(o->events, type, now_ms(), fields);
}

void gwd_observe_apply_ms(struct gwd_observe *o, double ms)
{
	if (!o)
		return;
	double s = ms / 1000;
	for (int i = 0; i < GWD_APPLY_BUCKETS; i++)
		if (gwd_apply_bounds[i] < 0 || s <= gwd_apply_bounds[i])
			o->applies.le[i]++;
	o->applies.sum_s += s;
	o->applies.count++;
}

void gwd_observe_rules(const struct gwd_observe *o, gwd_rule_count_fn fn, void *arg)
{
	for (size_t i = 0; i < o->slots; i++)
		if (o->rules[i].name)
			fn(o->rules[i].name, o->rules[i].flows, o->rules[i].pkts, o->rules[i].bytes, arg);
	if (o->other.pkts || o->other.bytes || o->other.flows)
		fn("(other)", o->other.flows, o->other.pkts, o->other.bytes, arg);
}

void gwd_observe_applies(const struct gwd_observe *o, struct gwd_apply_hist *ret)
{
	*ret = o->applies;
}
