/* SPDX-License-Identifier: MIT */
/* How a C test says that this machine cannot run it (see gwtest.h). */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gwtest.h"

int gwtest_cannot_run(const char *fmt, ...)
{
	const char *strict = getenv("GW_TEST_STRICT");
	bool must = strict && strcmp(strict, "1") == 0;
	va_list ap;

	fputs(must ? "FAIL: " : "skipped: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(must ? "; GW_TEST_STRICT=1 says this machine must run it\n" : "\n", stderr);
	return must ? 1 : GWTEST_SKIP;
}
