/* SPDX-License-Identifier: MIT */
/*
 * The eBPF engine image: one policy generation (a struct pol_ir) cut into
 * the tables of gw_bpf_abi.h, as plain arrays.  The loader copies them into
 * one slot of the maps; gwbpf_classify() walks them exactly as
 * classify.bpf.c walks the maps, so the tables can be tested against the
 * reference evaluator without a kernel.
 *
 * Pure C: no libbpf, no kernel; it builds and runs on every target.
 */
#ifndef GW_EBPF_COMPILE_H
#define GW_EBPF_COMPILE_H

#include <stdint.h>

#include "eval.h"
#include "gw_bpf_abi.h"
#include "image.h"

struct gwbpf_mac_entry {
	struct gwbpf_mac_key key; /* slot 0; the loader sets the slot */
	struct gwbpf_mac_val val;
};

struct gwbpf_prefix_entry {
	uint8_t family; /* 4 or 6 */
	uint8_t plen;
	uint16_t bitmap; /* index in bitmaps */
	uint8_t addr[16];
};

/* The widest policy gwbpf_image_build_max builds tables for (the fast
 * path's classifier; the eBPF maps hold GWBPF_MAX_RULES). */
#define GWBPF_MAX_RULES_WIDE 16384

struct gwbpf_image {
	struct gwbpf_policy policy;
	/* policy.nbitmaps bitmaps of `words` u64 each: GWBPF_WORDS (then
	 * `bitmaps` reads them as the maps hold them) unless built wider. */
	uint32_t words;
	union {
		struct gwbpf_bitmap *bitmaps; /* words == GWBPF_WORDS */
		uint64_t *bitmap_words;
	};
	struct gwbpf_rule *rules;     /* policy.nrules */
	struct gwbpf_mac_entry *macs; /* sorted by MAC */
	uint32_t nmacs;
	uint16_t *ports;              /* GWBPF_PORTS_PER_SLOT bitmap indices */
	struct gwbpf_prefix_entry *prefixes; /* sorted by family, addr, plen */
	uint32_t nprefixes;
};

/* 0 and *ret; -E2BIG when the policy has more rules than GWBPF_MAX_RULES
 * or needs more than GWBPF_MAX_BITMAPS distinct bitmaps; -ENOMEM.  The
 * image fits the eBPF maps (words == GWBPF_WORDS). */
int gwbpf_image_build(const struct pol_ir *ir, struct gwbpf_image **ret);
/* The same tables for policies of up to max_rules rules (a multiple of 64,
 * GWBPF_MAX_RULES to GWBPF_MAX_RULES_WIDE): above GWBPF_MAX_RULES rules
 * the bitmaps are as wide as the policy needs (words: a multiple of 8, at
 * least GWBPF_WORDS) and up to 65535 distinct ones, which the eBPF maps
 * cannot hold (the fast path can).  -EINVAL for a bad max_rules. */
int gwbpf_image_build_max(const struct pol_ir *ir, uint32_t max_rules,
			  struct gwbpf_image **ret);
void gwbpf_image_free(struct gwbpf_image *img);

/* The gw_macs entry of a MAC in the image (binary search), or NULL: a
 * device never seen before. */
const struct gwbpf_mac_val *gwbpf_image_mac(const struct gwbpf_image *img, const uint8_t mac[6]);

/* The gw_active bitmap of a policy at `when`. */
void gwbpf_active_mask(const struct pol_ir *ir, struct pol_when when, struct gwbpf_bitmap *ret);

/* What classification looks at in a packet, as the program extracts it. */
struct gwbpf_packet {
	uint8_t src_mac[6];
	uint8_t family;       /* 4 or 6 */
	uint8_t proto;        /* IPPROTO_* */
	uint16_t dport;       /* host order; 0 when not TCP/UDP */
	uint8_t dst[16];
	uint64_t domain_sets; /* gw_domains' bits for dst, 0 if none */
};

struct gwbpf_verdict {
	uint8_t action;
	uint8_t flags;     /* GWBPF_RULE_* */
	uint32_t rule;     /* rule index or GWBPF_RULE_DEFAULT* */
	uint32_t device;   /* device index, or POL_NONE: never seen */
	uint64_t rate_bps; /* 0: no limit */
};

/* The classifier over the image's tables: what classify.bpf.c does on a
 * flow miss, lookup for lookup.  For images of GWBPF_WORDS words. */
void gwbpf_classify(const struct gwbpf_image *img, const struct gwbpf_bitmap *active,
		    const struct gwbpf_packet *p, struct gwbpf_verdict *ret);

/* Longest-prefix match over img->prefixes: the bitmap index, or
 * policy.addr_miss. */
uint16_t gwbpf_addr_class(const struct gwbpf_image *img, uint8_t family, const uint8_t addr[16]);

#endif
