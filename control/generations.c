/* SPDX-License-Identifier: MIT */
/*
 * Generations (daemon_int.h): apply, rollback, confirm and the revert
 * timer, adopt at start and an engine's resync.
 *
 * Every change makes a new generation number, never reuses one, and runs
 * the same transaction (install()):
 *   1. prepare the image on every engine; one refusal aborts all;
 *   2. record the history entry (image and text), durably;
 *   3. commit every engine; on a failure, give the flipped ones the
 *      previous image again and drop the entry;
 *   4. write state.json (generation, pending confirm).
 * So a crash before 4 leaves state.json naming the old generation, and the
 * start-up push makes every engine run it again.  Rollback and the
 * unconfirmed revert are new generations carrying an earlier one's text
 * and image: history only grows.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "compiler.h"
#include "daemon_int.h"
#include "image.h"
#include "log.h"
#include "policy.h"
#include "sha256.h"

/* Appends "name:ms" to a timing list, comma-separated: "file:0.2,dataplane:8.1". */
static void add_ms(char *buf, size_t size, const char *name, double ms)
{
	size_t n = strlen(buf);
	if (n < size)
		snprintf(buf + n, size - n, "%s%s:%.1f", n ? "," : "", name, ms);
}

/* The current generation became d->image: ir is that image loaded (taken
 * over), for schedules and names.  The engines started it with their own
 * clock's mask; gwd's goes to them right after where it differs
 * (gwd_sched_push). */
static void set_current(struct gwd *d, struct pol_ir *ir)
{
	pol_ir_free(d->ir);
	d->ir = ir;
	gwd_sched_set_current(d);
	/* gw-dns matches answers against this generation's domain lists. */
	gwd_dns_policy(d->dns, d->image, d->image_size, ir);
	/* Which MACs are declared devices, under which names. */
	gwd_registry_policy(d);
}

/* An image gwd is about to hand to engines, loaded as untrusted input (it
 * may come from disk), so a damaged history entry is refused.  This is
 * the one load of it: every engine's prepare and the schedules use *ret. */
static int load_image(const void *img, size_t size, struct pol_ir **ret, char *err,
		      size_t errlen)
{
	int r = pol_image_load(img, size, ret, err, errlen);
	if (r < 0 && r != -EINVAL)
		snprintf(err, errlen, "%s", strerror(-r));
	return r;
}

/* Engines [0, n) ran `image` before and committed something else: give it
 * back to them.  A failure here leaves that engine degraded; logged. */
static void restore_engines(struct gwd *d, size_t n)
{
	char err[256];
	for (size_t i = 0; i < n; i++) {
		struct gwd_engine *e = d->engines[i];
		if (!d->image)
			continue;
		if (e->ops->prepare(e, d->st.generation, d->image, d->image_size, d->ir, err,
				    sizeof(err)) < 0 ||
		    e->ops->commit(e, err, sizeof(err)) < 0) {
			char q[300];
			gwd_log("engine_restore_failed", "engine=%s gen=%u reason=%s", e->ops->name,
				d->st.generation, gwd_log_value(q, sizeof(q), err));
		}
		gwd_sched_started(d, e);
	}
	gwd_sched_push(d, false);
}

struct install {
	const void *image;
	size_t size;
	const char *text;
	const char *source;
	const char *user;
	uint32_t uid;
	const char *message;
	uint32_t restores;
	enum gwd_api_event event; /* restores: rolled_back or reverted */
	uint32_t confirm_seconds;
	bool dry_run;
	double compile_ms;       /* gwd_gen_apply's compile, for the log line */
	double text_ms;          /* and its printing of the text and image */
	struct timespec t0;      /* when the request began (zero: install's start) */
};

static void arm_timer(struct gwd *d);

/* The transaction of the header comment.  On success res->fields gets
 * generation and hash. */
static void install(struct gwd *d, const struct install *in, struct gwd_result *res)
{
	char err[256], q1[300], q2[300];
	char hash[72];
	void *copy = NULL;
	struct pol_ir *nir = NULL;
	uint32_t gen = d->max_gen + 1;
	/* Where the time goes, for the apply line: ms=total, then each step. */
	struct timespec t0, step;
	char prep_ms[128] = "", commit_ms[128] = "";
	double check_ms, record_ms;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	step = t0;
	if (load_image(in->image, in->size, &nir, err, sizeof(err)) < 0) {
		gwd_fail(res, "internal", "the image does not load: %s", err);
		return;
	}
	gwd_sha256_hex(in->image, in->size, hash);
	check_ms = gwd_ms_since(&step);
	size_t prepared = 0;
	for (; prepared < d->nengines; prepared++) {
		struct gwd_engine *e = d->engines[prepared];
		clock_gettime(CLOCK_MONOTONIC, &step);
		if (e->ops->prepare(e, gen, in->image, in->size, nir, err, sizeof(err)) < 0) {
			gwd_fail(res, "engine_refused", "engine %s refused generation %u: %s",
				 e->ops->name, gen, err);
			goto abort;
		}
		add_ms(prep_ms, sizeof(prep_ms), e->ops->name, gwd_ms_since(&step));
	}
	for (size_t i = 0; i < d->nengines && gwd_domains_count(d->domains); i++)
		gwd_learn_push(d, d->engines[i], nir, true);
	if (in->dry_run) {
		res->fields = json_pack("{s:I,s:s,s:b}", "generation", (json_int_t)gen, "hash",
					hash, "dry_run", 1);
		goto abort;
	}
	/* gwd's own copy, taken before anything flips: a later flip-back
	 * needs the image that is in force. */
	copy = malloc(in->size);
	if (!copy) {
		gwd_fail(res, "internal", "out of memory");
		goto abort;
	}
	memcpy(copy, in->image, in->size);
	clock_gettime(CLOCK_MONOTONIC, &step);
	struct gwd_record rec = {
		.generation = gen, .time = time(NULL), .user = in->user, .uid = in->uid,
		.message = in->message, .hash = hash, .restores = in->restores,
		.source = in->source, .text = in->text,
	};
	int r = gwd_history_add(d->cfg.state_dir, &rec, in->image, in->size);
	if (r < 0) {
		gwd_fail(res, "internal", "cannot record generation %u under %s: %s", gen,
			 d->cfg.state_dir, strerror(-r));
		gwd_history_remove(d->cfg.state_dir, gen);
		goto abort;
	}
	d->max_gen = gen;
	record_ms = gwd_ms_since(&step);
	size_t committed = 0;
	for (; committed < d->nengines; committed++) {
		struct gwd_engine *e = d->engines[committed];
		clock_gettime(CLOCK_MONOTONIC, &step);
		if (e->ops->commit(e, err, sizeof(err)) < 0) {
			gwd_fail(res, "engine_failed",
				 "engine %s failed to flip to generation %u: %s", e->ops->name, gen,
				 err);
			for (size_t i = committed + 1; i < d->nengines; i++)
				d->engines[i]->ops->abort(d->engines[i]);
			restore_engines(d, committed);
			gwd_history_remove(d->cfg.state_dir, gen);
			free(copy);
			pol_ir_free(nir);
			return;
		}
		add_ms(commit_ms, sizeof(commit_ms), e->ops->name, gwd_ms_since(&step));
	}
	clock_gettime(CLOCK_MONOTONIC, &step);
	struct gwd_state st = d->st;
	uint32_t prev = st.generation;
	st.generation = gen;
	st.pending = in->confirm_seconds > 0;
	st.pending_gen = st.pending ? gen : 0;
	st.pending_prev = st.pending ? prev : 0;
	st.deadline = st.pending ? (int64_t)time(NULL) + in->confirm_seconds : 0;
	/* The deadline that counts: on the monotonic clock, of this boot. */
	st.deadline_mono_ms = st.pending ? gwd_clock_mono_ms() + in->confirm_seconds * 1000ull : 0;
	st.boot_id[0] = '\0';
	if (st.pending && gwd_clock_boot_id(st.boot_id) < 0)
		st.boot_id[0] = '\0'; /* no /proc: the wall clock, as before */
	r = gwd_state_save(d->cfg.state_dir, &st);
	if (r < 0) {
		gwd_fail(res, "internal", "cannot write %s/state.json: %s", d->cfg.state_dir,
			 strerror(-r));
		restore_engines(d, d->nengines);
		gwd_history_remove(d->cfg.state_dir, gen);
		free(copy);
		pol_ir_free(nir);
		return;
	}
	free(d->image);
	d->image = copy;
	d->image_size = in->size;
	d->st = st;
	memcpy(d->hash, hash, sizeof(hash));
	set_current(d, nir);
	gwd_sched_started(d, NULL);
	if (d->degraded[0]) {
		gwd_log("recovered", "gen=%u", gen);
		d->degraded[0] = '\0';
	}
	/* Engines whose domain table outlives a generation get the new set
	 * numbers now (the others staged theirs). */
	for (size_t i = 0; i < d->nengines && gwd_domains_count(d->domains); i++)
		if (!d->engines[i]->ops->stage_domains)
			gwd_learn_push(d, d->engines[i], d->ir, false);
	gwd_sched_push(d, false);
	arm_timer(d);
	double after_ms = gwd_ms_since(&step);
	double total_ms = gwd_ms_since(in->t0.tv_sec || in->t0.tv_nsec ? &in->t0 : &t0);
	gwd_log("apply", "gen=%u prev=%u user=%s restores=%u confirm=%u hash=%s msg=%s ms=%.1f "
		"compile_ms=%.1f text_ms=%.1f check_ms=%.1f prepare_ms=%s record_ms=%.1f "
		"commit_ms=%s finish_ms=%.1f", gen, prev, gwd_log_value(q1, sizeof(q1), in->user),
		in->restores, in->confirm_seconds, hash,
		gwd_log_value(q2, sizeof(q2), in->message ? in->message : ""), total_ms,
		in->compile_ms, in->text_ms, check_ms, prep_ms[0] ? prep_ms : "-", record_ms,
		commit_ms[0] ? commit_ms : "-", after_ms);
	gwd_observe_apply_ms(d->obs, total_ms);
	json_t *ev = json_pack("{s:I,s:I,s:s,s:s,s:o}", "generation", (json_int_t)gen, "previous",
			       (json_int_t)prev, "hash", hash, "user", in->user, "message",
			       in->message ? json_string(in->message) : json_null());
	if (ev && in->restores)
		json_object_set_new(ev, "restores", json_integer(in->restores));
	if (ev && st.pending)
		json_object_set_new(ev, "confirm_deadline", json_integer(st.deadline));
	gwd_observe_policy(d->obs, in->restores ? in->event : GWD_API_EV_POLICY_APPLIED, ev);
	res->fields = json_pack("{s:I,s:I,s:s,s:b}", "generation", (json_int_t)gen, "previous",
				(json_int_t)prev, "hash", hash, "dry_run", 0);
	if (res->fields && in->restores)
		json_object_set_new(res->fields, "restores", json_integer(in->restores));
	if (st.pending)
		json_object_set_new(res->fields, "confirm_deadline", json_integer(st.deadline));
	return;
abort:
	free(copy);
	pol_ir_free(nir);
	for (size_t i = 0; i < prepared; i++)
		d->engines[i]->ops->abort(d->engines[i]);
}

/* A new generation with generation `from`'s image and text. */
static void restore(struct gwd *d, uint32_t from, const char *user, uint32_t uid,
		    const char *message, enum gwd_api_event event, struct gwd_result *res)
{
	json_t *entry;
	void *img;
	size_t size;
	int r = gwd_history_get(d->cfg.state_dir, from, &entry, &img, &size);
	if (r == -ENOENT) {
		gwd_fail(res, "no_such_generation", "there is no generation %u in the history",
			 from);
		return;
	}
	if (r == -EBADMSG) {
		gwd_fail(res, "damaged", "generation %u of the history is damaged: its record does "
			 "not parse, or its image is missing or differs from its recorded hash", from);
		return;
	}
	if (r < 0) {
		gwd_fail(res, "internal", "generation %u of the history does not read: %s", from,
			 strerror(-r));
		return;
	}
	json_t *src = json_object_get(entry, "source");
	struct install in = {
		.image = img, .size = size,
		.text = json_string_value(json_object_get(entry, "text")),
		.source = json_is_string(src) ? json_string_value(src) : NULL,
		.user = user, .uid = uid, .message = message, .restores = from, .event = event,
	};
	install(d, &in, res);
	json_decref(entry);
	free(img);
}

static void revert_unconfirmed(struct gwd *d, const char *why)
{
	struct gwd_result res = { 0 };
	char msg[128];
	uint32_t pending = d->st.pending_gen, prev = d->st.pending_prev;
	snprintf(msg, sizeof(msg), "revert: generation %u was not confirmed %s", pending, why);
	restore(d, prev, "gwd", (uint32_t)getuid(), msg, GWD_API_EV_POLICY_REVERTED, &res);
	if (res.code) {
		char q[600];
		/* Keep the pending state: the next start tries again. */
		gwd_log("revert_failed", "gen=%u to=%u code=%s reason=%s", pending, prev, res.code,
			gwd_log_value(q, sizeof(q), res.message));
	} else {
		gwd_log("revert", "gen=%u to=%u new_gen=%u", pending, prev, d->st.generation);
	}
	gwd_result_clear(&res);
}

void gwd_gen_confirm_expired(evutil_socket_t fd, short what, void *arg)
{
	struct gwd *d = arg;
	if (d->st.pending)
		revert_unconfirmed(d, "in time");
}

int64_t gwd_gen_confirm_left_ms(const struct gwd *d)
{
	if (!d->st.boot_id[0]) /* a state.json of an older gwd */
		return (d->st.deadline - (int64_t)time(NULL)) * 1000;
	char boot[GWD_BOOT_ID_LEN + 1];
	if (gwd_clock_boot_id(boot) < 0 || strcmp(boot, d->st.boot_id))
		return INT64_MIN;
	return (int64_t)d->st.deadline_mono_ms - (int64_t)gwd_clock_mono_ms();
}

static void arm_timer(struct gwd *d)
{
	evtimer_del(d->confirm_timer);
	if (!d->st.pending)
		return;
	int64_t left = gwd_gen_confirm_left_ms(d);
	if (left < 0)
		left = 0;
	struct timeval tv = { .tv_sec = left / 1000, .tv_usec = left % 1000 * 1000 };
	evtimer_add(d->confirm_timer, &tv);
}

/* The compile of policy.apply finished (compiler.h): its result goes
 * through the same transaction as every change, then to the caller. */
static void compiled(int r, struct gwd_compiled *c, const char *why, void *arg)
{
	struct gwd_call *call = arg;
	struct gwd *d = call->d;
	struct gwd_result res = { 0 };
	const char *name = call->path ? call->path : "policy.gw";
	call->job = NULL;
	if (r < 0) {
		gwd_fail(&res, r == -ETIMEDOUT ? "timeout" : "internal", "%s: %s; nothing changed",
			 name, why);
		goto out;
	}
	if (c->errors) {
		gwd_fail(&res, "policy_invalid", "%s: invalid: %u error%s; nothing changed", name,
			 c->errors, c->errors == 1 ? "" : "s");
		res.diagnostics = c->diagnostics;
		c->diagnostics = NULL;
		goto out;
	}
	/* The state may have moved while the policy compiled. */
	if (d->st.pending && !call->dry_run) {
		gwd_fail(&res, "pending",
			 "generation %u awaits confirmation: confirm it (gwctl policy confirm) or "
			 "roll back first", d->st.pending_gen);
		goto out;
	}
	struct install in = {
		.image = c->image, .size = c->image_size, .text = c->text ? c->text : "",
		.source = call->path, .user = call->peer.user, .uid = call->peer.uid,
		.message = call->message, .confirm_seconds = call->confirm_seconds,
		.dry_run = call->dry_run, .compile_ms = c->compile_ms, .text_ms = c->text_ms,
		.t0 = call->t0,
	};
	install(d, &in, &res);
	if (!res.code && c->warnings) {
		json_object_set_new(res.fields, "warnings", c->diagnostics);
		c->diagnostics = NULL;
	}
out:
	gwd_compiled_clear(c);
	gwd_call_finish(call, &res);
}

bool gwd_gen_apply_start(struct gwd_call *call, const struct gwd_api_req *req,
			 struct gwd_result *res)
{
	struct gwd *d = call->d;
	if (d->st.pending && !req->dry_run) {
		gwd_fail(res, "pending",
			 "generation %u awaits confirmation: confirm it (gwctl policy confirm) or "
			 "roll back first", d->st.pending_gen);
		return false;
	}
	if (req->confirm_seconds && !d->st.generation) {
		gwd_fail(res, "bad_argument",
			 "--confirm needs an earlier generation to return to; apply once without it");
		return false;
	}
	call->path = req->path ? strdup(req->path) : NULL;
	call->message = req->message ? strdup(req->message) : NULL;
	call->confirm_seconds = req->confirm_seconds;
	call->dry_run = req->dry_run;
	clock_gettime(CLOCK_MONOTONIC, &call->t0);
	if ((req->path && !call->path) || (req->message && !call->message)) {
		gwd_fail(res, "internal", "out of memory");
		return false;
	}
	/* The file and what it names are read with the client's rights, in a
	 * child (compiler.h); text from the socket may not name files. */
	struct gwd_compile_who who = {
		.uid = call->peer.uid, .gid = call->peer.gid, .groups = call->peer.groups,
		.ngroups = call->peer.ngroups,
	};
	int r = gwd_compile_start(d->compiler, req->path, req->text, req->text_len, &who,
				  d->cfg.compile_timeout_s, compiled, call, &call->job);
	if (r == -EBUSY) {
		gwd_fail(res, "busy", "%u policies are being compiled already; try again",
			 GWD_COMPILE_RUNNING);
		return false;
	}
	if (r < 0) {
		gwd_fail(res, "internal", "cannot start the compile: %s", strerror(-r));
		return false;
	}
	return true;
}

/* Generation g reads, matches its hash and loads. */
static bool restorable(struct gwd *d, uint32_t g)
{
	json_t *e;
	void *img;
	size_t size;
	struct pol_ir *ir;
	char err[256];
	if (gwd_history_get(d->cfg.state_dir, g, &e, &img, &size) < 0)
		return false;
	bool ok = pol_image_load(img, size, &ir, err, sizeof(err)) == 0;
	if (ok)
		pol_ir_free(ir);
	json_decref(e);
	free(img);
	return ok;
}

void gwd_gen_rollback(struct gwd *d, const struct gwd_api_req *req,
		      const struct gwd_peer *peer, struct gwd_result *res)
{
	uint32_t to = req->generation;
	if (!to) {
		/* The newest generation before the current one that can be
		 * restored (a damaged one is passed over). */
		json_t *list;
		uint32_t max;
		if (gwd_history_list(d->cfg.state_dir, &list, &max) < 0) {
			gwd_fail(res, "internal", "the history does not read");
			return;
		}
		uint32_t below = d->st.generation ? d->st.generation : UINT32_MAX;
		for (size_t i = json_array_size(list); i-- > 0 && !to;) {
			json_t *e = json_array_get(list, i);
			uint32_t g = (uint32_t)json_integer_value(json_object_get(e, "generation"));
			if (g < below && restorable(d, g))
				to = g;
		}
		json_decref(list);
		if (!to) {
			gwd_fail(res, "no_such_generation",
				 "there is no readable generation before %u", d->st.generation);
			return;
		}
	}
	char msg[64];
	snprintf(msg, sizeof(msg), "rollback to generation %u", to);
	bool was_pending = d->st.pending;
	restore(d, to, peer->user, peer->uid, msg, GWD_API_EV_POLICY_ROLLED_BACK, res);
	if (!res->code && was_pending)
		json_object_set_new(res->fields, "cancelled_pending", json_true());
}

void gwd_gen_confirm(struct gwd *d, const struct gwd_peer *peer, struct gwd_result *res)
{
	if (!d->st.pending) {
		gwd_fail(res, "nothing_pending", "no generation awaits confirmation");
		return;
	}
	struct gwd_state st = d->st;
	st.pending = false;
	st.pending_gen = st.pending_prev = 0;
	st.deadline = 0;
	st.deadline_mono_ms = 0;
	st.boot_id[0] = '\0';
	int r = gwd_state_save(d->cfg.state_dir, &st);
	if (r < 0) {
		gwd_fail(res, "internal", "cannot write state.json: %s", strerror(-r));
		return;
	}
	uint32_t gen = d->st.pending_gen;
	d->st = st;
	arm_timer(d);
	char q[100];
	gwd_log("confirm", "gen=%u user=%s", gen, gwd_log_value(q, sizeof(q), peer->user));
	gwd_observe_policy(d->obs, GWD_API_EV_POLICY_CONFIRMED,
			   json_pack("{s:I,s:s}", "generation", (json_int_t)gen, "user", peer->user));
	res->fields = json_pack("{s:I}", "generation", (json_int_t)gen);
}

/* An engine lost its state (a restarted dataplane): the current
 * generation, its mask and the learned names, again. */
void gwd_gen_resync(struct gwd_engine *e, void *arg)
{
	struct gwd *d = arg;
	char err[256], q[300];
	if (!d->image || !d->ir)
		return;
	if (e->ops->prepare(e, d->st.generation, d->image, d->image_size, d->ir, err,
			    sizeof(err)) < 0) {
		gwd_log("engine_resync_failed", "engine=%s gen=%u reason=%s", e->ops->name,
			d->st.generation, gwd_log_value(q, sizeof(q), err));
		return;
	}
	gwd_learn_push(d, e, d->ir, true);
	if (e->ops->commit(e, err, sizeof(err)) < 0) {
		gwd_log("engine_resync_failed", "engine=%s gen=%u reason=%s", e->ops->name,
			d->st.generation, gwd_log_value(q, sizeof(q), err));
		return;
	}
	gwd_sched_started(d, e);
	gwd_sched_push(d, false);
	if (!e->ops->stage_domains)
		gwd_learn_push(d, e, d->ir, false);
	gwd_log("engine_resync", "engine=%s gen=%u active=%u rules=%u domains=%zu", e->ops->name,
		d->st.generation, d->mask ? gwd_sched_popcount(d->mask, d->ir->nrules) : 0,
		d->ir->nrules, gwd_domains_count(d->domains));
}

void gwd_gen_degrade(struct gwd *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->degraded, sizeof(d->degraded), fmt, ap);
	va_end(ap);
	char q[400];
	gwd_log("degraded", "gen=%u reason=%s", d->st.generation,
		gwd_log_value(q, sizeof(q), d->degraded));
}

/* At start: make every engine run the current generation (an engine may
 * have missed a flip when gwd died between its steps).  A current
 * generation that cannot be taken up (its record or image is missing or
 * damaged) leaves gwd degraded, not stopped: the API comes up so that a
 * rollback or an apply can mend it, and no engine is touched meanwhile. */
int gwd_gen_adopt(struct gwd *d, char *err, size_t errlen)
{
	if (!d->st.generation)
		return 0;
	json_t *entry;
	int r = gwd_history_get(d->cfg.state_dir, d->st.generation, &entry, &d->image,
				&d->image_size);
	if (r < 0) {
		gwd_gen_degrade(d, "generation %u of state.json cannot be taken up: %s",
				d->st.generation,
				r == -EBADMSG ? "its history record does not parse, or its image is "
						"missing or differs from its recorded hash"
					      : strerror(-r));
		d->image = NULL;
		d->image_size = 0;
		return 0;
	}
	json_decref(entry);
	char why[256];
	struct pol_ir *ir;
	r = load_image(d->image, d->image_size, &ir, why, sizeof(why));
	if (r < 0) {
		gwd_gen_degrade(d, "generation %u's image does not load: %s", d->st.generation,
				why);
		free(d->image);
		d->image = NULL;
		d->image_size = 0;
		return 0;
	}
	set_current(d, ir);
	gwd_sha256_hex(d->image, d->image_size, d->hash);
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		if (e->generation == d->st.generation)
			continue;
		r = e->ops->prepare(e, d->st.generation, d->image, d->image_size, d->ir, why,
				    sizeof(why));
		if (r == 0)
			r = e->ops->commit(e, why, sizeof(why));
		if (r < 0) {
			/* Not fatal: gwd still answers, status shows the engine
			 * degraded, and a dataplane that comes back is resynced. */
			char q[300];
			e->ops->abort(e);
			gwd_log("engine_adopt_failed", "engine=%s gen=%u reason=%s", e->ops->name,
				d->st.generation, gwd_log_value(q, sizeof(q), why));
		}
	}
	gwd_log("adopt", "gen=%u hash=%s", d->st.generation, d->hash);
	/* What mask an engine holds from before is unknown (an engine that
	 * runs the generation already is adopted as it runs, with whatever
	 * mask it was given before gwd stopped, maybe across a schedule
	 * boundary): gwd's mask goes to every engine now. */
	gwd_sched_adopted(d);
	gwd_sched_push(d, false);
	return 0;
}

void gwd_gen_resume_pending(struct gwd *d)
{
	if (!d->st.pending)
		return;
	/* The time left counts on the monotonic clock, so no wall-clock step
	 * (1970 before NTP) moves it.  A deadline of another boot is gone
	 * with it: the system restarted with the change unconfirmed, which
	 * is what --confirm guards against, so the change goes. */
	int64_t left = gwd_gen_confirm_left_ms(d);
	if (left == INT64_MIN)
		revert_unconfirmed(d, "before the system restarted");
	else if (left <= 0)
		revert_unconfirmed(d, "before gwd started again");
	else
		arm_timer(d);
	if (d->st.pending)
		gwd_log("pending", "gen=%u prev=%u seconds_left=%lld", d->st.pending_gen,
			d->st.pending_prev, (long long)(gwd_gen_confirm_left_ms(d) / 1000));
}
