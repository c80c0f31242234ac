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

#include "api_diag.h"
#include "daemon.h"
#include "domains.h"
#include "engine_dpdk.h"
#ifdef GWD_HAVE_EBPF
#include "engine_ebpf.h"
#endif
#include "engine_file.h"
#include "eval.h"
#include "flows.h"
#include "flows_json.h"
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
	struct gwd_flows *flows;    /* what the engines report (flows.h) */
	/* Schedules and learned names (engine.h's set_active, set_domains). */
	struct pol_ir *ir;          /* the current generation, loaded; or NULL */
	uint64_t *mask;             /* its active-rule mask now, (nrules + 63) / 64 words */
	struct event *sched_timer;  /* at the start of each minute */
	struct gwd_domains *domains;
};

#define GWD_MAX_LEARNED 65536 /* learned (name, address) pairs */

/* Milliseconds from t0 to now, monotonic: the apply line's timings. */
static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Appends "name:ms" to a timing list, comma-separated: "file:0.2,dataplane:8.1". */
static void add_ms(char *buf, size_t size, const char *name, double ms)
{
	size_t n = strlen(buf);
	if (n < size)
		snprintf(buf + n, size - n, "%s%s:%.1f", n ? "," : "", name, ms);
}

static uint64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/* The active-rule mask of ir at the present moment, malloc'd. */
static uint64_t *mask_now(const struct pol_ir *ir)
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

static unsigned popcount(const uint64_t *m, uint32_t nrules)
{
	unsigned n = 0;
	for (uint32_t w = 0; w < (nrules + 63) / 64; w++)
		n += (unsigned)__builtin_popcountll(m[w]);
	return n;
}

/* Every learned address with ir's sets to one engine; logged, not fatal:
 * the entries expire by themselves and the next push carries them all. */
static void push_domains(struct gwd *d, struct gwd_engine *e, const struct pol_ir *ir,
			 bool staged)
{
	int (*op)(struct gwd_engine *, const struct gwd_domain_entry *, size_t, char *, size_t) =
		staged ? e->ops->stage_domains : e->ops->set_domains;
	struct gwd_domain_entry *v;
	size_t n;
	char err[256], q[300];
	if (!op || gwd_domains_entries(d->domains, ir, mono_s(), NULL, &v, &n) < 0 || !n)
		return;
	if (op(e, v, n, err, sizeof(err)) < 0)
		gwd_log("domains_push_failed", "engine=%s entries=%zu staged=%d reason=%s",
			e->ops->name, n, staged, gwd_log_value(q, sizeof(q), err));
	free(v);
}

static void cmd_learn(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res);

/* The current generation became d->image: ir is that image loaded (taken
 * over), for schedules and names.  The engines started it with the
 * clock's mask themselves. */
static void set_current(struct gwd *d, struct pol_ir *ir)
{
	pol_ir_free(d->ir);
	free(d->mask);
	d->ir = ir;
	d->mask = ir ? mask_now(ir) : NULL;
}

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
	double compile_ms;       /* cmd_apply's compile, for the log line */
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
		fail(res, "internal", "the image does not load: %s", err);
		return;
	}
	gwd_sha256_hex(in->image, in->size, hash);
	check_ms = ms_since(&step);
	size_t prepared = 0;
	for (; prepared < d->nengines; prepared++) {
		struct gwd_engine *e = d->engines[prepared];
		clock_gettime(CLOCK_MONOTONIC, &step);
		if (e->ops->prepare(e, gen, in->image, in->size, nir, err, sizeof(err)) < 0) {
			fail(res, "engine_refused", "engine %s refused generation %u: %s",
			     e->ops->name, gen, err);
			goto abort;
		}
		add_ms(prep_ms, sizeof(prep_ms), e->ops->name, ms_since(&step));
	}
	for (size_t i = 0; i < d->nengines && gwd_domains_count(d->domains); i++)
		push_domains(d, d->engines[i], nir, true);
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
	clock_gettime(CLOCK_MONOTONIC, &step);
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
	record_ms = ms_since(&step);
	size_t committed = 0;
	for (; committed < d->nengines; committed++) {
		struct gwd_engine *e = d->engines[committed];
		clock_gettime(CLOCK_MONOTONIC, &step);
		if (e->ops->commit(e, err, sizeof(err)) < 0) {
			fail(res, "engine_failed", "engine %s failed to flip to generation %u: %s",
			     e->ops->name, gen, err);
			for (size_t i = committed + 1; i < d->nengines; i++)
				d->engines[i]->ops->abort(d->engines[i]);
			restore_engines(d, committed);
			gwd_history_remove(d->cfg.state_dir, gen);
			free(copy);
			pol_ir_free(nir);
			return;
		}
		add_ms(commit_ms, sizeof(commit_ms), e->ops->name, ms_since(&step));
	}
	clock_gettime(CLOCK_MONOTONIC, &step);
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
		pol_ir_free(nir);
		return;
	}
	free(d->image);
	d->image = copy;
	d->image_size = in->size;
	d->st = st;
	memcpy(d->hash, hash, sizeof(hash));
	set_current(d, nir);
	/* Engines whose domain table outlives a generation get the new set
	 * numbers now (the others staged theirs). */
	for (size_t i = 0; i < d->nengines && gwd_domains_count(d->domains); i++)
		if (!d->engines[i]->ops->stage_domains)
			push_domains(d, d->engines[i], d->ir, false);
	arm_timer(d);
	double after_ms = ms_since(&step);
	double total_ms = ms_since(in->t0.tv_sec || in->t0.tv_nsec ? &in->t0 : &t0);
	gwd_log("apply", "gen=%u prev=%u user=%s restores=%u confirm=%u hash=%s msg=%s ms=%.1f "
		"compile_ms=%.1f text_ms=%.1f check_ms=%.1f prepare_ms=%s record_ms=%.1f "
		"commit_ms=%s finish_ms=%.1f", gen, prev, gwd_log_value(q1, sizeof(q1), in->user),
		in->restores, in->confirm_seconds, hash,
		gwd_log_value(q2, sizeof(q2), in->message ? in->message : ""), total_ms,
		in->compile_ms, in->text_ms, check_ms, prep_ms[0] ? prep_ms : "-", record_ms,
		commit_ms[0] ? commit_ms : "-", after_ms);
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
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
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
		res->diagnostics = gwd_api_diags_json(u);
		pol_unit_free(u);
		return;
	}
	const void *img;
	size_t size;
	double compile_ms = ms_since(&t0);
	char *text = print_unit(u);
	if (!text || pol_unit_image(u, &img, &size) < 0) {
		fail(res, "internal", "the compiled policy does not print or has no image");
		goto out;
	}
	struct install in = {
		.image = img, .size = size, .text = text, .source = req->path,
		.user = peer->user, .uid = peer->uid, .message = req->message,
		.confirm_seconds = req->confirm_seconds, .dry_run = req->dry_run,
		.compile_ms = compile_ms, .text_ms = ms_since(&t0) - compile_ms, .t0 = t0,
	};
	install(d, &in, res);
	if (!res->code && pol_unit_warnings(u))
		json_object_set_new(res->fields, "warnings", gwd_api_diags_json(u));
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
	if (res->fields && d->ir && d->mask)
		json_object_set_new(res->fields, "active_rules",
				    json_pack("{s:I,s:I}", "active",
					      (json_int_t)popcount(d->mask, d->ir->nrules), "rules",
					      (json_int_t)d->ir->nrules));
	if (res->fields)
		json_object_set_new(res->fields, "domains_learned",
				    json_integer((json_int_t)gwd_domains_count(d->domains)));
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

static char *base64(const void *data, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *p = data;
	char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < n ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

/* A generation's record, text and image (base64), for `gwctl policy diff`
 * and anyone who wants the exact policy in force. */
static void cmd_get(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	uint32_t gen = req->generation ? req->generation : d->st.generation;
	if (!gen) {
		fail(res, "no_such_generation", "no policy was applied yet");
		return;
	}
	json_t *e;
	void *img;
	size_t size;
	int r = gwd_history_get(d->cfg.state_dir, gen, &e, &img, &size);
	if (r == -ENOENT) {
		fail(res, "no_such_generation", "there is no generation %u in the history", gen);
		return;
	}
	if (r < 0) {
		fail(res, "internal", "generation %u does not read: %s", gen, strerror(-r));
		return;
	}
	char *b64 = base64(img, size);
	free(img);
	if (b64)
		res->fields = json_pack("{s:I,s:b,s:o,s:s}", "generation", (json_int_t)gen,
					"current", gen == d->st.generation, "entry", e, "image", b64);
	else
		json_decref(e);
	free(b64);
}

/* The running generation's IR, or NULL (nothing applied, or no memory:
 * the replies then name nothing). */
static struct pol_ir *current_ir(struct gwd *d)
{
	struct pol_ir *ir = NULL;
	char err[256];
	if (d->image && pol_image_load(d->image, d->image_size, &ir, err, sizeof(err)) < 0)
		ir = NULL;
	return ir;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void cmd_devices(struct gwd *d, struct gwd_result *res)
{
	struct pol_ir *ir = current_ir(d);
	res->fields = gwd_devices_json(ir, d->flows, now_ms());
	if (res->fields)
		json_object_set_new(res->fields, "generation", json_integer(d->st.generation));
	pol_ir_free(ir);
}

/* The IRs of older generations a flows reply names rules from, loaded
 * from the history once per request. */
struct gen_cache {
	struct gwd *d;
	uint32_t gen[8];
	struct pol_ir *ir[8];
	size_t n;
};

static const struct pol_ir *ir_for_gen(uint32_t gen, void *arg)
{
	struct gen_cache *c = arg;
	for (size_t i = 0; i < c->n; i++)
		if (c->gen[i] == gen)
			return c->ir[i];
	if (c->n == 8)
		return NULL;
	json_t *e;
	void *img;
	size_t size;
	struct pol_ir *ir = NULL;
	char err[256];
	if (gwd_history_get(c->d->cfg.state_dir, gen, &e, &img, &size) == 0) {
		json_decref(e);
		if (pol_image_load(img, size, &ir, err, sizeof(err)) < 0)
			ir = NULL;
		free(img);
	}
	c->gen[c->n] = gen;
	c->ir[c->n++] = ir;
	return ir;
}

static void cmd_flows(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	struct pol_ir *ir = current_ir(d);
	struct gen_cache cache = { .d = d };
	uint8_t macs[64][6];
	size_t nmacs = 0;
	if (req->device) {
		int r = gwd_device_macs(ir, req->device, macs, 64, &nmacs);
		if (r == -ENOBUFS) {
			fail(res, "bad_argument", "device '%s' has more than 64 MACs: ask by MAC",
			     req->device);
			goto out;
		}
		if (r < 0) {
			fail(res, "bad_argument",
			     "'%s' is neither a device of generation %u nor a MAC address "
			     "(aa:bb:cc:dd:ee:ff)", req->device, d->st.generation);
			goto out;
		}
	}
	res->fields = gwd_flows_json(ir, d->st.generation, d->flows,
				     req->device ? (const uint8_t(*)[6])macs : NULL, nmacs,
				     req->limit, ir_for_gen, &cache, now_ms());
	if (res->fields)
		json_object_set_new(res->fields, "generation", json_integer(d->st.generation));
out:
	for (size_t i = 0; i < cache.n; i++)
		pol_ir_free(cache.ir[i]);
	pol_ir_free(ir);
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
	case GWD_CMD_POLICY_GET: cmd_get(d, req, res); break;
	case GWD_CMD_DEVICES: cmd_devices(d, res); break;
	case GWD_CMD_FLOWS: cmd_flows(d, req, res); break;
	case GWD_CMD_DOMAINS_LEARN: cmd_learn(d, req, res); break;
	default: fail(res, "unknown_command", "unknown command"); break;
	}
	if (!res->code && !res->fields)
		fail(res, "internal", "out of memory");
}

/* An engine lost its state (a restarted dataplane): the current
 * generation, its mask and the learned names, again. */
static void engine_resync(struct gwd_engine *e, void *arg)
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
	push_domains(d, e, d->ir, true);
	if (e->ops->commit(e, err, sizeof(err)) < 0) {
		gwd_log("engine_resync_failed", "engine=%s gen=%u reason=%s", e->ops->name,
			d->st.generation, gwd_log_value(q, sizeof(q), err));
		return;
	}
	if (e->ops->set_active && d->mask &&
	    e->ops->set_active(e, d->mask, d->ir->nrules, err, sizeof(err)) < 0)
		gwd_log("engine_resync_failed", "engine=%s gen=%u step=set_active reason=%s",
			e->ops->name, d->st.generation, gwd_log_value(q, sizeof(q), err));
	if (!e->ops->stage_domains)
		push_domains(d, e, d->ir, false);
	gwd_log("engine_resync", "engine=%s gen=%u active=%u rules=%u domains=%zu", e->ops->name,
		d->st.generation, d->mask ? popcount(d->mask, d->ir->nrules) : 0, d->ir->nrules,
		gwd_domains_count(d->domains));
}

/* Schedules are minute-exact: the mask is computed at the start of
 * every minute (which also follows DST and clock steps) and pushed to
 * every engine when it differs from the one in force. */
static void arm_sched(struct gwd *d)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long ms = 60000 - (long)(ts.tv_sec % 60) * 1000 - ts.tv_nsec / 1000000 + 20;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	evtimer_add(d->sched_timer, &tv);
}

static void on_sched(evutil_socket_t fd, short what, void *arg)
{
	struct gwd *d = arg;
	arm_sched(d);
	if (!d->ir || !d->mask)
		return;
	uint64_t *m = mask_now(d->ir);
	uint32_t nrules = d->ir->nrules;
	if (!m || !memcmp(m, d->mask, (nrules + 63) / 64 * sizeof(uint64_t))) {
		free(m);
		return;
	}
	free(d->mask);
	d->mask = m;
	gwd_log("schedule", "gen=%u active=%u rules=%u", d->st.generation, popcount(m, nrules),
		nrules);
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

/* A name's addresses, as the DNS service will report them: into gwd's
 * table, then to every engine running the current generation. */
static void cmd_learn(struct gwd *d, const struct gwd_api_req *req, struct gwd_result *res)
{
	uint64_t now = mono_s();
	for (uint32_t i = 0; i < req->naddrs; i++) {
		int r = gwd_domains_learn(d->domains, req->name, req->addrs[i].family,
					  req->addrs[i].addr, req->ttl, now);
		if (r < 0) {
			fail(res, "internal", "learning %s: %s", req->name, strerror(-r));
			return;
		}
	}
	json_t *sets = json_array(), *engines = json_array();
	uint64_t bits = d->ir ? pol_domain_sets_of(d->ir, req->name) : 0;
	for (uint32_t s = 0; d->ir && s < d->ir->ndomain_sets; s++)
		if (bits >> s & 1)
			json_array_append_new(sets, json_string(pol_ir_str(d->ir,
									   d->ir->domain_sets[s].name)));
	struct gwd_domain_entry *v = NULL;
	size_t n = 0;
	int r = gwd_domains_entries(d->domains, d->ir, now, req->name, &v, &n);
	for (size_t i = 0; r == 0 && n && i < d->nengines; i++) {
		struct gwd_engine *e = d->engines[i];
		char err[256];
		if (!e->ops->set_domains)
			continue;
		json_t *o = json_pack("{s:s}", "name", e->ops->name);
		if (e->generation != d->st.generation || !d->ir) {
			json_object_set_new(o, "ok", json_false());
			json_object_set_new(o, "error", json_string("not running the current generation"));
		} else if (e->ops->set_domains(e, v, n, err, sizeof(err)) < 0) {
			json_object_set_new(o, "ok", json_false());
			json_object_set_new(o, "error", json_string(err));
		} else {
			json_object_set_new(o, "ok", json_true());
		}
		json_array_append_new(engines, o);
	}
	free(v);
	char q[300];
	gwd_log("domains_learn", "name=%s addrs=%u ttl=%u sets=%#llx",
		gwd_log_value(q, sizeof(q), req->name), req->naddrs, req->ttl,
		(unsigned long long)bits);
	res->fields = json_pack("{s:s,s:I,s:I,s:o,s:o,s:I}", "name", req->name, "addrs",
				(json_int_t)req->naddrs, "ttl", (json_int_t)req->ttl, "sets", sets,
				"engines", engines, "learned",
				(json_int_t)gwd_domains_count(d->domains));
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
	struct pol_ir *ir;
	r = load_image(d->image, d->image_size, &ir, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "generation %u's image: %s", d->st.generation, why);
		return r;
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
	d->sched_timer = evtimer_new(base, on_sched, d);
	if (!d->confirm_timer || !d->sched_timer ||
	    gwd_domains_new(GWD_MAX_LEARNED, &d->domains) < 0) {
		r = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* 65536 flows and 4096 devices: the cap stated in docs/api.md. */
	r = gwd_flows_new(65536, 4096, &d->flows);
	if (r < 0) {
		snprintf(err, errlen, "the flow collector: %s", strerror(-r));
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
	if (cfg->dataplane[0]) {
		r = gwd_engine_dpdk_new(base, cfg->dataplane, d->flows, &d->engines[d->nengines]);
		if (r < 0) {
			snprintf(err, errlen, "dataplane %s: %s", cfg->dataplane, strerror(-r));
			goto fail;
		}
		d->nengines++;
	}
	if (cfg->nebpf_ports) {
#ifdef GWD_HAVE_EBPF
		r = gwd_engine_ebpf_new(base, cfg, d->flows, &d->engines[d->nengines], err, errlen);
		if (r < 0)
			goto fail;
		d->nengines++;
#else
		r = -EOPNOTSUPP;
		snprintf(err, errlen, "ebpf_ports: this gwd was built without the eBPF loader");
		goto fail;
#endif
	}
	for (size_t i = 0; i < d->nengines; i++) {
		d->engines[i]->resync = engine_resync;
		d->engines[i]->resync_arg = d;
	}
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
	arm_sched(d);
	*ret = d;
	return 0;
fail:
	gwd_free(d);
	return r;
}

int gwd_reload(struct gwd *d)
{
	if (!d->cfg.policy[0]) {
		gwd_log("reload", "policy=none applied=0");
		return 0;
	}
	struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .path = d->cfg.policy,
				   .message = "SIGHUP: the policy file of gwd.conf" };
	struct gwd_peer peer = { .uid = getuid(), .may_change = true };
	snprintf(peer.user, sizeof(peer.user), "gwd");
	struct gwd_result res;
	gwd_run(d, &req, &peer, &res);
	int r = 0;
	if (res.code) {
		char q[600];
		gwd_log("reload_failed", "policy=%s code=%s reason=%s", d->cfg.policy, res.code,
			gwd_log_value(q, sizeof(q), res.message));
		r = -EINVAL;
	} else {
		gwd_log("reload", "policy=%s gen=%u", d->cfg.policy, d->st.generation);
	}
	gwd_result_clear(&res);
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
	if (d->sched_timer)
		event_free(d->sched_timer);
	gwd_domains_free(d->domains);
	pol_ir_free(d->ir);
	free(d->mask);
	gwd_flows_free(d->flows);
	free(d->image);
	free(d);
}
