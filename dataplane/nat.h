/* SPDX-License-Identifier: MIT */
/*
 * NAT44 masquerade mappings: (protocol, LAN address, LAN port) to one
 * external port of the WAN address, shared by every flow of that internal
 * endpoint whatever its destination (endpoint-independent mapping,
 * RFC 4787 REQ-1, RFC 5382 REQ-1).  The external port is the internal one
 * when it lies in the range and is free (port preservation), else a free
 * one found from a point hashed from the endpoint.  ICMP echo identifiers
 * are mapped the same way.  Only ports of [lo, hi] are used: the kernel's
 * own NAT gets the rest.  A mapping lives while flows hold it.
 *
 * Two levels:
 *  - struct dp_nat_ports, one per gw-dataplane, shared by every worker:
 *    which external ports are taken (a bitmap per protocol, with a
 *    summary bit per 64-port word that is full, and a count of free
 *    ports), and, with several workers, each taken port's owner (the
 *    worker and the internal endpoint, one 64-bit word written by the
 *    owner).  So every worker draws from the whole range (a device's
 *    port is preserved whichever worker holds it), a WAN packet is
 *    steered by its port's owner, and a hairpinned packet finds the LAN
 *    host behind a port.  Finding a free port reads the summary (one word
 *    per 4096 ports) and one bitmap word; an exhausted range is refused
 *    from the count: a refusal costs O(1), never a scan of the range.
 *  - struct dp_nat, one per worker, owned by it (no locks): its mappings,
 *    in an rte_hash from the endpoint, and for each external port the
 *    mapping or the mapping's only flow (dp_nat_by_ext), so that the
 *    replies of the common case, one flow an endpoint, are found without
 *    a hash lookup.
 *
 * Address-dependent filtering needs to know which remote addresses a
 * mapping's flows go to: the only flow's own key says it, and for a
 * mapping with several flows a small hash counts (mapping, address)
 * pairs (dp_nat_peer_*).
 *
 * Memory: a mapping is its rte_hash entry (the 8-byte key below, in a
 * table with an overflow table: 8 + 8 bytes of bucket slots, a 16-byte
 * key-store entry, 4 of free-slot ring) and a 12-byte struct map at the
 * hash position of its key, about 48 bytes, plus 12 bytes per port of the
 * range for the three external-port indexes.  The table holds
 * min(capacity, 3 * range) mappings: there are no more ports than that.
 * The shared part: 3 bits a port, and with several workers 24 bytes a
 * port more for the owners.
 */
#ifndef GW_DATAPLANE_NAT_H
#define GW_DATAPLANE_NAT_H

#include <stdbool.h>
#include <stdint.h>

#define DP_NAT_NONE UINT32_MAX

/* ------------------------------------------------------- shared ports */

struct dp_nat_ports;

/* owners: keep each port's owner (several workers).  -EINVAL, -ENOMEM. */
int dp_nat_ports_new(uint16_t lo, uint16_t hi, bool owners, int socket,
		     struct dp_nat_ports **ret);
void dp_nat_ports_free(struct dp_nat_ports *s);

/* Who holds external port ext of proto (TCP, UDP or ICMP): false when
 * nobody does, or the table keeps no owners.  Any lcore may ask; the
 * answer is a moment's (the owner may release it at once). */
bool dp_nat_ports_owner(const struct dp_nat_ports *s, uint8_t proto, uint16_t ext,
			unsigned *ret_worker, uint8_t ret_ip[4], uint16_t *ret_port);
/* Ports of proto no mapping holds. */
uint32_t dp_nat_ports_free_count(const struct dp_nat_ports *s, uint8_t proto);

/* ------------------------------------------------------- a worker's */

/* A mapping as dp_nat_get reads it back. */
struct dp_nat_map {
	uint8_t ip[4];   /* LAN address */
	uint16_t port;   /* LAN port or echo identifier, host order */
	uint16_t ext;    /* external port on the WAN address */
	uint8_t proto;
	uint32_t dev;    /* the device it is charged to (dp_nat_acquire) */
	uint32_t refs;   /* flows holding it */
};

struct dp_nat;

struct dp_nat_stats {
	uint64_t created, preserved, exhausted;
	uint64_t capped;     /* refused: the device holds its cap of mappings */
	uint64_t scanned;    /* bitmap words read looking for a free port */
	uint64_t peers_full; /* a flow the peer table had no room for */
	uint32_t active;
};

struct dp_nat_params {
	const char *name;  /* unique among this process's hashes */
	uint32_t capacity; /* mappings (the worker's IPv4 flows) */
	uint16_t lo, hi;   /* the range; ports' when ports is set */
	/* Shared with the other workers, or NULL: a table of its own. */
	struct dp_nat_ports *ports;
	unsigned worker;   /* this worker's id, in the owners */
	/* Room for (mapping, remote address) pairs (address-dependent
	 * filtering); 0: none kept. */
	uint32_t peers;
	int socket;
};

int dp_nat_new(const struct dp_nat_params *p, struct dp_nat **ret);
void dp_nat_free(struct dp_nat *n);

/* Called with a mapping's device when the mapping goes (its last flow
 * released it), so the caller can count what each device holds. */
typedef void (*dp_nat_unmap_fn)(void *ctx, uint32_t dev);
void dp_nat_set_unmap(struct dp_nat *n, dp_nat_unmap_fn fn, void *ctx);

/* The mapping of an internal endpoint, made if needed and charged to dev
 * (an index of the caller's, given back to the unmap hook); takes a
 * reference.  ret_made says whether it was made now.  -EDQUOT when it
 * would have to be made and may_make is false (the device's cap),
 * -ENOSPC when the range (or the table) is exhausted: both cost O(1). */
int dp_nat_acquire(struct dp_nat *n, uint8_t proto, const uint8_t ip[4], uint16_t port,
		   uint32_t dev, bool may_make, uint32_t *ret_idx, bool *ret_made);
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
/* Just the external port, or the device (no key-store read). */
uint16_t dp_nat_ext(const struct dp_nat *n, uint32_t idx);
uint32_t dp_nat_dev(const struct dp_nat *n, uint32_t idx);
/*
 * What an external port leads to on this worker: DP_NAT_NONE (no mapping
 * here), the index of its mapping, or DP_NAT_FLOW | the index of the
 * mapping's only flow, which the caller registered with dp_nat_set_flow:
 * the flow whose reply key the flow table does not hash (flow.h,
 * DP_FLOW_UNHASHED1), so that a WAN packet to the port finds it with this
 * read and a key compare.  That flow's nat_map is the mapping.  When the
 * mapping gets a second flow, the caller puts the first one's reply key
 * in the hash and the port leads to the mapping again
 * (dp_nat_clear_flow): the replies of an endpoint with many flows are all
 * found in the hash.
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

/* The remote addresses of mapping idx's flows besides its only flow
 * (dp_nat_params.peers): counted, so a flow adds its own and removes it
 * when it goes.  _add: -ENOSPC when the table is full (counted in
 * peers_full; the mapping then lets in less than it should, never more),
 * -ENODEV without a peer table. */
int dp_nat_peer_add(struct dp_nat *n, uint32_t idx, const uint8_t addr[4]);
void dp_nat_peer_del(struct dp_nat *n, uint32_t idx, const uint8_t addr[4]);
bool dp_nat_peer_has(const struct dp_nat *n, uint32_t idx, const uint8_t addr[4]);

void dp_nat_stats(const struct dp_nat *n, struct dp_nat_stats *ret);
/* What the table took of DPDK's heap (its mappings, hash, port indexes,
 * peer table, and its own port table when not shared). */
uint64_t dp_nat_memory(const struct dp_nat *n);

#endif
