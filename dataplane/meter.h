/* SPDX-License-Identifier: MIT */
/*
 * Rate limits: `rate RATE` on an allow rule (docs/policy.md), one DPDK
 * srTCM meter (rte_meter) per (rule, device, direction), the key the eBPF
 * classifier uses for its token buckets too: a declared device is its
 * index whatever MAC it sends from, a device never seen before is its MAC.
 * Each meter's committed rate is the rule's rate in bytes per second, its
 * committed burst POL_TABLES_RATE_BURST_MS of that rate and at least
 * POL_TABLES_RATE_BURST_MIN bytes (policy/tables.h), and its excess burst
 * 0: a packet is green (passes) or red (dropped, counted as rate_limit).
 *
 * One table per worker, owned by it: no locks.  With more than one
 * worker, a device whose flows land on several workers is metered once
 * per worker.  Entries idle for DP_METER_IDLE_MS are recycled when the
 * table is full; a rule index that a new policy gives another rate gets
 * its meter reconfigured on its next packet.
 */
#ifndef GW_DATAPLANE_METER_H
#define GW_DATAPLANE_METER_H

#include <stdbool.h>
#include <stdint.h>

#define DP_METER_IDLE_MS 10000

struct dp_meters;

struct dp_meter_key {
	uint32_t rule;
	uint32_t device; /* device index, or UINT32_MAX for a new device */
	uint8_t mac[6];  /* a new device's MAC, else 0 */
	uint8_t dir;     /* 0: from the device, 1: to it */
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_meter_key) == 16, "dp_meter_key layout");

/* name: unique among this process's hashes.  -ENOMEM. */
int dp_meters_new(const char *name, uint32_t capacity, int socket, struct dp_meters **ret);
void dp_meters_free(struct dp_meters *m);

/* May len bytes pass now (tsc: rte_get_tsc_cycles())?  rate_bps: the
 * rule's rate.  A full table that cannot recycle an entry lets the
 * packet pass (and counts it in dp_meters_unmetered). */
bool dp_meters_pass(struct dp_meters *m, const struct dp_meter_key *k, uint64_t rate_bps,
		    uint32_t len, uint64_t tsc, uint64_t now_ms);
uint64_t dp_meters_unmetered(const struct dp_meters *m);

#endif
