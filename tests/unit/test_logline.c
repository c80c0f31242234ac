/* SPDX-License-Identifier: MIT */
/*
 * gw's log line (policy/logline.c), as gwd and gw-dataplane write it: a
 * value that is a plain word stays bare, anything else is quoted with
 * \-escapes so the line stays one line and one parse (spaces, quotes,
 * backslashes, newlines, '=' and control bytes in a name or a message); a
 * long value is cut and still closed; the line is "t=<UTC> event=E" and
 * the rest, written whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "logline.h"

static void value(const char *in, const char *want)
{
	char buf[GW_LOG_VALUE];
	assert_string_equal(gw_log_value(buf, sizeof(buf), in), want);
}

static void test_values(void **state)
{
	(void)state;
	value("gw-lan", "gw-lan");
	value("/run/gw/dp.sock", "/run/gw/dp.sock");
	value("192.168.1.1/24", "192.168.1.1/24");
	value("02:00:00:00:00:0a", "02:00:00:00:00:0a");
	value("", "\"\"");
	value(NULL, "\"\"");
	value("two words", "\"two words\"");
	value("a=b", "\"a=b\"");
	value("say \"hi\"", "\"say \\\"hi\\\"\"");
	value("back\\slash", "\"back\\\\slash\"");
	value("line\nbreak", "\"line\\x0abreak\"");
	value("tab\tx\x7f", "\"tab\\x09x\\x7f\"");
	/* Cut to the buffer, still quoted and terminated. */
	char small[8];
	assert_string_equal(gw_log_value(small, sizeof(small), "a long message"), "\"a\"");
	char tiny[2];
	assert_string_equal(gw_log_value(tiny, sizeof(tiny), "x y"), "");
}

static void test_line(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fds[1], 2), 2);
	char v[GW_LOG_VALUE];
	gw_log("twin_up", "role=lan name=%s", gw_log_value(v, sizeof(v), "my twin"));
	gw_log("start", NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	char out[512] = "";
	ssize_t n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	assert_true(n > 0);
	out[n] = '\0';
	/* t=YYYY-MM-DDTHH:MM:SSZ event=... */
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_int_equal(strlen("t=2026-11-27T05:10:00Z "), 23);
	assert_memory_equal(out, "t=", 2);
	assert_int_equal(out[12], 'T');
	assert_int_equal(out[21], 'Z');
	assert_string_equal(out + 23, "event=twin_up role=lan name=\"my twin\"");
	char *second = nl + 1;
	nl = strchr(second, '\n');
	assert_non_null(nl);
	*nl = '\0';
	assert_string_equal(second + 23, "event=start");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
