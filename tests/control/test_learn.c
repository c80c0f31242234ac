/* SPDX-License-Identifier: MIT */
/* gwd_learn (control/learn.h), the learned-domain entry point the DNS
 * service calls: a real gwd (file engine only) on a temporary state
 * folder, a policy with domain lists applied through gwd_run, then names
 * learned directly and through domains.learn. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "api_msg.h"
#include "config.h"
#include "daemon.h"
#include "daemon_int.h"
#include "engine.h"
#include "eval.h"
#include "learn.h"
#include "policy.h"
#include "gwtest.h"

struct fix {
	char dir[64];
	struct event_base *base;
	struct gwd *d;
	size_t nengines; /* gwd's own: a test's engines go before teardown */
};

static const char POLICY[] = "list ads domains { ads.example }\n"
			     "list trackers domains { tracker.example, *.cdn.example }\n"
			     "rule a block any to list ads\n"
			     "rule t block any to list trackers\n"
			     "default allow\n";

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/gw-test-learn-%d-XXXXXX", (int)getpid());
	assert_non_null(mkdtemp(f->dir));
	struct gwd_config cfg;
	gwd_config_defaults(&cfg);
	snprintf(cfg.state_dir, sizeof(cfg.state_dir), "%s/state", f->dir);
	f->base = event_base_new();
	assert_non_null(f->base);
	char err[512];
	assert_int_equal(gwd_new(f->base, &cfg, &f->d, err, sizeof(err)), 0);
	struct gwd_api_req req = { .cmd = GWD_CMD_POLICY_APPLY, .text = POLICY,
				   .text_len = strlen(POLICY) };
	struct gwd_peer peer = { .uid = 0, .may_change = true, .user = "root" };
	struct gwd_result res;
	gwd_run(f->d, &req, &peer, &res);
	assert_null(res.code);
	gwd_result_clear(&res);
	f->nengines = f->d->nengines;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	f->d->nengines = f->nengines;
	gwd_free(f->d);
	event_base_free(f->base);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* The sets the running policy gives a name, as the engines number them. */
static uint64_t sets_of(const char *name)
{
	struct pol_ir *ir = gwtest_policy_ir("t.gw", POLICY);
	assert_non_null(ir);
	uint64_t s = pol_domain_sets_of(ir, name);
	pol_ir_free(ir);
	return s;
}

static const struct gwd_learn_addr A = { 4, { 203, 0, 113, 7 } };
static const struct gwd_learn_addr B = { 6, { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 } };

static void test_learn_sets_and_count(void **state)
{
	struct fix *f = *state;
	struct gwd_learn_addr two[] = { A, B };
	struct gwd_learn_who who = { .via = "dns", .client_family = 4,
				     .client = { 192, 168, 1, 20 } };
	struct gwd_learn_result r;
	assert_int_equal(gwd_learn(f->d, "Tracker.Example.", two, 2, 300, &who, &r), 0);
	assert_true(r.sets != 0);
	assert_int_equal(r.sets, sets_of("tracker.example"));
	assert_int_equal(r.learned, 2);
	/* The file engine keeps no domain sets: nothing to report, nothing failed. */
	assert_int_equal(r.nengines, 0);
	assert_int_equal(r.nfailed, 0);
	/* The same pair again renews it; a subdomain of *.cdn.example has
	 * the trackers set; a name in no list is kept with no set. */
	assert_int_equal(gwd_learn(f->d, "tracker.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(r.learned, 2);
	assert_int_equal(gwd_learn(f->d, "x.cdn.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(r.sets, sets_of("tracker.example"));
	assert_int_equal(r.learned, 3);
	assert_int_equal(gwd_learn(f->d, "news.example", &B, 1, 60, NULL, &r), 0);
	assert_int_equal(r.sets, 0);
	assert_int_equal(r.learned, 4);
	assert_int_equal(gwd_learn(f->d, "ads.example", &B, 1, 60, NULL, &r), 0);
	assert_int_equal(r.sets, sets_of("ads.example"));
	assert_true(r.sets != sets_of("tracker.example"));
}

static void test_learn_refuses_bad_arguments(void **state)
{
	struct fix *f = *state;
	struct gwd_learn_result r = { .learned = 99 };
	struct gwd_learn_addr bad = { 5, { 1 } };
	struct gwd_learn_addr mixed[] = { A, bad };
	struct gwd_learn_addr many[GWD_LEARN_MAX_ADDRS + 1];
	for (size_t i = 0; i < GWD_LEARN_MAX_ADDRS + 1; i++)
		many[i] = A;
	char longname[GWD_LEARN_MAX_NAME + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 50; i < sizeof(longname) - 1; i += 50)
		longname[i] = '.';
	assert_int_equal(gwd_learn(f->d, "", &A, 1, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, NULL, &A, 1, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "bad name.example", &A, 1, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "a..example", &A, 1, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, longname, &A, 1, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "tracker.example", &A, 0, 60, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "tracker.example", many, GWD_LEARN_MAX_ADDRS + 1, 60,
				   NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "tracker.example", &A, 1, 0, NULL, &r), -EINVAL);
	assert_int_equal(gwd_learn(f->d, "tracker.example", &A, 1, GWD_LEARN_MAX_TTL + 1, NULL,
				   &r), -EINVAL);
	/* One bad address refuses the whole call: the good one is not learned. */
	assert_int_equal(gwd_learn(f->d, "tracker.example", mixed, 2, 60, NULL, &r), -EINVAL);
	assert_int_equal(r.learned, 99); /* *ret untouched on failure */
	assert_int_equal(gwd_learn(f->d, "ok.example", many, GWD_LEARN_MAX_ADDRS, 60, NULL, &r),
			 0);
	assert_int_equal(r.learned, 1); /* 64 times the same pair */
	longname[GWD_LEARN_MAX_NAME] = '\0';
	assert_int_equal(gwd_learn(f->d, longname, &A, 1, 60, NULL, &r), 0);
}

/* domains.learn is gwd_learn with the request's fields: the reply names
 * the sets and the table's count, and status counts the pairs. */
static void test_api_learn_is_built_on_it(void **state)
{
	struct fix *f = *state;
	struct gwd_api_req req;
	struct gwd_api_err perr;
	const char line[] = "{\"v\":1,\"id\":3,\"cmd\":\"domains.learn\",\"name\":\"a.cdn.example\","
			    "\"addrs\":[\"203.0.113.7\",\"2001:db8::7\"],\"ttl\":300}";
	assert_int_equal(gwd_api_parse(line, strlen(line), &req, &perr), 0);
	struct gwd_peer peer = { .uid = 0, .may_change = true, .user = "root" };
	struct gwd_result res;
	gwd_run(f->d, &req, &peer, &res);
	assert_null(res.code);
	json_t *sets = json_object_get(res.fields, "sets");
	assert_int_equal(json_array_size(sets), 1);
	assert_string_equal(json_string_value(json_array_get(sets, 0)), "trackers");
	assert_int_equal(json_integer_value(json_object_get(res.fields, "learned")), 2);
	assert_int_equal(json_array_size(json_object_get(res.fields, "engines")), 0);
	gwd_result_clear(&res);
	gwd_api_req_free(&req);
	struct gwd_learn_result r;
	assert_int_equal(gwd_learn(f->d, "a.cdn.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(r.learned, 2);
	struct gwd_api_req st = { .cmd = GWD_CMD_STATUS };
	gwd_run(f->d, &st, &peer, &res);
	assert_null(res.code);
	assert_int_equal(json_integer_value(json_object_get(res.fields, "domains_learned")), 2);
	gwd_result_clear(&res);
}

/* Two engines of the test's own beside the file engine, to see the order
 * gwd_learn tells them in: "split" takes the addresses in two halves
 * (set_domains_start/finish, as the dataplane engine does), "plain" in
 * one call (as eBPF and nft). */
static char calls[8][32];
static unsigned ncalls;
static int split_start_r, split_finish_r;

static void called(const char *what)
{
	if (ncalls < 8)
		snprintf(calls[ncalls++], sizeof(calls[0]), "%s", what);
}

static int plain_set(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n, char *err,
		     size_t errlen)
{
	(void)e, (void)v, (void)n, (void)err, (void)errlen;
	called("plain:set");
	return 0;
}

static int split_set(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n, char *err,
		     size_t errlen)
{
	(void)e, (void)v, (void)n, (void)err, (void)errlen;
	called("split:set");
	return 0;
}

static int split_start(struct gwd_engine *e, const struct gwd_domain_entry *v, size_t n,
		       char *err, size_t errlen)
{
	(void)e, (void)v, (void)n;
	called("split:start");
	if (split_start_r)
		snprintf(err, errlen, "start refused");
	return split_start_r;
}

static int split_finish(struct gwd_engine *e, char *err, size_t errlen)
{
	(void)e;
	called("split:finish");
	if (split_finish_r)
		snprintf(err, errlen, "no answer");
	return split_finish_r;
}

static const struct gwd_engine_ops split_ops = { .name = "split", .set_domains = split_set,
						 .set_domains_start = split_start,
						 .set_domains_finish = split_finish };
static const struct gwd_engine_ops plain_ops = { .name = "plain", .set_domains = plain_set };

/* The two-halves engine's request goes out first and its answer is read
 * last, after the one-call engine: the round trip overlaps the others'
 * updates.  A failed half is that engine's failure and no other's. */
static void test_learn_overlaps_a_round_trip(void **state)
{
	struct fix *f = *state;
	struct gwd *d = f->d;
	size_t had = d->nengines;
	assert_true(had + 2 <= GWD_MAX_ENGINES);
	struct gwd_engine split = { .ops = &split_ops, .generation = d->st.generation };
	struct gwd_engine plain = { .ops = &plain_ops, .generation = d->st.generation };
	d->engines[d->nengines++] = &split;
	d->engines[d->nengines++] = &plain;
	struct gwd_learn_result r;

	ncalls = 0;
	split_start_r = split_finish_r = 0;
	assert_int_equal(gwd_learn(d, "tracker.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(ncalls, 3);
	assert_string_equal(calls[0], "split:start");
	assert_string_equal(calls[1], "plain:set");
	assert_string_equal(calls[2], "split:finish");
	assert_int_equal(r.nengines, 2);
	assert_string_equal(r.engines[0].name, "split");
	assert_true(r.engines[0].ok);
	assert_string_equal(r.engines[1].name, "plain");
	assert_true(r.engines[1].ok);
	assert_int_equal(r.nfailed, 0);

	ncalls = 0;
	split_finish_r = -EHOSTDOWN;
	assert_int_equal(gwd_learn(d, "tracker.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(ncalls, 3);
	assert_false(r.engines[0].ok);
	assert_string_equal(r.engines[0].error, "no answer");
	assert_true(r.engines[1].ok);
	assert_int_equal(r.nfailed, 1);

	/* A start that fails: no finish, and no second try in one call. */
	ncalls = 0;
	split_start_r = -EHOSTDOWN;
	split_finish_r = 0;
	assert_int_equal(gwd_learn(d, "tracker.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0], "split:start");
	assert_string_equal(calls[1], "plain:set");
	assert_false(r.engines[0].ok);
	assert_string_equal(r.engines[0].error, "start refused");
	assert_int_equal(r.nfailed, 1);

	/* An engine behind the current generation is told nothing. */
	ncalls = 0;
	split_start_r = 0;
	split.generation = d->st.generation + 1;
	assert_int_equal(gwd_learn(d, "tracker.example", &A, 1, 60, NULL, &r), 0);
	assert_int_equal(ncalls, 1);
	assert_string_equal(calls[0], "plain:set");
	assert_false(r.engines[0].ok);
	assert_int_equal(r.nfailed, 1);
	d->nengines = had;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_learn_sets_and_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_refuses_bad_arguments, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_api_learn_is_built_on_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_learn_overlaps_a_round_trip, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
