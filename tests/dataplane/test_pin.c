/* SPDX-License-Identifier: MIT */
/*
 * The fast path's schedule pin with a lifetime (classify.h dp_classify_pin
 * and dp_classify_pin_expire, what SET_ACTIVE_FOR does): a pinned mask
 * overrides the clock until its end; the same mask again only moves the
 * end (no new generation: flows stay decided); at the end the mask follows
 * the clock again under a new generation.  No DPDK: classify.c alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"
#include "eval.h"
#include "image.h"
#include "policy.h"
#include "gwtest.h"

static const char POLICY[] = "timezone \"UTC\"\n"
			     "device tv mac 02:00:00:00:00:09\n"
			     "schedule night daily 21:00-07:00\n"
			     "rule tv_night block device tv during night\n"
			     "default allow\n";

static struct dp_classify *load(void)
{
	struct pol_ir *ir = gwtest_policy_ir("t.gw", POLICY);
	assert_non_null(ir);
	struct dp_classify *c = NULL;
	assert_int_equal(dp_classify_new(ir, 1, &c), 0);
	return c;
}

/* The verdict of the tv's first packet to somewhere on the internet. */
static uint8_t action(struct dp_classify *c)
{
	struct dp_classify_in in = { .mac = { 2, 0, 0, 0, 0, 9 }, .family = 4, .proto = 6,
				     .dport = 443, .dst = { 198, 51, 100, 7 } };
	struct dp_verdict v;
	dp_classify_flow(c, &in, &v);
	return v.action;
}

static void test_pin_lifetime(void **state)
{
	struct dp_classify *c = load();
	const struct pol_when noon = { .wday = 2, .minute = 12 * 60 };
	const struct pol_when late = { .wday = 2, .minute = 23 * 60 };
	dp_classify_set_when(c, noon);
	assert_int_equal(action(c), POL_ALLOW);
	uint64_t on = 1, off = 0;
	/* Pinned on until 1000 ms: the clock no longer moves it. */
	assert_int_equal(dp_classify_pin(c, &on, 1, 1000, 5), 1);
	assert_true(dp_classify_pinned(c));
	assert_int_equal(dp_classify_generation(c), 5);
	assert_int_equal(action(c), POL_BLOCK);
	dp_classify_set_when(c, noon);
	assert_int_equal(action(c), POL_BLOCK);
	/* The same mask: only the end moves, the generation stays. */
	assert_int_equal(dp_classify_pin(c, &on, 1, 3000, 6), 0);
	assert_int_equal(dp_classify_generation(c), 5);
	assert_false(dp_classify_pin_expire(c, 2000, noon, 7));
	assert_true(dp_classify_pinned(c));
	/* Another mask: a new generation. */
	assert_int_equal(dp_classify_pin(c, &off, 1, 3000, 7), 1);
	assert_int_equal(dp_classify_generation(c), 7);
	assert_int_equal(action(c), POL_ALLOW);
	/* The end comes: the clock's mask (23:00, the night) under a new
	 * generation, and the clock drives it again. */
	assert_true(dp_classify_pin_expire(c, 3000, late, 8));
	assert_false(dp_classify_pinned(c));
	assert_int_equal(dp_classify_generation(c), 8);
	assert_int_equal(action(c), POL_BLOCK);
	dp_classify_set_when(c, noon);
	assert_int_equal(action(c), POL_ALLOW);
	assert_false(dp_classify_pin_expire(c, 9000, noon, 9));
	/* SET_ACTIVE's pin has no end. */
	assert_int_equal(dp_classify_set_active(c, &on, 1, 9), 0);
	assert_false(dp_classify_pin_expire(c, UINT64_MAX, noon, 10));
	assert_int_equal(action(c), POL_BLOCK);
	/* A mask for another rule count is refused. */
	assert_int_equal(dp_classify_pin(c, &on, 2, 1, 11), -ESTALE);
	dp_classify_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pin_lifetime),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
