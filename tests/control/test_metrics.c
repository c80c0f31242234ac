/* SPDX-License-Identifier: MIT */
/*
 * gwd's metrics page (control/metrics.c): every counter gw-dns reports
 * (dns/stats.h) lands in a family of its own name, none in the catch-all
 * gw_dns_other_total; a name gw-dns might add later does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"
#include "../dns/stats.h" /* gw-dns's (dataplane/ has a stats.h too) */

static void test_every_dns_counter_has_a_family(void **state)
{
	(void)state;
	unsigned n = 0;
	for (unsigned i = 0; gwdns_counter_name(i); i++, n++) {
		const char *name = gwdns_counter_name(i);
		if (gwd_metrics_dns_family(name) < 0)
			fail_msg("gw-dns's counter %s has no metrics family (gw_dns_other_total)", name);
	}
	assert_int_equal(n, GWDNS_C_COUNT);
}

static void test_unknown_and_partial_names(void **state)
{
	(void)state;
	/* Not gw-dns's (yet): the catch-all. */
	assert_int_equal(gwd_metrics_dns_family("quantum.entangled"), -1);
	/* A prefix family takes one more label, not none and not two. */
	assert_int_equal(gwd_metrics_dns_family("query."), -1);
	assert_int_equal(gwd_metrics_dns_family("query.udp.extra"), -1);
	assert_true(gwd_metrics_dns_family("query.udp") >= 0);
	/* answer.truncated has its own family, not answers{source="truncated"}. */
	assert_int_not_equal(gwd_metrics_dns_family("answer.truncated"),
			     gwd_metrics_dns_family("answer.local"));
	/* upstream.drop.* are the upstream's drops, not the clients' drop.*. */
	assert_int_not_equal(gwd_metrics_dns_family("upstream.drop.id"),
			     gwd_metrics_dns_family("drop.malformed"));
	assert_true(gwd_metrics_dns_family("upstream.drop.id") >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_dns_counter_has_a_family),
		cmocka_unit_test(test_unknown_and_partial_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
