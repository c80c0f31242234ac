/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: `gwctl policy diff` over a policy image from anywhere
 * (gwctl decodes the running generation's image from gwd's reply).  An
 * image that loads goes through pol_diff_new against itself and against a
 * small fixed policy, both ways, and through the text printer: whatever
 * loads must diff without a crash, a leak or an out-of-bounds read.
 * The checksum is recomputed as fuzz_image.c does (unless the low bit of
 * the header's pad is set), so mutations reach the tables.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "image.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char REF[] =
	"person sarah\ngroup kids\n"
	"device laptop mac 02:00:00:00:00:01 owner sarah group kids\n"
	"list ads domains { ads.example *.doubleclick.net }\n"
	"schedule night daily 22:00-06:00\n"
	"rule r1 block group kids to list ads during night log\n"
	"rule r2 allow device laptop to internet proto tcp port 443 rate 10mbit\n"
	"default block\n";

static struct pol_ir *reference(void)
{
	static struct pol_ir *ref;
	if (ref)
		return ref;
	struct pol_unit *u;
	const void *img;
	size_t n;
	char err[256];
	if (pol_compile("ref.gw", REF, strlen(REF), POL_F_NO_FILES, &u) < 0 ||
	    pol_unit_image(u, &img, &n) < 0 || pol_image_load(img, n, &ref, err, sizeof(err)) < 0)
		abort();
	pol_unit_free(u);
	return ref;
}

static void diff(const struct pol_ir *a, const struct pol_ir *b, FILE *out)
{
	struct pol_diff *d;
	if (pol_diff_new(a, b, &d) < 0)
		return;
	for (size_t i = 0; i < pol_diff_count(d); i++) {
		const struct pol_diff_entry *e = pol_diff_entry(d, i);
		for (size_t j = 0; j < e->nfields; j++)
			if (!e->fields[j].from || !e->fields[j].to)
				abort();
	}
	pol_diff_print(d, out);
	pol_diff_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *sink;
	if (!sink && !(sink = fopen("/dev/null", "w")))
		abort();
	const size_t at = offsetof(struct pol_image_header, checksum);
	const size_t pad = offsetof(struct pol_image_header, pad);
	uint8_t *copy = NULL;
	const void *img = data;
	if (size > pad && !(data[pad] & 1)) {
		copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		memset(copy + at, 0, 4);
		uint32_t crc = pol_crc32(copy, size, 0);
		for (int i = 0; i < 4; i++)
			copy[at + i] = (uint8_t)(crc >> (8 * i));
		img = copy;
	}
	struct pol_ir *ir;
	char err[256];
	if (pol_image_load(img, size, &ir, err, sizeof(err)) == 0) {
		diff(ir, ir, sink);
		diff(ir, reference(), sink);
		diff(reference(), ir, sink);
		pol_ir_free(ir);
	}
	free(copy);
	return 0;
}
