/* SPDX-License-Identifier: MIT */
/*
 * The rate limits' shaper (dataplane/shaper.c) on a real EAL, with a
 * made-up clock: a burst leaves at once, then packets are held and leave
 * spaced at the rate, what would wait past the queue's limit is dropped;
 * held packets come back in order of departure; two workers' shapers on
 * one shared clock give one rate, not two (a device whose flows are on
 * two workers); a new rate applies at the next packet; a full heap drops.
 * Skips (77) where EAL cannot start (fails under GW_TEST_STRICT=1).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_cycles.h>
#include <rte_eal.h>

#include "gwtest.h"
#include "shaper.h"

static const struct dp_rate_key key = { .rule = 3, .device = 1, .dir = 0 };

/* tsc cycles for len bytes at rate_bps */
static uint64_t cycles(uint64_t len, uint64_t rate_bps)
{
	return len * 8 * rte_get_tsc_hz() / rate_bps;
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct dp_shaper *s;
	assert_int_equal(dp_shaper_new("t_shape1", 16, 1024, NULL, 0, &s), 0);
	const uint64_t rate = 8000000; /* 1 MB/s: the burst is 50 ms, 50 000 bytes */
	uint64_t t0 = 1ull << 40, when = 0, last = 0;
	unsigned sent = 0, held = 0, dropped = 0;
	/* 200 packets of 1000 bytes at once: 50 go (the burst), 100 more
	 * fit the queue's 100 ms, the rest are dropped. */
	for (int i = 0; i < 200; i++) {
		switch (dp_shaper_admit(s, &key, rate, 1000, t0, 0, &when)) {
		case DP_SHAPE_SEND:
			sent++;
			break;
		case DP_SHAPE_HOLD:
			if (held)
				assert_true(when > last);
			last = when;
			held++;
			assert_true(dp_shaper_hold(s, when, (void *)(uintptr_t)(i + 1), 1, 2));
			break;
		case DP_SHAPE_DROP:
			dropped++;
			break;
		}
	}
	assert_in_range(sent, 49, 51);
	assert_in_range(held, 99, 101);
	assert_int_equal(sent + held + dropped, 200);
	/* The last held one leaves 100 ms on: the rate. */
	assert_true(last - t0 <= cycles(100000, rate) + cycles(1000, rate));
	assert_true(last - t0 >= cycles(100000, rate) - cycles(2000, rate));
	/* They come back in order, when their time has come. */
	void *pk[64];
	uint8_t a[64], b[64];
	assert_int_equal(dp_shaper_due(s, t0, pk, a, b, 64), 0);
	unsigned n = dp_shaper_due(s, t0 + cycles(10000, rate), pk, a, b, 64);
	assert_in_range(n, 9, 11);
	for (unsigned i = 1; i < n; i++)
		assert_true((uintptr_t)pk[i] == (uintptr_t)pk[i - 1] + 1);
	assert_int_equal(a[0], 1);
	assert_int_equal(b[0], 2);
	assert_int_equal(dp_shaper_held(s), held - n);
	unsigned rest = 0, left = dp_shaper_held(s);
	while ((n = dp_shaper_due(s, UINT64_MAX, pk, a, b, 64)))
		rest += n;
	assert_int_equal(rest, left);
	assert_int_equal(dp_shaper_held(s), 0);
	assert_true(dp_shaper_next(s) == UINT64_MAX);
	/* Idle for a second: a burst again, not a second's worth. */
	unsigned again = 0;
	for (int i = 0; i < 200; i++)
		again += dp_shaper_admit(s, &key, rate, 1000, t0 + rte_get_tsc_hz() * 2, 0, &when) ==
			 DP_SHAPE_SEND;
	assert_in_range(again, 49, 51);
	dp_shaper_free(s);
}

/* Two workers' shapers on one clock: packets of one key admitted on
 * either, alternately, over a simulated second leave at the rate of one
 * key, not twice it (until 2026-11 the meters were per worker). */
static void test_shared(void **state)
{
	(void)state;
	struct dp_rates *r;
	struct dp_shaper *w[2];
	assert_int_equal(dp_rates_new("t_rates", 64, 0, &r), 0);
	assert_int_equal(dp_shaper_new("t_shape_w0", 16, 4096, r, 0, &w[0]), 0);
	assert_int_equal(dp_shaper_new("t_shape_w1", 16, 4096, r, 0, &w[1]), 0);
	const uint64_t rate = 10000000, hz = rte_get_tsc_hz(); /* 1.25 MB/s */
	uint64_t t0 = 1ull << 40, bytes = 0, when;
	/* Offered: 4 MB/s in 1500-byte packets, a millisecond at a time. */
	for (uint64_t ms = 0; ms < 1000; ms++) {
		uint64_t now = t0 + ms * hz / 1000;
		for (int k = 0; k < 3; k++) {
			struct dp_shaper *s = w[(ms + k) % 2];
			void *pk[64];
			uint8_t a[64], b[64];
			while (dp_shaper_due(s, now, pk, a, b, 64))
				;
			enum dp_shape v = dp_shaper_admit(s, &key, rate, 1500, now, ms, &when);
			if (v == DP_SHAPE_HOLD)
				assert_true(dp_shaper_hold(s, when, NULL, 0, 0));
			if (v != DP_SHAPE_DROP && (v == DP_SHAPE_SEND || when < t0 + hz))
				bytes += 1500;
		}
	}
	/* What left within the second: the rate and the burst (62 500). */
	double got = (double)bytes, want = (double)rate / 8 + 62500;
	printf("shared: %.0f bytes left in a second, one rate allows %.0f\n", got, want);
	assert_true(got <= want + 3000);
	assert_true(got >= want - 3000);
	dp_shaper_free(w[0]);
	dp_shaper_free(w[1]);
	dp_rates_free(r);
}

/* A new rate applies at the next packet; a full heap drops. */
static void test_rate_change_and_full(void **state)
{
	(void)state;
	struct dp_shaper *s;
	assert_int_equal(dp_shaper_new("t_shape3", 16, 4, NULL, 0, &s), 0);
	uint64_t t0 = 1ull << 40, when;
	const uint64_t slow = 800000; /* 100 kB/s: burst 5000 bytes, queue 200 ms = 20 000 */
	int held = 0, v;
	for (int i = 0; i < 5; i++)
		assert_int_equal(dp_shaper_admit(s, &key, slow, 1000, t0, 0, &when), DP_SHAPE_SEND);
	for (int i = 0; i < 4; i++) {
		v = dp_shaper_admit(s, &key, slow, 1000, t0, 0, &when);
		assert_int_equal(v, DP_SHAPE_HOLD);
		assert_true(dp_shaper_hold(s, when, NULL, 0, 0));
		held++;
	}
	/* The heap (4) is full: dropped though the queue has room. */
	assert_int_equal(dp_shaper_admit(s, &key, slow, 1000, t0, 0, &when), DP_SHAPE_DROP);
	struct dp_shaper_stats st;
	dp_shaper_stats(s, &st);
	assert_int_equal(st.heap_full, 1);
	assert_int_equal(st.sent, 5);
	assert_int_equal(st.held, 4);
	assert_false(dp_shaper_hold(s, when, NULL, 0, 0));
	/* A much higher rate, 100 ms on: the next packet goes at once (the
	 * clock's queue ends 40 ms on, and a packet costs 10 us now). */
	void *pk[8];
	uint8_t a[8], b[8];
	assert_int_equal(dp_shaper_due(s, UINT64_MAX, pk, a, b, 8), 4);
	v = dp_shaper_admit(s, &key, 800000000ull, 1000, t0 + rte_get_tsc_hz() / 10, 100, &when);
	assert_int_equal(v, DP_SHAPE_SEND);
	dp_shaper_free(s);
}

int main(void)
{
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-shaper-%d", (int)getpid());
	char *eal[] = { "test_dp_shaper", "--no-huge", "-m", "128", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", prefix, NULL };
	if (rte_eal_init(10, eal) < 0)
		return gwtest_cannot_run("EAL cannot start here");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_shared),
		cmocka_unit_test(test_rate_change_and_full),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	gwtest_remove_dpdk_runtime(prefix + strlen("--file-prefix="));
	return r;
}
