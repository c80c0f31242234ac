/* SPDX-License-Identifier: MIT */
/*
 * gwd's table of learned names: which addresses a DNS answer gave a name,
 * and until when.  It outlives generations and engines: a new generation
 * (its domain sets numbered anew) or a restarted dataplane gets every
 * live entry again, with the sets of the policy then running.
 *
 * Entries are (name, address) with an expiry on CLOCK_MONOTONIC seconds;
 * learning a known pair renews it.  At most `max` entries: when full, the
 * one that expires first goes.  An address learned under several names
 * carries the union of their sets, and lives as long as the longest.
 * No I/O: learn.c feeds it and hands its entries to the engines.
 */
#ifndef GW_CONTROL_DOMAINS_H
#define GW_CONTROL_DOMAINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "image.h"

struct gwd_domains;

/* A DNS name as a resolver hands it over: labels of 1..63 letters,
 * digits, '-' or '_', dot-separated, an optional final dot, at most 253
 * bytes without it.  What the API and gwd_learn accept. */
bool gwd_domain_name_ok(const char *s);

int gwd_domains_new(uint32_t max, struct gwd_domains **ret);
void gwd_domains_free(struct gwd_domains *t);
/* Entries held, expired ones included until the next change prunes
 * them (gwd_domains_live: only those not expired at now_s, pruning). */
size_t gwd_domains_count(const struct gwd_domains *t);
size_t gwd_domains_live(struct gwd_domains *t, uint64_t now_s);

/* -EINVAL: family not 4 or 6, ttl_s 0, name empty or over 253 bytes. */
int gwd_domains_learn(struct gwd_domains *t, const char *name, uint8_t family,
		      const uint8_t addr[16], uint32_t ttl_s, uint64_t now_s);

/* The name a live entry gives the address (the one that expires last when
 * several do), or NULL.  Valid until the next change of t.  O(1) after
 * the first call following a prune or eviction (which rebuilds an index
 * in O(entries)); for flows and events, which name their peer. */
const char *gwd_domains_name_of(struct gwd_domains *t, uint8_t family, const uint8_t *addr,
				uint64_t now_s);

/*
 * The engines' entries under ir's domain sets (ir NULL: every sets 0),
 * one per address, expired entries dropped first.  only: if not NULL,
 * just the addresses some entry of that name has.  *ret is malloc'd
 * (NULL when *ret_n is 0).
 */
int gwd_domains_entries(struct gwd_domains *t, const struct pol_ir *ir, uint64_t now_s,
			const char *only, struct gwd_domain_entry **ret, size_t *ret_n);

/* One learned (name, address) pair as `gwctl domains` lists it. */
struct gwd_domain_pair {
	char name[254]; /* lower case, no trailing dot */
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	uint32_t ttl_s; /* seconds left, at least 1 */
};

/*
 * The live pairs, sorted by name, then family, then address; under: if not
 * NULL, only the names equal to it or below it (under "example.com":
 * "example.com" and "a.example.com", not "badexample.com").  -EINVAL: under
 * is not a name.  *ret is malloc'd (NULL when *ret_n is 0).
 */
int gwd_domains_pairs(struct gwd_domains *t, uint64_t now_s, const char *under,
		      struct gwd_domain_pair **ret, size_t *ret_n);

#endif
