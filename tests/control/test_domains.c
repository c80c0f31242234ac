/* SPDX-License-Identifier: MIT */
/* gwd's learned-name table: sets under a policy, the union per address,
 * renewal, expiry, the cap, and renumbering under another policy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "domains.h"
#include "eval.h"
#include "policy.h"
#include "gwtest.h"

static struct pol_ir *compile(const char *text)
{
	struct pol_ir *ir = gwtest_policy_ir("t.gw", text);
	assert_non_null(ir);
	return ir;
}

static const uint8_t A4[16] = { 203, 0, 113, 7 };
static const uint8_t B4[16] = { 198, 51, 100, 9 };
static const uint8_t A6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };

static const struct gwd_domain_entry *find(const struct gwd_domain_entry *v, size_t n,
					   uint8_t family, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family && !memcmp(v[i].addr, addr, 16))
			return &v[i];
	return NULL;
}

static void test_sets_union_and_renumbering(void **state)
{
	/* Sets: 0 ads, 1 trackers (sorted by the compiler as it likes: the
	 * bits are checked through pol_domain_sets_of, not assumed). */
	struct pol_ir *one = compile("list ads domains { ads.example }\n"
				     "list trackers domains { tracker.example, *.cdn.example }\n"
				     "rule a block any to list ads\n"
				     "rule t block any to list trackers\n"
				     "default allow\n");
	struct pol_ir *two = compile("list trackers domains { tracker.example }\n"
				     "rule t block any to list trackers\n"
				     "default allow\n");
	uint64_t ads = pol_domain_sets_of(one, "ads.example");
	uint64_t trk = pol_domain_sets_of(one, "tracker.example");
	assert_true(ads && trk && ads != trk);
	assert_int_equal(pol_domain_sets_of(one, "x.cdn.example"), trk);
	struct gwd_domains *t;
	assert_int_equal(gwd_domains_new(16, &t), 0);
	assert_int_equal(gwd_domains_learn(t, "Tracker.Example.", 4, A4, 300, 1000), 0);
	assert_int_equal(gwd_domains_learn(t, "tracker.example", 6, A6, 300, 1000), 0);
	/* Another name on the same address: the union of their sets. */
	assert_int_equal(gwd_domains_learn(t, "ads.example", 4, A4, 600, 1000), 0);
	assert_int_equal(gwd_domains_learn(t, "other.example", 4, B4, 100, 1000), 0);
	assert_int_equal(gwd_domains_count(t), 4);
	struct gwd_domain_entry *v;
	size_t n;
	assert_int_equal(gwd_domains_entries(t, one, 1010, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	const struct gwd_domain_entry *e = find(v, n, 4, A4);
	assert_non_null(e);
	assert_int_equal(e->sets, ads | trk);
	assert_int_equal(e->ttl_s, 590); /* the longest remaining */
	assert_int_equal(find(v, n, 6, A6)->sets, trk);
	assert_int_equal(find(v, n, 4, B4)->sets, 0); /* listed nowhere: removes */
	free(v);
	/* Only one name's addresses, still with every name's sets. */
	assert_int_equal(gwd_domains_entries(t, one, 1010, "tracker.example", &v, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(find(v, n, 4, A4)->sets, ads | trk);
	free(v);
	/* Another policy numbers differently. */
	assert_int_equal(gwd_domains_entries(t, two, 1010, NULL, &v, &n), 0);
	assert_int_equal(find(v, n, 4, A4)->sets, pol_domain_sets_of(two, "tracker.example"));
	assert_int_equal(find(v, n, 4, A4)->sets, 1);
	free(v);
	/* Expiry: at 1100 other.example is gone; at 1300 the trackers; the
	 * ads pair keeps A4 alive until 1600. */
	assert_int_equal(gwd_domains_entries(t, one, 1300, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].sets, ads);
	assert_int_equal(v[0].ttl_s, 300);
	free(v);
	assert_int_equal(gwd_domains_count(t), 1);
	/* Renewal extends, never duplicates. */
	assert_int_equal(gwd_domains_learn(t, "ads.example", 4, A4, 1000, 1300), 0);
	assert_int_equal(gwd_domains_count(t), 1);
	assert_int_equal(gwd_domains_entries(t, NULL, 2000, NULL, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].sets, 0);
	free(v);
	/* What status and metrics show: the pairs not expired. */
	assert_int_equal(gwd_domains_live(t, 2299), 1);
	assert_int_equal(gwd_domains_live(t, 2300), 0);
	assert_int_equal(gwd_domains_entries(t, NULL, 2300, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	gwd_domains_free(t);
	pol_ir_free(one);
	pol_ir_free(two);
}

static void test_cap_and_refusals(void **state)
{
	struct gwd_domains *t;
	assert_int_equal(gwd_domains_new(0, &t), -EINVAL);
	assert_int_equal(gwd_domains_new(3, &t), 0);
	uint8_t a[16] = { 10, 0, 0, 1 };
	for (int i = 0; i < 3; i++) {
		a[3] = (uint8_t)(i + 1);
		assert_int_equal(gwd_domains_learn(t, "n.example", 4, a, (uint32_t)(100 + i), 0), 0);
	}
	/* Full: the one expiring first (10.0.0.1) goes. */
	a[3] = 9;
	assert_int_equal(gwd_domains_learn(t, "n.example", 4, a, 500, 0), 0);
	assert_int_equal(gwd_domains_count(t), 3);
	struct gwd_domain_entry *v;
	size_t n;
	assert_int_equal(gwd_domains_entries(t, NULL, 0, NULL, &v, &n), 0);
	assert_int_equal(n, 3);
	a[3] = 1;
	assert_null(find(v, n, 4, a));
	free(v);
	assert_int_equal(gwd_domains_learn(t, "n.example", 5, a, 5, 0), -EINVAL);
	assert_int_equal(gwd_domains_learn(t, "n.example", 4, a, 0, 0), -EINVAL);
	assert_int_equal(gwd_domains_learn(t, ".", 4, a, 5, 0), -EINVAL);
	gwd_domains_free(t);
	gwd_domains_free(NULL);
}

/* The reverse lookup that names a flow's peer: the name that lives
 * longest, renewals and expiry seen, and still right after entries moved
 * (expired ones pruned, the first to expire evicted at the cap), since a
 * stale index would name the wrong peer. */
static void test_name_of(void **state)
{
	struct gwd_domains *t;
	assert_int_equal(gwd_domains_new(3, &t), 0);
	assert_null(gwd_domains_name_of(t, 4, A4, 0));
	assert_int_equal(gwd_domains_learn(t, "Short.Example.", 4, A4, 10, 0), 0);
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 0), "short.example");
	assert_int_equal(gwd_domains_learn(t, "long.example", 4, A4, 100, 0), 0);
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 0), "long.example");
	/* Renewed past the other: it names the address now. */
	assert_int_equal(gwd_domains_learn(t, "short.example", 4, A4, 200, 0), 0);
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 0), "short.example");
	assert_null(gwd_domains_name_of(t, 4, B4, 0));
	assert_null(gwd_domains_name_of(t, 6, A4, 0));
	assert_int_equal(gwd_domains_learn(t, "v6.example", 6, A6, 150, 0), 0);
	assert_string_equal(gwd_domains_name_of(t, 6, A6, 0), "v6.example");
	/* Full (3): B4 evicts the first to expire, long.example (second):
	 * the last entry, v6.example, moves into its place. */
	assert_int_equal(gwd_domains_learn(t, "b.example", 4, B4, 300, 0), 0);
	assert_string_equal(gwd_domains_name_of(t, 6, A6, 0), "v6.example");
	assert_string_equal(gwd_domains_name_of(t, 4, B4, 0), "b.example");
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 0), "short.example");
	/* Expired: no name, even before anything prunes it. */
	assert_null(gwd_domains_name_of(t, 6, A6, 160));
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 160), "short.example");
	/* A learn at 160 prunes v6.example: b.example moves up. */
	assert_int_equal(gwd_domains_learn(t, "c.example", 6, A6, 10, 160), 0);
	assert_string_equal(gwd_domains_name_of(t, 4, B4, 160), "b.example");
	assert_string_equal(gwd_domains_name_of(t, 4, A4, 160), "short.example");
	assert_string_equal(gwd_domains_name_of(t, 6, A6, 160), "c.example");
	gwd_domains_free(t);
}

/* What `gwctl domains` lists: live pairs by name, then address; a name
 * and what is below it, never a name that merely ends the same way. */
static void test_pairs(void **state)
{
	struct gwd_domains *t;
	struct gwd_domain_pair *v;
	size_t n;
	assert_int_equal(gwd_domains_new(16, &t), 0);
	assert_int_equal(gwd_domains_pairs(t, 0, NULL, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
	assert_int_equal(gwd_domains_learn(t, "WWW.Example.com.", 6, A6, 50, 100), 0);
	assert_int_equal(gwd_domains_learn(t, "www.example.com", 4, B4, 50, 100), 0);
	assert_int_equal(gwd_domains_learn(t, "www.example.com", 4, A4, 20, 100), 0);
	assert_int_equal(gwd_domains_learn(t, "example.com", 4, A4, 300, 100), 0);
	assert_int_equal(gwd_domains_learn(t, "badexample.com", 4, B4, 300, 100), 0);
	assert_int_equal(gwd_domains_learn(t, "a.org", 4, B4, 5, 100), 0);

	assert_int_equal(gwd_domains_pairs(t, 101, NULL, &v, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(v[0].name, "a.org");
	assert_int_equal(v[0].ttl_s, 4);
	assert_string_equal(v[1].name, "badexample.com");
	assert_string_equal(v[2].name, "example.com");
	assert_int_equal(v[2].ttl_s, 299);
	assert_string_equal(v[3].name, "www.example.com");
	assert_int_equal(v[3].family, 4);
	assert_memory_equal(v[3].addr, B4, 16); /* 198.51.100.9 before 203.0.113.7 */
	assert_memory_equal(v[4].addr, A4, 16);
	assert_int_equal(v[5].family, 6);
	free(v);

	/* Under example.com: itself and www, not badexample.com. */
	assert_int_equal(gwd_domains_pairs(t, 101, "Example.COM.", &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "example.com");
	for (size_t i = 1; i < n; i++)
		assert_string_equal(v[i].name, "www.example.com");
	free(v);
	assert_int_equal(gwd_domains_pairs(t, 101, "xample.com", &v, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(gwd_domains_pairs(t, 101, "", &v, &n), -EINVAL);

	/* Expired pairs are gone: a.org at 105, www's IPv4 A4 at 120. */
	assert_int_equal(gwd_domains_pairs(t, 120, NULL, &v, &n), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].name, "badexample.com");
	assert_string_equal(v[2].name, "www.example.com");
	assert_memory_equal(v[2].addr, B4, 16);
	assert_int_equal(v[2].ttl_s, 30);
	free(v);
	gwd_domains_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sets_union_and_renumbering),
		cmocka_unit_test(test_cap_and_refusals),
		cmocka_unit_test(test_name_of),
		cmocka_unit_test(test_pairs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
