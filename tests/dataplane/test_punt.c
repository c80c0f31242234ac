/* SPDX-License-Identifier: MIT */
/*
 * The punt path's policers (dataplane/punt.h) on a made-up clock: one
 * source flooding a class gets its share and no more while other sources
 * of the class still pass, also those whose hash lands on its cell;
 * many sources together get the class's rate;
 * the LAN's and the WAN's limits and the classes are apart; and
 * --punt-rate's parsing.  No DPDK.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "punt.h"

#define HZ 1000000000ull /* the clock counts nanoseconds */

static struct dp_police *make(void)
{
	struct dp_police *p;
	assert_int_equal(dp_police_new(dp_punt_default, HZ, &p), 0);
	return p;
}

/* Packets of source src that pass over [t0, t0 + seconds) at pps. */
static unsigned offer(struct dp_police *p, unsigned role, enum dp_punt why, uint32_t src,
		      uint64_t t0, double seconds, unsigned pps, unsigned *ret_class_drops)
{
	unsigned passed = 0, cls = 0;
	uint64_t step = HZ / pps, n = (uint64_t)(seconds * pps);
	for (uint64_t i = 0; i < n; i++) {
		enum dp_drop d = dp_police_check(p, role, why, src, t0 + i * step);
		passed += d == DP_DROP_COUNT;
		cls += d == DP_DROP_PUNT_LIMIT;
	}
	if (ret_class_drops)
		*ret_class_drops = cls;
	return passed;
}

static void test_source_share(void **state)
{
	(void)state;
	struct dp_police *p = make();
	/* One device floods ARP at 100,000 a second for 10 s: its share is
	 * 50 a second (after a burst of 16), none of it taken from the
	 * class, which everyone else shares: meanwhile 50 other devices ARP
	 * once a second each, and every one of theirs passes. */
	unsigned got = 0, cls = 0, others = 0;
	for (uint64_t t = 0; t < 10 * HZ; t += 10000) {
		enum dp_drop d = dp_police_check(p, 0, DP_PUNT_ARP, 7, t);
		got += d == DP_DROP_COUNT;
		cls += d == DP_DROP_PUNT_LIMIT;
		if (t % HZ < 50 * 10000) {
			uint32_t other = 100 + (uint32_t)(t % HZ / 10000);
			assert_int_equal(dp_police_check(p, 0, DP_PUNT_ARP, other, t + 1),
					 DP_DROP_COUNT);
			others++;
		}
	}
	assert_int_equal(others, 500);
	assert_true(got >= 10 * 50 && got <= 10 * 50 + 16 + 1);
	assert_int_equal(cls, 0);
	/* The flood has no burst left: of two packets at once, the second
	 * is over its share. */
	dp_police_check(p, 0, DP_PUNT_ARP, 7, 10 * HZ);
	assert_int_equal(dp_police_check(p, 0, DP_PUNT_ARP, 7, 10 * HZ), DP_DROP_PUNT_SOURCE_LIMIT);
	dp_police_free(p);
}

/* Sources share cells (a keyed hash into 1024): a device whose hash
 * lands on the flooder's cell must still get its ARP through.  Each
 * source has two cells, at its hash's bits 0-9 and 10-19. */
static void test_source_collision(void **state)
{
	(void)state;
	struct dp_police *p = make();
	/* The flooder (cells 5 and 1) and a device sharing its first cell
	 * (cells 5 and 2): the flood at 100,000 a second for 10 s, the
	 * device's ARP at 20 a second, every one of which passes. */
	const uint32_t flood = 5 | 1u << 10, device = 5 | 2u << 10;
	unsigned got = 0, dev = 0, dev_passed = 0;
	for (uint64_t t = 0; t < 10 * HZ; t += 10000) {
		got += dp_police_check(p, 0, DP_PUNT_ARP, flood, t) == DP_DROP_COUNT;
		if (t % (HZ / 20) == 0) {
			dev++;
			dev_passed += dp_police_check(p, 0, DP_PUNT_ARP, device, t + 1) ==
				      DP_DROP_COUNT;
		}
	}
	assert_int_equal(dev, 200);
	assert_int_equal(dev_passed, 200);
	/* The flooder still gets no more than its share (and burst). */
	assert_true(got >= 10 * 50 - 30 && got <= 10 * 50 + 16 + 1);
	/* A source alone gets its whole burst of 16 at once (a GCRA cell
	 * lets one more through), and no more. */
	unsigned burst = 0;
	for (int i = 0; i < 40; i++)
		burst += dp_police_check(p, 0, DP_PUNT_ARP, 77 | 77u << 10, 11 * HZ) == DP_DROP_COUNT;
	assert_true(burst >= 16 && burst <= 16 + 2);
	dp_police_free(p);
}

static void test_class_rate(void **state)
{
	(void)state;
	struct dp_police *p = make();
	/* Sources spread over every cell, each under its share: together
	 * they get the class's 1000 a second (and its burst of 100). */
	unsigned passed = 0, cls = 0;
	const unsigned pps = 20000;
	for (uint64_t i = 0; i < 5 * pps; i++) {
		enum dp_drop d = dp_police_check(p, 1, DP_PUNT_DHCP, (uint32_t)i, i * (HZ / pps));
		passed += d == DP_DROP_COUNT;
		cls += d == DP_DROP_PUNT_LIMIT;
	}
	/* DHCP: 500 a second, a burst of 50. */
	assert_true(passed >= 5 * 500 && passed <= 5 * 500 + 50 + 1);
	assert_true(cls > 0);
	/* The other role and another class are untouched. */
	assert_int_equal(dp_police_check(p, 0, DP_PUNT_DHCP, 1, 5 * HZ), DP_DROP_COUNT);
	assert_int_equal(dp_police_check(p, 1, DP_PUNT_ARP, 1, 5 * HZ), DP_DROP_COUNT);
	dp_police_free(p);
}

static void test_rates(void **state)
{
	(void)state;
	struct dp_punt_rate r[DP_PUNT_COUNT];
	char err[160];
	memcpy(r, dp_punt_default, sizeof(r));
	assert_int_equal(dp_punt_rate_parse("gateway=100/10", r, err, sizeof(err)), 0);
	assert_int_equal(r[DP_PUNT_GATEWAY].pps, 100);
	assert_int_equal(r[DP_PUNT_GATEWAY].src_pps, 10);
	assert_int_equal(r[DP_PUNT_ARP].pps, dp_punt_default[DP_PUNT_ARP].pps);
	assert_int_equal(dp_punt_rate_parse("nd=0/0", r, err, sizeof(err)), 0);
	assert_int_equal(dp_punt_rate_parse("arp=10", r, err, sizeof(err)), -EINVAL);
	assert_int_equal(dp_punt_rate_parse("bogus=10/1", r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a punt class"));
	assert_int_equal(dp_punt_rate_parse("arp=10/20", r, err, sizeof(err)), -EINVAL);
	assert_int_equal(dp_punt_rate_parse("arp=1x/1", r, err, sizeof(err)), -EINVAL);
	assert_int_equal(dp_punt_rate_parse("arp=/1", r, err, sizeof(err)), -EINVAL);
	/* A rate of 0: nothing of the class passes. */
	struct dp_police *p;
	assert_int_equal(dp_police_new(r, HZ, &p), 0);
	assert_int_not_equal(dp_police_check(p, 0, DP_PUNT_ND, 1, 0), DP_DROP_COUNT);
	/* The gateway class at 100 a second, 10 per source. */
	unsigned got = offer(p, 0, DP_PUNT_GATEWAY, 3, 0, 2.0, 1000, NULL);
	assert_true(got >= 20 && got <= 20 + 16 + 1);
	dp_police_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_share),
		cmocka_unit_test(test_source_collision),
		cmocka_unit_test(test_class_rate),
		cmocka_unit_test(test_rates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
