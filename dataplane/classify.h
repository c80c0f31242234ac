/* SPDX-License-Identifier: MIT */
/*
 * Classifying a flow's first packet against one policy generation.  The
 * flow code calls only dp_classify_*.  The answer comes from bit-vector
 * tables compiled from the IR (policy/tables.h),
 * so its cost does not grow with the number of rules; the reference
 * evaluator (policy/eval.h) is only the tests' oracle.  One struct
 * dp_classify is one immutable generation (but for its schedule clock);
 * the caller swaps pointers between generations.  No DPDK here.
 */
#ifndef GW_DATAPLANE_CLASSIFY_H
#define GW_DATAPLANE_CLASSIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "eval.h"
#include "image.h"

struct dp_classify;

/* The most rules a policy may have here (more than the eBPF engine's
 * maps hold). */
#define DP_CLASSIFY_MAX_RULES 16384

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
	uint64_t domain_sets; /* the domain table's bits for dst (domain.h), 0 if none */
};

/* Takes ir on success (NULL: no policy, every flow is blocked, its rule
 * POL_NONE: gw-dataplane starts closed until a policy is loaded); on failure
 * the caller still owns it.  -ENOMEM; -E2BIG when the policy does not fit
 * the tables (more than DP_CLASSIFY_MAX_RULES rules, 65535 distinct
 * rule sets or 64 domain sets). */
int dp_classify_new(struct pol_ir *ir, uint32_t generation, struct dp_classify **ret);
void dp_classify_free(struct dp_classify *c);
/* Load an image file (pol_image_load); -errno, with a reason in err. */
int dp_classify_load(const char *path, uint32_t generation, struct dp_classify **ret,
		     char *err, size_t errlen);

uint32_t dp_classify_generation(const struct dp_classify *c);
/* The policy's rule count (0 without a policy). */
uint32_t dp_classify_nrules(const struct dp_classify *c);
/* Schedules look at this moment; set by the main loop (one writer), read
 * by workers.  Recomputes the active-rule mask when the minute changes,
 * unless dp_classify_set_active pinned it. */
void dp_classify_set_when(struct dp_classify *c, struct pol_when when);
/* Pins the active-rule mask ((nrules + 63) / 64 words) and moves this
 * generation to a new number, so flows decided under the old mask are
 * decided again (one writer: the main loop).  -ESTALE when nrules is not
 * the policy's rule count. */
int dp_classify_set_active(struct dp_classify *c, const uint64_t *mask, uint32_t nrules,
			   uint32_t generation);
bool dp_classify_pinned(const struct dp_classify *c);
/* Pins as dp_classify_set_active until until_ms (the caller's monotonic
 * milliseconds; 0: for ever).  The mask pinned already only moves the
 * end: 0 and the generation stays; else 1 and the generation is
 * `generation` (flows are decided again).  -ESTALE as set_active. */
int dp_classify_pin(struct dp_classify *c, const uint64_t *mask, uint32_t nrules,
		    uint64_t until_ms, uint32_t generation);
/* A pin whose end has come by now_ms comes off: the mask follows `when`
 * (and the clock) again and the generation becomes `generation`; true
 * when it did.  One writer: the main loop. */
bool dp_classify_pin_expire(struct dp_classify *c, uint64_t now_ms, struct pol_when when,
			    uint32_t generation);
const struct pol_ir *dp_classify_ir(const struct dp_classify *c);
/* The generation LOAD_IMAGE gave this policy (dp_classify_set_active and
 * dp_classify_renumber move dp_classify_generation, not this). */
uint32_t dp_classify_base_generation(const struct dp_classify *c);
/* The domain sets the policy's rules use (bit s: some rule says `to`
 * domain set s); 0 when no rule looks at domains. */
uint64_t dp_classify_domain_mask(const struct dp_classify *c);
/* Moves this generation to a new number without changing anything else,
 * so live flows are decided again (the domain table changed under them;
 * one writer: the main loop). */
void dp_classify_renumber(struct dp_classify *c, uint32_t generation);
/* A rule's rate in bits per second (0: none, or not a rule index). */
uint64_t dp_classify_rate(const struct dp_classify *c, uint32_t rule);
/* The device index of a MAC: its runtime binding, else the policy's, or
 * POL_NONE (never seen). */
uint32_t dp_classify_device(const struct dp_classify *c, const uint8_t mac[6]);

/* Runtime device bindings (devices.h, DEVICE_SET in proto.h).  A
 * generation starts with none.  Devices in the policy (0 without one), and
 * whether a MAC may be bound to device (it is one, with a MAC in the
 * image: its subject bitmap is the one its MACs have). */
struct dp_devtab;
uint32_t dp_classify_ndevices(const struct dp_classify *c);
bool dp_classify_bindable(const struct dp_classify *c, uint32_t device);
/* The bindings now (one writer: the agent). */
const struct dp_devtab *dp_classify_bindings(const struct dp_classify *c);
/* Publishes t (every device bindable; NULL: none) with a release store
 * and returns the previous table, which the caller frees once no worker
 * can hold it (RCU).  dp_classify_free frees the table it has then. */
struct dp_devtab *dp_classify_swap_bindings(struct dp_classify *c, struct dp_devtab *t);

void dp_classify_flow(const struct dp_classify *c, const struct dp_classify_in *in,
		      struct dp_verdict *ret);

#endif
