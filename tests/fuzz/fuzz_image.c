/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: a policy image from anywhere (a file, a socket) through
 * pol_image_load(), then, when it loads, through every reader (readers.c):
 * an image that loads must be safe to read without further checks.
 *
 * The checksum trick.  A CRC-32 over the whole image makes nearly every
 * mutation fail at the checksum, long before the section and table checks
 * that matter.  So unless the low bit of the header's pad field (byte 20,
 * which the loader ignores) is set, the target loads a copy whose checksum
 * field is recomputed (pol_crc32 over the copy with the field zeroed, as
 * ir.h defines it, stored little-endian); with the bit set, the bytes are
 * loaded as they are, so the checksum comparison is fuzzed too.  The seeds
 * have the bit clear: the fuzzer's time goes mostly to the table checks.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The byte-order conversion a big-endian host runs on every load, forced
 * here on a copy: each layout is as long as its entry, and converting twice
 * gives the bytes back. */
static void check_swap(const struct pol_ir *ir)
{
	const void *tabs[POL_SEC_COUNT] = {
		ir->strings, ir->meta, ir->persons, ir->groups, ir->devices, ir->macs,
		ir->prefix_sets, ir->prefixes, ir->domain_sets, ir->domains, ir->schedules,
		ir->windows, ir->rules, ir->subjects, ir->dsts, ir->ports,
	};
	const uint32_t counts[POL_SEC_COUNT] = {
		ir->strings_size, 1, ir->npersons, ir->ngroups, ir->ndevices, ir->nmacs,
		ir->nprefix_sets, ir->nprefixes, ir->ndomain_sets, ir->ndomains, ir->nschedules,
		ir->nwindows, ir->nrules, ir->nsubjects, ir->ndsts, ir->nports,
	};
	uint8_t *copy = malloc(ir->size);
	if (!copy)
		return;
	memcpy(copy, ir->mem, ir->size);
	for (int s = 0; s < POL_SEC_COUNT; s++) {
		if (pol_layout_size(pol_section_layout[s]) != pol_section_entsize[s])
			abort();
		size_t off = (size_t)((const uint8_t *)tabs[s] - (const uint8_t *)ir->mem);
		pol_section_swap((enum pol_section_id)s, copy + off, counts[s], 1);
		pol_section_swap((enum pol_section_id)s, copy + off, counts[s], 1);
	}
	struct pol_image_header h;
	memcpy(&h, copy, sizeof(h));
	pol_header_swap(&h, 1);
	pol_header_swap(&h, 1);
	if (memcmp(&h, copy, sizeof(h)) || memcmp(copy, ir->mem, ir->size))
		abort();
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t at = offsetof(struct pol_image_header, checksum);
	uint8_t *copy = NULL;
	const void *img = data;
	const size_t pad = offsetof(struct pol_image_header, pad);
	if (size > pad && !(data[pad] & 1)) {
		copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		memset(copy + at, 0, 4);
		uint32_t crc = pol_crc32(copy, size, 0);
		/* The field is little-endian on the wire. */
		for (int i = 0; i < 4; i++)
			copy[at + i] = (uint8_t)(crc >> (8 * i));
		img = copy;
	}

	struct pol_ir *ir = NULL;
	char err[256] = "";
	int r = pol_image_load(img, size, &ir, err, sizeof(err));
	if (r == 0) {
		fuzz_read_ir(ir, false);
		check_swap(ir);
		pol_ir_free(ir);
	} else if (r == -EINVAL && !err[0]) {
		abort(); /* a refusal must say why */
	}
	free(copy);
	return 0;
}
