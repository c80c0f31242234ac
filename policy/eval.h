/* SPDX-License-Identifier: MIT */
/*
 * The reference evaluator: the executable definition of the policy language
 * and the oracle every engine is tested against.  Deliberately simple: one
 * linear pass over the rules in order, first match wins.
 */
#ifndef GW_POLICY_EVAL_H
#define GW_POLICY_EVAL_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "image.h"

/* A moment in the policy's time zone: what schedules look at. */
struct pol_when {
	uint8_t wday;    /* 0 Monday .. 6 Sunday */
	uint16_t minute; /* 0..1439 since local midnight */
};

/* What is known of a packet that opens a flow. */
struct pol_facts {
	uint32_t device;      /* device index, or POL_NONE: never seen before */
	uint8_t family;       /* 4 or 6 */
	uint8_t proto;        /* IPPROTO_* (ICMPV6 counts as icmp) */
	uint16_t dport;       /* TCP/UDP destination port, host order */
	uint8_t dst[16];      /* destination address, IPv4 in dst[0..3] */
	uint64_t domain_sets; /* bit s: the destination is in domain set s */
	struct pol_when when;
};

#define POL_RULE_DEFAULT     0xfffffffeu /* no rule matched a known device */
#define POL_RULE_DEFAULT_NEW 0xfffffffdu /* no rule matched a new device */

struct pol_verdict {
	uint8_t action;    /* enum pol_action */
	bool log;
	uint32_t rule;     /* index of the deciding rule, or POL_RULE_DEFAULT* */
	uint64_t rate_bps; /* 0: no limit */
};

/* Why a rule did not match, the first criterion that failed. */
enum pol_miss {
	POL_MATCH = 0,
	POL_MISS_SUBJECT,
	POL_MISS_PROTO,
	POL_MISS_PORT,
	POL_MISS_DST,
	POL_MISS_SCHEDULE,
};
const char *pol_miss_name(enum pol_miss m);

enum pol_miss pol_rule_match(const struct pol_ir *ir, uint32_t rule, const struct pol_facts *f);
/* trace, if not NULL, has ir->nrules entries; entries before the deciding
 * rule get why it did not match. */
void pol_eval(const struct pol_ir *ir, const struct pol_facts *f, struct pol_verdict *ret,
	      uint8_t *trace);

bool pol_schedule_active(const struct pol_ir *ir, uint32_t schedule, struct pol_when when);
/* Bit r of mask[r / 64]: rule r may match at `when` (rules without
 * `during` always).  mask has (nrules + 63) / 64 words.  For engines. */
void pol_active_rules(const struct pol_ir *ir, struct pol_when when, uint64_t *mask);
/* The local weekday and minute of t in the policy's time zone. */
int pol_when_at(const struct pol_ir *ir, time_t t, struct pol_when *ret);

bool pol_prefix_set_has(const struct pol_ir *ir, uint32_t set, uint8_t family,
			const uint8_t addr[16]);
/* The domain sets a name belongs to (exact entries, and wildcards for
 * strict subdomains).  name: any case, an optional trailing dot. */
uint64_t pol_domain_sets_of(const struct pol_ir *ir, const char *name);
/* Device index for a MAC, or POL_NONE. */
uint32_t pol_device_by_mac(const struct pol_ir *ir, const uint8_t mac[6]);
uint32_t pol_device_by_name(const struct pol_ir *ir, const char *name);

#endif
