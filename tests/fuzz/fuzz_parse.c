/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: policy text from anywhere (gwctl reads it from a socket)
 * through the whole compiler.
 *
 * Every input is compiled without files (POL_F_NO_FILES: no include, no
 * list file) and its diagnostics rendered.  A policy that compiles must also
 * keep the compiler's promises, or the target aborts:
 *   - its image loads (pol_image_load) and every reader is safe on it and
 *     agrees with the others (readers.c);
 *   - the canonical form (pol_unit_print) compiles without errors to the
 *     same image, byte for byte, and prints the same text again.
 * Everything is freed, so a leak is reported as one.  Time zone names are
 * checked against /usr/share/zoneinfo (or $TZDIR) by the compiler.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "policy.h"
#include "readers.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *null_out; /* diagnostics go nowhere, but all the way */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	null_out = fopen("/dev/null", "w");
	if (!null_out)
		abort();
	return 0;
}

/* A round-trip failure: what the text and its canonical form were. */
static void fail(const char *what, const uint8_t *data, size_t size, const char *printed,
		 const struct pol_unit *again)
{
	fprintf(stderr, "fuzz_parse: %s\n--- input\n%.*s\n--- printed\n%s\n--- printed, compiled\n",
		what, (int)size, (const char *)data, printed);
	if (again)
		pol_unit_render_diags(again, stderr);
	abort();
}

static void read_diags(const struct pol_unit *u)
{
	size_t n = pol_unit_ndiags(u), len = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pol_diag *d = pol_unit_diag(u, i);
		if (!d)
			abort();
		len += strlen(d->message);
		if (d->hint)
			len += strlen(d->hint);
		if (d->loc.file)
			len += strlen(d->loc.file);
		if (d->note_msg)
			len += strlen(d->note_msg);
	}
	if (pol_unit_diag(u, n) != NULL)
		abort();
	fprintf(null_out, "%zu", len);
	pol_unit_render_diags(u, null_out);
}

/* The canonical form of a unit without errors, malloc'd. */
static char *print_unit(const struct pol_unit *u, size_t *ret_len)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		abort();
	if (pol_unit_print(u, f) < 0)
		abort();
	if (fclose(f) != 0)
		abort();
	*ret_len = len;
	return text;
}

static void check_compiled(const struct pol_unit *u, const uint8_t *data, size_t size)
{
	const void *img;
	size_t img_size;
	struct pol_ir *ir = NULL;
	char err[256];
	if (pol_unit_image(u, &img, &img_size) < 0)
		abort();
	if (pol_image_load(img, img_size, &ir, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_parse: compiled image does not load: %s\n", err);
		abort();
	}
	fuzz_read_ir(ir, true);
	for (uint32_t i = 0; i < ir->nrules; i++) {
		struct pol_loc loc;
		if (pol_unit_rule_loc(u, i, &loc) < 0 || !loc.file || !loc.line)
			abort();
	}

	size_t len, len2;
	char *text = print_unit(u, &len);
	struct pol_unit *again = NULL;
	if (pol_compile("fuzz.gw", text, len, POL_F_NO_FILES, &again) < 0)
		goto out; /* out of memory */
	read_diags(again);
	if (pol_unit_errors(again))
		fail("the canonical form does not compile", data, size, text, again);
	const void *img2;
	size_t img2_size;
	if (pol_unit_image(again, &img2, &img2_size) < 0)
		abort();
	if (img2_size != img_size || memcmp(img, img2, img_size) != 0)
		fail("the canonical form compiles to another image", data, size, text, again);
	char *text2 = print_unit(again, &len2);
	if (len2 != len || memcmp(text, text2, len) != 0)
		fail("the canonical form prints differently", data, size, text, again);
	free(text2);
out:
	pol_unit_free(again);
	free(text);
	pol_ir_free(ir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pol_unit *u;
	if (pol_compile("fuzz.gw", (const char *)data, size, POL_F_NO_FILES, &u) < 0)
		return 0;
	read_diags(u);
	if (pol_unit_errors(u) == 0) {
		check_compiled(u, data, size);
	} else {
		/* Never a partial policy. */
		const void *img;
		size_t img_size;
		if (pol_unit_image(u, &img, &img_size) == 0 || pol_unit_print(u, null_out) == 0)
			abort();
	}
	pol_unit_free(u);
	return 0;
}
