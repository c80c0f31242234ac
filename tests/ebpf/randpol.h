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

/* Compile text (must be valid) and load its image; NULL on failure, with
 * the diagnostics on stderr. */
struct pol_ir *rp_load(const char *text);

/* A packet that opens a flow, aimed at what ir names.  mac is the source
 * MAC: a declared one or one no device has. */
void rp_packet(struct rp_rng *r, const struct pol_ir *ir, uint8_t mac[6],
	       struct pol_facts *ret);

#endif
