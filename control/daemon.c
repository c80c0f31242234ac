/* SPDX-License-Identifier: MIT */
/*
 * Generations: apply, rollback, confirm and the revert timer (daemon.h).
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "engine_file.h"
#include "image.h"
#include "log.h"
#include "policy.h"
#include "sha256.h"
#include "store.h"

#define MAX_ENGINES 4

struct gwd {
	struct event_base *base;
	struct gwd_config cfg;
	struct gwd_state st;
	uint32_t max_gen;           /* the highest number in history */
	void *image;                /* the current generation's image, or NULL */
	size_t image_size;
	char hash[72];
	struct gwd_engine *engines[MAX_ENGINES];
	size_t nengines;
	struct event *confirm_timer;
};

static void __attribute__((format(printf, 3, 4)))
fail(struct gwd_result *res, const char *code, const char *fmt, ...)
{
	res->code = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

void gwd_result_clear(struct gwd_result *res)
{
	json_decref(res->fields);
	json_decref(res->diagnostics);
	memset(res, 0, sizeof(*res));
}

static json_t *loc_json(json_t *o, const struct pol_loc *loc)
{
	json_object_set_new(o, "file", loc->file ? json_string(loc->file) : json_null());
	json_object_set_new(o, "line", json_integer(loc->line));
	json_object_set_new(o, "col", json_integer(loc->col));
	json_object_set_new(o, "len", json_integer(loc->len));
	return o;
}

/* The same objects as `gwctl policy check --json`. */
static json_t *diags_json(const struct pol_unit *u)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < pol_unit_ndiags(u); i++) {
		const struct pol_diag *g = pol_unit_diag(u, i);
		json_t *o = loc_json(json_object(), &g->loc);
		json_object_set_new(o, "severity",
				    json_string(g->severity == POL_SEV_ERROR ? "error" : "warning"));
		json_object_set_new(o, "message", json_string(g->message));
		json_object_set_new(o, "hint", g->hint ? json_string(g->hint) : json_null());
		if (g->note_msg) {
			json_t *n = loc_json(json_object(), &g->note);
			json_object_set_new(n, "message", json_string(g->note_msg));
			json_object_set_new(o, "note", n);
		}
		json_array_append_new(list, o);
	}
	return list;
}

/* An image gwd is about to hand to engines: loaded as untrusted input
 * (it may come from disk), so a damaged history entry is refused. */
static int check_image(const void *img, size_t size, char *err, size_t errlen)
{
	struct pol_ir *ir;
	int r = pol_image_load(img, size, &ir, err, errlen);
	if (r == 0)
		pol_ir_free(ir);
	else if (r != -EINVAL)
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
		if (e->ops->prepare(e, d->st.generation, d->image, d->image_size, err,
				    sizeof(err)) < 0 ||
		    e->ops->commit(e, err, sizeof(err)) < 0) {
			char q[300];
			gwd_log("engine_restore_failed", "engine=%s gen=%u reason=%s", e->ops->name,
				d->st.generation, gwd_log_value(q, sizeof(q), err));
		}
	}
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
	uint32_t confirm_seconds;
	bool dry_run;
};

static void arm_timer(struct gwd *d);

/* The transaction of the header comment.  On success res->fields gets
 * generation and hash. */
static void install(struct gwd *d, const struct install *in, struct gwd_result *res)
{
	char err[256], q1[300], q2[300];
	char hash[72];
	void *copy = NULL;
	uint32_t gen = d->max_gen + 1;
	if (check_image(in->image, in->size, err, sizeof(err)) < 0) {
		fail(res, "internal", "the image does not load: %s", err);
		return;
	}
	gwd_sha256_hex(in->image, in->size, hash);
	size_t prepared = 0;
	for (; prepared < d->nengines; prepared++) {
		struct gwd_engine *e = d->engines[prepared];
		if (e->ops->prepare(e, gen, in->image, in->size, err, sizeof(err)) < 0) {
			fail(res, "engine_refused", "engine %s refused generation %u: %s",
			     e->ops->name, gen, err);
			goto abort;
		}
	}
	if (in->dry_run) {
		res->fields = json_pack("{s:I,s:s,s:b}", "generation", (json_int_t)gen, "hash",
					hash, "dry_run", 1);
		goto abort;
	}
	/* gwd's own copy, taken before anything flips: a later flip-back
	 * needs the image that is in force. */
	copy = malloc(in->size);
	if (!copy) {
		fail(res, "internal", "out of memory");
		goto abort;
	}
	memcpy(copy, in->image, in->size);
	struct gwd_record rec = {
		.generation = gen, .time = time(NULL), .user = in->user, .uid = in->uid,
		.message = in->message, .hash = hash, .restores = in->restores,
		.source = in->source, .text = in->text,
	};
	int r = gwd_history_add(d->cfg.state_dir, &rec, in->image, in->size);
	if (r < 0) {
		fail(res, "internal", "cannot record generation %u under %s: %s", gen,
		     d->cfg.state_dir, strerror(-r));
		gwd_history_remove(d->cfg.state_dir, gen);
		goto abort;
	}
	d->max_gen = gen;
	size_t committed = 0;
	for (; committed < d->nengines; committed++) {
		struct gwd_engine *e = d->engines[committed];
		if (e->ops->commit(e, err, sizeof(err)) < 0) {
			fail(res, "engine_failed", "engine %s failed to flip to generation %u: %s",
			     e->ops->name, gen, err);
			for (size_t i = committed + 1; i < d->nengines; i++)
				d->engines[i]->ops->abort(d->engines[i]);
			restore_engines(d, committed);
			gwd_history_remove(d->cfg.state_dir, gen);
			free(copy);
			return;
		}
	}
	struct gwd_state st = d->st;
	uint32_t prev = st.generation;
	st.generation = gen;
	st.pending = in->confirm_seconds > 0;
	st.pending_gen = st.pending ? gen : 0;
	st.pending_prev = st.pending ? prev : 0;
	st.deadline = st.pending ? (int64_t)time(NULL) + in->confirm_seconds : 0;
	r = gwd_state_save(d->cfg.state_dir, &st);
	if (r < 0) {
		fail(res, "internal", "cannot write %s/state.json: %s", d->cfg.state_dir,
		     strerror(-r));
		restore_engines(d, d->nengines);
		gwd_history_remove(d->cfg.state_dir, gen);
		free(copy);
		return;
	}
	free(d->image);
	d->image = copy;
	d->image_size = in->size;
	d->st = st;
	memcpy(d->hash, hash, sizeof(hash));
	arm_timer(d);
	gwd_log("apply", "gen=%u prev=%u user=%s restores=%u confirm=%u hash=%s msg=%s", gen,
		prev, gwd_log_value(q1, sizeof(q1), in->user), in->restores, in->confirm_seconds,
		hash, gwd_log_value(q2, sizeof(q2), in->message ? in->message : ""));
	res->fields = json_pack("{s:I,s:I,s:s,s:b}", "generation", (json_int_t)gen, "previous",
				(json_int_t)prev, "hash", hash, "dry_run", 0);
	if (res->fields && in->restores)
		json_object_set_new(res->fields, "restores", json_integer(in->restores));
	if (st.pending)
		json_object_set_new(res->fields, "confirm_deadline", json_integer(st.deadline));
	return;
abort:
	free(copy);
	for (size_t i = 0; i < prepared; i++)
		d->engines[i]->ops->abort(d->engines[i]);
}

/* A new generation with generation `from`'s image and text. */
static void restore(struct gwd *d, uint32_t from, const char *user, uint32_t uid,
		    const char *message, struct gwd_result *res)
{
	json_t *entry;
	void *img;
	size_t size;
	int r = gwd_history_get(d->cfg.state_dir, from, &entry, &img, &size);
	if (r == -ENOENT) {
		fail(res, "no_such_generation", "there is no generation %u in the history", from);
		return;
	}
	if (r < 0) {
		fail(res, "internal", "generation %u of the history does not read: %s", from,
		     strerror(-r));
		return;
	}
	json_t *src = json_object_get(entry, "source");
	struct install in = {
		.image = img, .size = size,
		.text = json_string_value(json_object_get(entry, "text")),
		.source = json_is_string(src) ? json_string_value(src) : NULL,
		.user = user, .uid = uid, .message = message, .restores = from,
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
	restore(d, prev, "gwd", (uint32_t)getuid(), msg, &res);
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

static void confirm_expired(evutil_socket_t fd, short what, void *arg)
{
	struct gwd *d = arg;
	if (d->st.pending)
		revert_unconfirmed(d, "in time");
}

static void arm_timer(struct gwd *d)
{
	evtimer_del(d->confirm_timer);
	if (!d->st.pending)
		return;
	int64_t left = d->st.deadline - (int64_t)time(NULL);
	struct timeval tv = { .tv_sec = left > 0 ? left : 0 };
	evtimer_add(d->confirm_timer, &tv);
}

/* The flattened text of a compiled unit, malloc'd. */
static char *print_unit(const struct pol_unit *u)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	int r = pol_unit_print(u, f);
	if (fclose(f) != 0 || r < 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void cmd_apply(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
		      struct gwd_result *res)
{
	if (d->st.pending && !req->dry_run) {
		fail(res, "pending",
		     "generation %u awaits confirmation: confirm it (gwctl policy confirm) or "
		     "roll back first", d->st.pending_gen);
		return;
	}
	if (req->confirm_seconds && !d->st.generation) {
		fail(res, "bad_argument",
		     "--confirm needs an earlier generation to return to; apply once without it");
		return;
	}
	struct pol_unit *u = NULL;
	/* Text from a socket may not name files (gwd runs as root); a path
	 * is compiled as `gwctl policy check` compiles it. */
	int r = req->path ? pol_compile(req->path, NULL, 0, 0, &u)
			  : pol_compile("policy.gw", req->text, req->text_len, POL_F_NO_FILES,
					&u);
	if (r < 0) {
		fail(res, "internal", "out of memory compiling the policy");
		return;
	}
	if (pol_unit_errors(u)) {
		fail(res, "policy_invalid", "%s: invalid: %u error%s; nothing changed",
		     req->path ? req->path : "policy.gw", pol_unit_errors(u),
		     pol_unit_errors(u) == 1 ? "" : "s");
		res->diagnostics = diags_json(u);
		pol_unit_free(u);
		return;
	}
	const void *img;
	size_t size;
	char *text = print_unit(u);
	if (!text || pol_unit_image(u, &img, &size) < 0) {
		fail(res, "internal", "the compiled policy does not print or has no image");
		goto out;
	}
	struct install in = {
		.image = img, .size = size, .text = text, .source = req->path,
		.user = peer->user, .uid = peer->uid, .message = req->message,
		.confirm_seconds = req->confirm_seconds, .dry_run = req->dry_run,
	};
	install(d, &in, res);
	if (!res->code && pol_unit_warnings(u))
		json_object_set_new(res->fields, "warnings", diags_json(u));
out:
	free(text);
	pol_unit_free(u);
}

static void cmd_rollback(struct gwd *d, const struct gwd_api_req *req,
			 const struct gwd_peer *peer, struct gwd_result *res)
{
	uint32_t to = req->generation;
	if (!to) {
		/* The newest entry before the current generation. */
		json_t *list;
		uint32_t max;
		if (gwd_history_list(d->cfg.state_dir, &list, &max) < 0) {
			fail(res, "internal", "the history does not read");
			return;
		}
		size_t i;
		json_t *e;
		json_array_foreach(list, i, e) {
			uint32_t g = (uint32_t)json_integer_value(json_object_get(e, "generation"));
			if (g < d->st.generation)
				to = g;
		}
		json_decref(list);
		if (!to) {
			fail(res, "no_such_generation", "there is no generation before %u",
			     d->st.generation);
			return;
		}
	}
	char msg[64];
	snprintf(msg, sizeof(msg), "rollback to generation %u", to);
	bool was_pending = d->st.pending;
	restore(d, to, peer->user, peer->uid, msg, res);
	if (!res->code && was_pending)
		json_object_set_new(res->fields, "cancelled_pending", json_true());
}

static void cmd_confirm(struct gwd *d, const struct gwd_peer *peer, struct gwd_result *res)
{
	if (!d->st.pending) {
		fail(res, "nothing_pending", "no generation awaits confirmation");
		return;
	}
	struct gwd_state st = d->st;
	st.pending = false;
	st.pending_gen = st.pending_prev = 0;
	st.deadline = 0;
	int r = gwd_state_save(d->cfg.state_dir, &st);
	if (r < 0) {
		fail(res, "internal", "cannot write state.json: %s", strerror(-r));
		return;
	}
	uint32_t gen = d->st.pending_gen;
	d->st = st;
	arm_timer(d);
	char q[100];
	gwd_log("confirm", "gen=%u user=%s", gen, gwd_log_value(q, sizeof(q), peer->user));
	res->fields = json_pack("{s:I}", "generation", (json_int_t)gen);
}

static void cmd_status(struct gwd *d, struct gwd_result *res)
{
	json_t *engines = json_array();
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		json_array_append_new(engines,
				      json_pack("{s:s,s:I,s:s}", "name", e->ops->name, "generation",
						(json_int_t)e->generation, "state", e->ops->state(e)));
	}
	json_t *pending = json_null();
	if (d->st.pending) {
		int64_t left = d->st.deadline - (int64_t)time(NULL);
		pending = json_pack("{s:I,s:I,s:I,s:I}", "generation", (json_int_t)d->st.pending_gen,
				    "previous", (json_int_t)d->st.pending_prev, "deadline",
				    (json_int_t)d->st.deadline, "seconds_left",
				    (json_int_t)(left > 0 ? left : 0));
	}
	res->fields = json_pack("{s:I,s:o,s:o,s:o,s:s}", "generation", (json_int_t)d->st.generation,
				"hash", d->st.generation ? json_string(d->hash) : json_null(),
				"pending", pending, "engines", engines, "state_dir",
				d->cfg.state_dir);
}

static void cmd_history(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	if (req->generation) {
		json_t *e;
		int r = gwd_history_get(d->cfg.state_dir, req->generation, &e, NULL, NULL);
		if (r == -ENOENT)
			fail(res, "no_such_generation", "there is no generation %u in the history",
			     req->generation);
		else if (r < 0)
			fail(res, "internal", "generation %u does not read: %s", req->generation,
			     strerror(-r));
		else
			res->fields = json_pack("{s:o}", "entry", e);
		return;
	}
	json_t *list;
	uint32_t max;
	int r = gwd_history_list(d->cfg.state_dir, &list, &max);
	if (r < 0) {
		fail(res, "internal", "the history does not read: %s", strerror(-r));
		return;
	}
	res->fields = json_pack("{s:I,s:o}", "current", (json_int_t)d->st.generation,
				"generations", list);
}

void gwd_run(struct gwd *d, const struct gwd_api_req *req, const struct gwd_peer *peer,
	     struct gwd_result *res)
{
	memset(res, 0, sizeof(*res));
	switch (req->cmd) {
	case GWD_CMD_STATUS: cmd_status(d, res); break;
	case GWD_CMD_POLICY_APPLY: cmd_apply(d, req, peer, res); break;
	case GWD_CMD_POLICY_HISTORY: cmd_history(d, req, res); break;
	case GWD_CMD_POLICY_ROLLBACK: cmd_rollback(d, req, peer, res); break;
	case GWD_CMD_POLICY_CONFIRM: cmd_confirm(d, peer, res); break;
	default: fail(res, "unknown_command", "unknown command"); break;
	}
	if (!res->code && !res->fields)
		fail(res, "internal", "out of memory");
}

/* At start: make every engine run the current generation (an engine may
 * have missed a flip when gwd died between its steps). */
static int adopt(struct gwd *d, char *err, size_t errlen)
{
	if (!d->st.generation)
		return 0;
	json_t *entry;
	int r = gwd_history_get(d->cfg.state_dir, d->st.generation, &entry, &d->image,
				&d->image_size);
	if (r < 0) {
		snprintf(err, errlen, "%s: generation %u of state.json is not in the history: %s",
			 d->cfg.state_dir, d->st.generation, strerror(-r));
		return r;
	}
	json_decref(entry);
	char why[256];
	r = check_image(d->image, d->image_size, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "generation %u's image: %s", d->st.generation, why);
		return r;
	}
	gwd_sha256_hex(d->image, d->image_size, d->hash);
	for (size_t i = 0; i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		if (e->generation == d->st.generation)
			continue;
		r = e->ops->prepare(e, d->st.generation, d->image, d->image_size, why, sizeof(why));
		if (r == 0)
			r = e->ops->commit(e, why, sizeof(why));
		if (r < 0) {
			snprintf(err, errlen, "engine %s: generation %u: %s", e->ops->name,
				 d->st.generation, why);
			return r;
		}
	}
	gwd_log("adopt", "gen=%u hash=%s", d->st.generation, d->hash);
	return 0;
}

int gwd_new(struct event_base *base, const struct gwd_config *cfg, struct gwd **ret,
	    char *err, size_t errlen)
{
	struct gwd *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	int r;
	d->base = base;
	d->cfg = *cfg;
	if (mkdir(cfg->state_dir, 0750) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", cfg->state_dir, strerror(errno));
		goto fail;
	}
	d->confirm_timer = evtimer_new(base, confirm_expired, d);
	if (!d->confirm_timer) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	r = gwd_state_load(cfg->state_dir, &d->st);
	if (r < 0) {
		snprintf(err, errlen, "%s/state.json: %s", cfg->state_dir, strerror(-r));
		goto fail;
	}
	json_t *list;
	r = gwd_history_list(cfg->state_dir, &list, &d->max_gen);
	if (r < 0) {
		snprintf(err, errlen, "%s/history: %s", cfg->state_dir, strerror(-r));
		goto fail;
	}
	json_decref(list);
	if (d->max_gen < d->st.generation)
		d->max_gen = d->st.generation;
	char p[GWD_PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/engine-file", cfg->state_dir);
	r = gwd_engine_file_new(p, &d->engines[d->nengines]);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", p, strerror(-r));
		goto fail;
	}
	d->nengines++;
	r = adopt(d, err, errlen);
	if (r < 0)
		goto fail;
	if (d->st.pending) {
		if (d->st.deadline <= (int64_t)time(NULL))
			revert_unconfirmed(d, "before gwd started again");
		else
			arm_timer(d);
		if (d->st.pending)
			gwd_log("pending", "gen=%u prev=%u deadline=%lld", d->st.pending_gen,
				d->st.pending_prev, (long long)d->st.deadline);
	}
	if (!d->st.generation && cfg->policy[0]) {
		struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = cfg->policy,
					   .message = "the policy of gwd.conf at first start" };
		struct gwd_peer peer = { .uid = getuid(), .may_change = true };
		snprintf(peer.user, sizeof(peer.user), "gwd");
		struct gwd_result res;
		gwd_run(d, &req, &peer, &res);
		if (res.code) {
			char q[600];
			/* Not fatal: gwd still answers, so the household can
			 * apply a fixed file. */
			gwd_log("initial_apply_failed", "policy=%s code=%s reason=%s", cfg->policy,
				res.code, gwd_log_value(q, sizeof(q), res.message));
		}
		gwd_result_clear(&res);
	}
	*ret = d;
	return 0;
fail:
	gwd_free(d);
	return r;
}

void gwd_free(struct gwd *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->nengines; i++)
		d->engines[i]->ops->free(d->engines[i]);
	if (d->confirm_timer)
		event_free(d->confirm_timer);
	free(d->image);
	free(d);
}
