/* SPDX-License-Identifier: MIT */
/* NFLOG messages of the nft engine's log rules (control/nflog.c): the
 * fuzz corpus's seeds (tests/fuzz/corpus/nflog, the folder is argv[1])
 * read as the kernel sends them, and the broken ones refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gwtest.h"
#include "ir.h"
#include "nflog.h"

static const char *dir;

static size_t seed(const char *name, uint8_t *buf, size_t cap)
{
	long n = gwtest_read_seed(dir, name, buf, cap);
	assert_true(n >= 0);
	return (size_t)n;
}

static void test_good(void **state)
{
	uint8_t b[512];
	struct gwd_nflog_rec r;
	size_t n = seed("ipv4-tcp-block", b, sizeof(b));
	assert_int_equal(gwd_nflog_parse(b, n, &r), 0);
	assert_int_equal(r.gen, 5);
	assert_int_equal(r.rule, 4);
	assert_int_equal(r.action, POL_BLOCK);
	assert_true(r.has_mac);
	assert_memory_equal(r.mac, "\x5e\x91\x2b\xd0\x7c\x44", 6);
	assert_int_equal(r.family, 4);
	assert_int_equal(r.proto, 6);
	assert_memory_equal(r.src, "\xc0\xa8\x32\x0a", 4);
	assert_memory_equal(r.dst, "\xcb\x00\x71\x50", 4);
	assert_int_equal(r.sport, 40000);
	assert_int_equal(r.dport, 80);
	n = seed("ipv6-udp-allow", b, sizeof(b));
	assert_int_equal(gwd_nflog_parse(b, n, &r), 0);
	assert_int_equal(r.action, POL_ALLOW);
	assert_int_equal(r.family, 6);
	assert_int_equal(r.proto, 17);
	assert_int_equal(r.dport, 53);
	n = seed("ipv4-no-hwaddr-reject", b, sizeof(b));
	assert_int_equal(gwd_nflog_parse(b, n, &r), 0);
	assert_int_equal(r.action, POL_REJECT);
	assert_false(r.has_mac);
}

static void test_bad(void **state)
{
	static const char *const names[] = {
		"bad-prefix-not-gw", "bad-no-payload", "bad-cut-ipv4", "bad-ihl-past-payload",
		"bad-length-lies",
	};
	uint8_t b[512];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct gwd_nflog_rec r;
		memset(&r, 0x77, sizeof(r));
		size_t n = seed(names[i], b, sizeof(b));
		assert_int_equal(gwd_nflog_parse(b, n, &r), -EINVAL);
		assert_int_equal(r.gen, 0x77777777u); /* untouched */
	}
	/* Every cut of a good message: refused or read, never past it. */
	size_t n = seed("ipv6-udp-allow", b, sizeof(b));
	for (size_t cut = 0; cut < n; cut++) {
		struct gwd_nflog_rec r;
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, b, cut);
		int e = gwd_nflog_parse(copy, cut, &r);
		assert_true(e == 0 || e == -EINVAL);
		free(copy);
	}
}

int main(int argc, char **argv)
{
	dir = argc > 1 ? argv[1] : "tests/fuzz/corpus/nflog";
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
