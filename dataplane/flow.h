/* SPDX-License-Identifier: MIT */
/*
 * The flow table: one entry per connection, found from either direction.
 * Each flow has two keys in one rte_hash, key[d] being the tuple of a packet
 * of direction d as it is received (direction 0 opened the flow), so a
 * packet of direction d leaves as the reverse of key[1 - d].
 *
 * Bounded: entries come from a fixed array.  Each flow sits in the list of
 * its timeout class, kept in order of last activity, so idle expiry looks at
 * list heads only, and eviction under pressure takes the least recently
 * active flow of the most expendable class first (closed, then half-open
 * TCP, then one-way UDP, ...; established TCP last), so a SYN flood only
 * ever evicts its own kind.
 *
 * Owned by one worker lcore: no locks, no atomics.
 */
#ifndef GW_DATAPLANE_FLOW_H
#define GW_DATAPLANE_FLOW_H

#include <stdint.h>

#define DP_FLOW_NONE UINT32_MAX

struct dp_flow_key {
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* host order; ICMP echo: the identifier in both */
	uint8_t proto, family;
	uint8_t role;          /* the port role it arrives on (DP_ROLE_*) */
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_flow_key) == 40, "dp_flow_key layout");

/* Timeout classes, in eviction order: the first goes first. */
enum dp_flow_class {
	DP_FC_TCP_CLOSED,  /* RST seen, or FIN both ways */
	DP_FC_TCP_SYN,     /* handshake not completed */
	DP_FC_UDP_NEW,     /* nothing came back yet */
	DP_FC_ICMP,
	DP_FC_TCP_FIN,     /* FIN one way */
	DP_FC_UDP_EST,
	DP_FC_TCP_EST,
	DP_FC_COUNT
};

enum dp_tcp_state {
	DP_TCP_NONE,     /* not TCP */
	DP_TCP_SYN_SENT, /* also: picked up mid-stream, one way so far */
	DP_TCP_SYN_RECV,
	DP_TCP_EST,
	DP_TCP_FIN_WAIT, /* FIN one way */
	DP_TCP_CLOSING,  /* FIN both ways */
	DP_TCP_CLOSED,   /* RST */
};

#define DP_FLOW_SEEN0   0x01u /* a packet of direction 0 was seen */
#define DP_FLOW_SEEN1   0x02u
#define DP_FLOW_FIN0    0x04u
#define DP_FLOW_FIN1    0x08u
#define DP_FLOW_NAT     0x10u /* nat_map[0] is held */
#define DP_FLOW_HAIRPIN 0x20u /* nat_map[1] is held too */

struct dp_flow {
	struct dp_flow_key key[2];
	uint64_t pkts[2], bytes[2];
	uint64_t last_ms;
	uint8_t mac[2][6];   /* next hop of direction d; mac[1] is the LAN device */
	uint8_t out_role[2]; /* port role direction d leaves by */
	uint8_t cls;         /* enum dp_flow_class */
	uint8_t tcp;         /* enum dp_tcp_state */
	uint8_t flags;       /* DP_FLOW_* */
	uint8_t action;      /* enum pol_action, cached */
	uint32_t rule;       /* deciding rule, cached */
	uint32_t generation; /* policy generation that decided */
	uint32_t nat_map[2];
	uint32_t prev, next; /* class list, or the free list (next) */
};

struct dp_flow_table;

/* Called for every flow leaving the table (expiry, eviction, removal)
 * before its slot is reused: release what it holds. */
typedef void (*dp_flow_release_fn)(void *ctx, struct dp_flow *f);

struct dp_flow_stats {
	uint64_t created, expired, evicted, removed;
	uint32_t active;
};

/* name: unique among this process's hashes.  -ENOMEM, -EINVAL. */
int dp_flow_table_new(const char *name, uint32_t capacity, int socket, dp_flow_release_fn fn,
		      void *ctx, struct dp_flow_table **ret);
void dp_flow_table_free(struct dp_flow_table *t);

void dp_flow_set_timeout(struct dp_flow_table *t, enum dp_flow_class c, uint64_t ms);

/* The flow and the direction the key belongs to, or DP_FLOW_NONE. */
uint32_t dp_flow_lookup(const struct dp_flow_table *t, const struct dp_flow_key *key,
			unsigned *ret_dir);
struct dp_flow *dp_flow_get(struct dp_flow_table *t, uint32_t idx);

/* A new flow with both keys; the caller fills the rest of *ret_flow.
 * Makes room by expiry, then eviction.  -EEXIST if a key is in use,
 * -ENOSPC if nothing could be evicted. */
int dp_flow_insert(struct dp_flow_table *t, const struct dp_flow_key *k0,
		   const struct dp_flow_key *k1, uint8_t proto, uint64_t now_ms,
		   uint32_t *ret_idx);

/* A packet of direction dir: counters, TCP state, timeout class, recency. */
void dp_flow_touch(struct dp_flow_table *t, uint32_t idx, unsigned dir, uint32_t bytes,
		   uint8_t tcp_flags, uint64_t now_ms);

void dp_flow_remove(struct dp_flow_table *t, uint32_t idx);

/* For readers on other lcores (the control agent): slots 0..capacity-1,
 * and the flow in slot idx, or NULL when the slot is free.  Read without
 * a lock while the owner works: a snapshot that may be torn, never out of
 * the table's memory. */
uint32_t dp_flow_capacity(const struct dp_flow_table *t);
const struct dp_flow *dp_flow_at(const struct dp_flow_table *t, uint32_t idx);

/* Removes up to budget idle flows; returns how many. */
unsigned dp_flow_expire(struct dp_flow_table *t, uint64_t now_ms, unsigned budget);

void dp_flow_stats(const struct dp_flow_table *t, struct dp_flow_stats *ret);
const char *dp_flow_class_name(enum dp_flow_class c);

#endif
