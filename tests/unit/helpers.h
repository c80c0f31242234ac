/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the unit tests: compile policy text to a loaded IR. */
#ifndef GW_TEST_HELPERS_H
#define GW_TEST_HELPERS_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "eval.h"
#include "image.h"
#include "policy.h"

/* Compile text; fail the test (printing diagnostics) unless it is valid. */
static inline struct pol_ir *compile_ok(const char *text)
{
	struct pol_unit *u = NULL;
	assert_int_equal(pol_compile("test.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	if (pol_unit_errors(u)) {
		pol_unit_render_diags(u, stderr);
		fail_msg("policy did not compile");
	}
	const void *img;
	size_t size;
	assert_int_equal(pol_unit_image(u, &img, &size), 0);
	struct pol_ir *ir = NULL;
	char err[256] = "";
	int r = pol_image_load(img, size, &ir, err, sizeof(err));
	if (r)
		fail_msg("image does not load: %s", err);
	pol_unit_free(u);
	return ir;
}

/* Compile text expected to be invalid; return the rendered diagnostics
 * (malloc'd) and the error count. */
static inline char *compile_diags(const char *text, unsigned *ret_errors)
{
	struct pol_unit *u = NULL;
	assert_int_equal(pol_compile("test.gw", text, strlen(text), POL_F_NO_FILES, &u), 0);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	pol_unit_render_diags(u, f);
	fclose(f);
	*ret_errors = pol_unit_errors(u);
	pol_unit_free(u);
	return buf;
}

#define assert_contains(hay, needle)                                              \
	do {                                                                          \
		if (!strstr((hay), (needle)))                                         \
			fail_msg("expected to find \"%s\" in:\n%s", (needle), (hay)); \
	} while (0)

#endif
