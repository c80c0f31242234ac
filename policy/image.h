/* SPDX-License-Identifier: MIT */
/*
 * Loading a policy image (ir.h) as untrusted input, and reading it.
 *
 * pol_image_load() copies the bytes, checks the header, size and checksum,
 * converts to host byte order, then checks every section's bounds and every
 * index, string offset, range and enum before returning a struct pol_ir.
 * After that, readers may index the tables without further checks.
 */
#ifndef GW_POLICY_IMAGE_H
#define GW_POLICY_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

struct pol_ir {
	void *mem; /* the image, host byte order */
	size_t size;
	const char *strings;
	uint32_t strings_size;
	const struct pol_meta *meta;
	const struct pol_person *persons;
	const struct pol_group *groups;
	const struct pol_device *devices;
	const struct pol_mac *macs;
	const struct pol_set *prefix_sets;
	const struct pol_prefix *prefixes;
	const struct pol_set *domain_sets;
	const struct pol_domain *domains;
	const struct pol_set *schedules;
	const struct pol_window *windows;
	const struct pol_rule *rules;
	const struct pol_subject *subjects;
	const struct pol_dst *dsts;
	const struct pol_port_range *ports;
	uint32_t npersons, ngroups, ndevices, nmacs, nprefix_sets, nprefixes,
		ndomain_sets, ndomains, nschedules, nwindows, nrules, nsubjects,
		ndsts, nports;
};

/* 0 and *ret; or -EINVAL with a reason in errbuf (never a crash). */
int pol_image_load(const void *data, size_t size, struct pol_ir **ret,
		   char *errbuf, size_t errlen);
void pol_ir_free(struct pol_ir *ir);

static inline const char *pol_ir_str(const struct pol_ir *ir, uint32_t off)
{
	return ir->strings + off;
}

/* Entry size of each section in this version; 1 for STRINGS. */
extern const uint32_t pol_section_entsize[POL_SEC_COUNT];
/* Field widths of each section's entry, for byte-order conversion. */
extern const char *const pol_section_layout[POL_SEC_COUNT];
/* Convert `count` entries of a section between little-endian and host
 * order (its own inverse; a no-op on little-endian hosts unless forced). */
void pol_section_swap(enum pol_section_id id, void *entries, uint32_t count, int force);
size_t pol_layout_size(const char *layout);
/* The header's fields between little-endian and host order. */
void pol_header_swap(struct pol_image_header *h, int force);

/* A time zone name that is safe to give libc as TZ: an IANA-style name,
 * never a path. */
bool pol_timezone_name_ok(const char *s);

uint32_t pol_crc32(const void *data, size_t len, uint32_t crc);

#endif
