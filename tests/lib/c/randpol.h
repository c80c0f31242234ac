/* SPDX-License-Identifier: MIT */
/*
 * Random policies and packets for the differential tests of the eBPF engine
 * against the reference evaluator.  Policies are generated as TEXT and go
 * through the real compiler, so every construct of the language can appear:
 * every subject kind, lan/internet/any, prefix and domain lists, direct
 * prefixes and domains, protocols, port ranges, schedules, rates, log, and
 * both defaults.  Packets aim at what the policy names (its MACs, prefixes,
 * range boundaries, domain sets, window edges) as well as at random.
 */
#ifndef GW_TEST_RANDPOL_H
#define GW_TEST_RANDPOL_H

#include <stdbool.h>
#include <stdint.h>

#include "eval.h"
#include "image.h"

struct rp_rng {
	uint64_t s;
};

static inline uint64_t rp_next(struct rp_rng *r)
{
	/* splitmix64: tiny, and good enough to explore. */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint32_t rp_below(struct rp_rng *r, uint32_t n)
{
	return n ? (uint32_t)(rp_next(r) % n) : 0;
}

struct rp_shape {
	unsigned rules;   /* rule statements */
	unsigned devices;
	unsigned lists;   /* prefix and domain lists */
	bool narrow;      /* every rule names destinations and ports */
};

/* A policy text (malloc'd, NUL-terminated). */
char *rp_policy(struct rp_rng *r, const struct rp_shape *shape);

/*
 * The schedules of a random policy as the test sees them, independent of
 * the compiler and of pol_schedule_active (which every engine's mask and
 * the reference evaluator share): rp_policy_model writes the windows it
 * puts in the text into a plain table of the week, minute by minute.  A
 * window "days HH:MM-HH:MM" covers, for each listed day, the minutes from
 * its start to its end on that day's clock, into the next day when the end
 * is not after the start (Sunday's evening runs into Monday).
 */
#define RP_MAX_SCHEDULES 3
#define RP_WEEK_MINUTES (7 * 1440)

struct rp_model {
	unsigned nrules;
	int *rule_schedule; /* per rule statement, in order: its `during`, or -1 */
	unsigned nschedules;
	uint8_t week[RP_MAX_SCHEDULES][RP_WEEK_MINUTES / 8]; /* bit wday * 1440 + minute */
};

/* rp_policy, and the model of its schedules in *ret (rp_model_free). */
char *rp_policy_model(struct rp_rng *r, const struct rp_shape *shape, struct rp_model *ret);
void rp_model_free(struct rp_model *m);

/* Rule statement `rule` may match at `when`, by the model's table. */
bool rp_model_rule_active(const struct rp_model *m, uint32_t rule, struct pol_when when);

/* The reference verdict for ir (compiled from the model's text), with
 * schedules decided by the model: pol_rule_match for every other criterion
 * (it checks the schedule last, so POL_MISS_SCHEDULE means all else
 * matched), first match wins, then the defaults. */
void rp_eval(const struct pol_ir *ir, const struct rp_model *m, const struct pol_facts *f,
	     struct pol_verdict *ret);

/* What a differential test compares an engine with: *ret gets rp_eval's
 * verdict; false when the reference evaluator (pol_eval) decides otherwise
 * (its schedules disagree with the model's table). */
bool rp_reference(const struct pol_ir *ir, const struct rp_model *m, const struct pol_facts *f,
		  struct pol_verdict *ret);

/* Compile text (must be valid) and load its image; NULL on failure, with
 * the diagnostics on stderr. */
struct pol_ir *rp_load(const char *text);

/* A packet that opens a flow, aimed at what ir names.  mac is the source
 * MAC: a declared one or one no device has. */
void rp_packet(struct rp_rng *r, const struct pol_ir *ir, uint8_t mac[6],
	       struct pol_facts *ret);

#endif
