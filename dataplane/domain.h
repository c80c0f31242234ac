/* SPDX-License-Identifier: MIT */
/*
 * The runtime domain table: destination address -> domain-set bits and
 * the moment they expire, as DOMAIN_SET (proto.h) writes it.  gwd's DNS
 * puts every answer's addresses here before the answer leaves, so that a
 * rule `to list NAME` (a list of domains) matches the addresses the
 * device was told.
 *
 * One writer (the control agent, on the main lcore) and lock-free
 * readers (the workers): an rte_hash with RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF
 * maps the address to a slot of a value array.  A value is written with
 * atomic stores before its key is added; a changed value is rewritten in
 * place (a reader sees the old or the new bits, both were true a moment
 * ago).  A deleted key's slot is reused only after every worker has
 * passed a quiescent point (the agent's rte_rcu_qsbr), so a reader never
 * sees another address's value.
 *
 * Expiry: a lookup treats an expired entry as absent; the agent sweeps
 * expired entries out now and then (dp_domains_sweep).
 */
#ifndef GW_DATAPLANE_DOMAIN_H
#define GW_DATAPLANE_DOMAIN_H

#include <stdint.h>

#include <rte_rcu_qsbr.h>

#include "proto.h"

struct dp_domains;

/* capacity addresses; qsbr: the workers' RCU state (the table never
 * waits on it).  -ENOMEM. */
int dp_domains_new(const char *name, uint32_t capacity, int socket, struct rte_rcu_qsbr *qsbr,
		   struct dp_domains **ret);
void dp_domains_free(struct dp_domains *d);

/* Readers (workers): the bits of an address (family 4: addr[0..3], the
 * rest ignored), 0 when absent or expired at now_ms (rte timer ms). */
uint64_t dp_domains_lookup(const struct dp_domains *d, uint8_t family, const uint8_t addr[16],
			   uint64_t now_ms);

/* The writer: applies n checked entries (proto.c) whole, or nothing
 * (-ENOSPC when the table would overflow).  *ret_changed gets the union
 * of the bits that changed on any address (old ^ new), so the caller can
 * tell whether live flows must be decided again. */
int dp_domains_apply(struct dp_domains *d, const struct dp_domain_entry *v, uint32_t n,
		     uint64_t now_ms, uint64_t *ret_changed);
/* Removes up to budget expired entries and frees slots whose grace
 * period has passed; returns the entries removed. */
unsigned dp_domains_sweep(struct dp_domains *d, uint64_t now_ms, unsigned budget);
/* Addresses in the table (expired ones not yet swept included). */
uint32_t dp_domains_count(const struct dp_domains *d);

#endif
