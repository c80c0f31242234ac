/* SPDX-License-Identifier: MIT */
/*
 * NAT44 masquerade mappings: (protocol, LAN address, LAN port) to one
 * external port of the WAN address, shared by every flow of that internal
 * endpoint whatever its destination (endpoint-independent mapping,
 * RFC 4787 REQ-1, RFC 5382 REQ-1).  The external port is the internal one
 * when it lies in the range and is free (port preservation), else the first
 * free one from a point hashed from the endpoint.  ICMP echo identifiers
 * are mapped the same way.  Only ports of [lo, hi] are used: the kernel's
 * own NAT gets the rest.  A mapping lives while flows hold it.  Each
 * external port leads to its mapping or to the mapping's only flow
 * (dp_nat_by_ext), so that the replies of the common case, one flow an
 * endpoint, are found without a hash lookup.
 *
 * Memory: a mapping is its rte_hash entry (the 8-byte key below, in a
 * table with an overflow table: 8 + 8 bytes of bucket slots, a 16-byte
 * key-store entry, 4 of free-slot ring) and a 12-byte struct map at the
 * hash position of its key, about 48 bytes, plus 12 bytes per port of the
 * range for the three external-port indexes.  The table holds
 * min(capacity, 3 * range) mappings: there are no more ports than that.
 *
 * Owned by one worker lcore: no locks.
 */
#ifndef GW_DATAPLANE_NAT_H
#define GW_DATAPLANE_NAT_H

#include <stdint.h>

#define DP_NAT_NONE UINT32_MAX

/* A mapping as dp_nat_get reads it back. */
struct dp_nat_map {
	uint8_t ip[4];   /* LAN address */
	uint16_t port;   /* LAN port or echo identifier, host order */
	uint16_t ext;    /* external port on the WAN address */
	uint8_t proto;
	uint8_t mac[6];  /* the LAN device, for hairpinned packets to it */
	uint32_t refs;   /* flows holding it */
};

struct dp_nat;

struct dp_nat_stats {
	uint64_t created, preserved, exhausted;
	uint32_t active;
};

int dp_nat_new(const char *name, uint32_t capacity, uint16_t lo, uint16_t hi, int socket,
	       struct dp_nat **ret);
void dp_nat_free(struct dp_nat *n);

/* The mapping of an internal endpoint, made if needed; takes a reference.
 * -ENOSPC when the range (or the table) is exhausted. */
int dp_nat_acquire(struct dp_nat *n, uint8_t proto, const uint8_t ip[4], uint16_t port,
		   const uint8_t mac[6], uint32_t *ret_idx);
/* Warms what dp_nat_acquire will read for up to 64 endpoints (a burst's
 * new flows): one bulk lookup, which fetches their buckets and keys side
 * by side, then the mappings found. */
void dp_nat_prefetch(const struct dp_nat *n, unsigned count, const uint8_t *proto,
		     const uint8_t (*ip)[4], const uint16_t *port);
void dp_nat_ref(struct dp_nat *n, uint32_t idx);
/* Fetches mapping idx's line: its release is coming. */
void dp_nat_prefetch_map(const struct dp_nat *n, uint32_t idx);
void dp_nat_release(struct dp_nat *n, uint32_t idx);
/* dp_nat_release when the caller knows the mapping's endpoint (a flow's
 * key holds it): no read of the hash's key store, which rte_hash checks
 * with a whole lookup. */
void dp_nat_put(struct dp_nat *n, uint32_t idx, uint8_t proto, const uint8_t ip[4],
		uint16_t port);
struct dp_nat_map dp_nat_get(const struct dp_nat *n, uint32_t idx);
/* Just the external port, or the device's MAC (no key-store read). */
uint16_t dp_nat_ext(const struct dp_nat *n, uint32_t idx);
const uint8_t *dp_nat_mac(const struct dp_nat *n, uint32_t idx);
/*
 * What an external port leads to: DP_NAT_NONE (no mapping), the index of
 * its mapping, or DP_NAT_FLOW | the index of the mapping's only flow,
 * which the caller registered with dp_nat_set_flow: the flow whose reply
 * key the flow table does not hash (flow.h, DP_FLOW_UNHASHED1), so that
 * a WAN packet to the port finds it with this read and a key compare.
 * That flow's nat_map[0] is the mapping.  When the mapping gets a second
 * flow, the caller puts the first one's reply key in the hash and the
 * port leads to the mapping again (dp_nat_clear_flow): the replies of an
 * endpoint with many flows are all found in the hash.
 */
#define DP_NAT_FLOW 0x80000000u
uint32_t dp_nat_by_ext(const struct dp_nat *n, uint8_t proto, uint16_t ext);
/* Registers flow (< DP_NAT_FLOW) as mapping idx's only flow: the
 * mapping's port leads to it.  The mapping must have none (dp_nat_by_ext
 * of its port gives idx). */
void dp_nat_set_flow(struct dp_nat *n, uint32_t idx, uint8_t proto, uint32_t flow);
/* Flows holding mapping idx. */
uint32_t dp_nat_refs(const struct dp_nat *n, uint32_t idx);
/* The port leads to the mapping again (its only flow is going, or its
 * replies are in the flow hash now). */
void dp_nat_clear_flow(struct dp_nat *n, uint32_t idx, uint8_t proto);
void dp_nat_stats(const struct dp_nat *n, struct dp_nat_stats *ret);

#endif
