/* SPDX-License-Identifier: MIT */
/*
 * Policing the punt path: what the fast path hands to the gateway's
 * kernel (its TAP twins) goes through one queue each way and one system
 * call a frame on the main lcore, so a device that floods the gateway
 * (ARP, DNS, pings, anything addressed to it) could take the queue and
 * starve everyone's ARP and DHCP.  Each punt reason (stats.h) is a class
 * with, per port role:
 *   - a rate and burst for the class as a whole, and
 *   - a rate and burst for each source within it, the source being the
 *     sender's MAC on the LAN and its IP address on the WAN (its /64 for
 *     IPv6; on the WAN every frame carries the upstream router's MAC),
 *     hashed (keyed, hash.h) to two of 1024 cells, each holding half of
 *     the share; a packet takes from the one with more left.  A source
 *     alone in its cells gets its whole share; one that shares a cell
 *     with a flooding source (about 1 in 256 for a given pair; with one cell
 *     each, a device unlucky enough to share the flooder's was starved for
 *     the life of the process) keeps half its share in the other, and
 *     only a source whose two cells both hold floods (about 1 in 500,000
 *     for a pair) is starved;
 * a packet past its source's share is dropped as punt_source_limit, one
 * past the class's rate as punt_limit (the source is asked first, so a
 * flooding source does not use up its class).  ARP, ND and DHCP then go
 * to the kernel on a queue of their own that the main lcore empties first
 * (DP_PUNT_URGENT, twin.h), so a flood of another class that got past
 * its limits still cannot delay them.
 *
 * Limits are generic cell rate algorithm cells (a theoretical arrival
 * time each), shared by every worker and updated with a compare-and-swap:
 * a source is limited as a whole whichever worker sees its packets.
 * Rates are in packets a second; the burst is a tenth of a second's worth
 * and at least 16 packets.  No DPDK here.
 */
#ifndef GW_DATAPLANE_PUNT_H
#define GW_DATAPLANE_PUNT_H

#include <stdint.h>

#include "stats.h"

#define DP_PUNT_SOURCE_CELLS 1024
#define DP_PUNT_ROLES 2 /* DP_ROLE_COUNT: the LAN and the WAN */

struct dp_punt_rate {
	uint32_t pps;     /* the class as a whole, per port; 0: nothing passes */
	uint32_t src_pps; /* one source's share; 0: nothing passes */
};

/* The defaults, by punt reason (docs/dataplane.md lists them). */
extern const struct dp_punt_rate dp_punt_default[DP_PUNT_COUNT];

struct dp_police;

/* hz: the clock dp_police_check's now counts in (cycles a second). */
int dp_police_new(const struct dp_punt_rate rates[DP_PUNT_COUNT], uint64_t hz,
		  struct dp_police **ret);
void dp_police_free(struct dp_police *p);

/* May a packet of class why from source (a keyed hash of its sender)
 * arriving on role go to the kernel at now?  DP_DROP_COUNT when it may
 * (its tokens are taken), else DP_DROP_PUNT_SOURCE_LIMIT or
 * DP_DROP_PUNT_LIMIT.  Any thread. */
enum dp_drop dp_police_check(struct dp_police *p, unsigned role, enum dp_punt why, uint32_t source,
			     uint64_t now);

/* "NAME=PPS/SRC_PPS" (NAME a punt reason's name) into rates[]: 0, or
 * -EINVAL with the reason in err.  For --punt-rate. */
int dp_punt_rate_parse(const char *s, struct dp_punt_rate rates[DP_PUNT_COUNT], char *err,
		       size_t errlen);

#endif
