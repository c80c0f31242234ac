/* SPDX-License-Identifier: MIT */
/*
 * Classifying a flow's first packet against one policy generation.  The
 * flow code calls only dp_classify_*; today the answer comes from the
 * reference evaluator (policy/eval.h), and the compiled classifier can take
 * its place behind the same calls.  One struct dp_classify is one
 * immutable generation; the caller swaps pointers between generations.
 * No DPDK here.
 */
#ifndef GW_DATAPLANE_CLASSIFY_H
#define GW_DATAPLANE_CLASSIFY_H

#include <stdint.h>

#include "eval.h"
#include "image.h"

struct dp_classify;

/* What a flow needs of a verdict. */
struct dp_verdict {
	uint8_t action; /* enum pol_action */
	uint8_t log;
	uint32_t rule;   /* rule index, POL_RULE_DEFAULT*, or POL_NONE without a policy */
	uint32_t device; /* device index or POL_NONE (a new device) */
	uint64_t rate_bps;
};

/* The facts of a flow's first packet in its original direction. */
struct dp_classify_in {
	uint8_t mac[6];  /* the LAN device's source MAC */
	uint8_t family;  /* 4 or 6 */
	uint8_t proto;   /* IPPROTO_* */
	uint16_t dport;  /* host order; 0 for ICMP */
	uint8_t dst[16]; /* the destination the device meant */
};

/* Takes ir (NULL: no policy, everything is allowed).  -ENOMEM. */
int dp_classify_new(struct pol_ir *ir, uint32_t generation, struct dp_classify **ret);
void dp_classify_free(struct dp_classify *c);
/* Load an image file (pol_image_load); -errno, with a reason in err. */
int dp_classify_load(const char *path, uint32_t generation, struct dp_classify **ret,
		     char *err, size_t errlen);

uint32_t dp_classify_generation(const struct dp_classify *c);
/* Schedules look at this moment; set by the main loop, read by workers. */
void dp_classify_set_when(struct dp_classify *c, struct pol_when when);
const struct pol_ir *dp_classify_ir(const struct dp_classify *c);

void dp_classify_flow(const struct dp_classify *c, const struct dp_classify_in *in,
		      struct dp_verdict *ret);

#endif
