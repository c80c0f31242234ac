/* SPDX-License-Identifier: MIT */
/*
 * The flow table: one entry per connection, found from either direction.
 * Each flow has two keys, key d being the tuple of a packet of direction d
 * as it is received (direction 0 opened the flow), so a packet of
 * direction d leaves as the reverse of key 1 - d.
 *
 * Two hashes, one per family.  IPv4 (the flows that carry NAT, and most
 * of a home's) has a cuckoo hash of its own (flow.c): 64-byte buckets of
 * eight slots, a slot being the key's 32-bit hash and its flow's index
 * and direction; the key itself is only in the flow, which keeps both
 * IPv4 keys packed (struct dp_flow_key4, 16 bytes) inline, as the rewrite
 * reads them on every packet, and a lookup compares against it.  IPv6
 * (a quarter of the IPv4 flows, no NAT) is an rte_hash with its 40-byte
 * keys in its key store, and its flows keep only the keys' positions
 * there (dp_flow_key reads them back).  Neither hash has an overflow
 * table (it would take 16 bytes a flow): when cuckoo displacement finds
 * no room, the insert evicts as a full table does and tries again.
 *
 * Memory per IPv4 flow (the bench's figure: the IPv4 part of the table
 * over the IPv4 flows it holds), where each byte goes:
 *   struct dp_flow                                  120
 *     keys 32 (both, inline), counters 32, the TCP window tracker 16
 *     (tcpwin.h: what keeps an off-path RST from ending a connection),
 *     class list links 8, verdict cache (rule, generation) 8, NAT
 *     mapping and device indexes 8, last packet 4, MAC 6, the rest 6
 *   hash buckets: 2 keys a flow, 8 bytes a slot, at most 7/8 full  18.3
 *   total                                           138.3
 * and the NAT table's 66.4 (nat.h) beside it: 204.7 bytes, the budget
 * being 256 (tests/dataplane/test_flow.c, test_memory).  On rte_hash the
 * IPv4 keys cost 91.4 instead of 18.3: a 32-byte key-store entry (the
 * 16-byte key and an 8-byte data pointer, aligned to 16) and a 4-byte
 * free-slot ring entry per key beside the buckets.  The hash is sized for
 * two keys a flow, but a NAT mapping's only flow puts only key 0 in it
 * (dp_flow_add_unhashed): its replies are found through the mapping's
 * external port (nat.h), which saves a new flow one hash insert, one
 * delete and the reply key's existence check.
 *
 * Bounded: entries come from a fixed array.  Each flow sits in the list of
 * its family's timeout class, kept in order of last activity, so idle
 * expiry looks at list heads only, and eviction under pressure takes the
 * least recently active flow of the most expendable class first (closed,
 * then half-open TCP, then one-way UDP, ...; established TCP last), so a
 * SYN flood only ever evicts its own kind.
 *
 * Owned by one worker lcore: no locks, no atomics.
 */
#ifndef GW_DATAPLANE_FLOW_H
#define GW_DATAPLANE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "tcpwin.h"

#define DP_FLOW_NONE UINT32_MAX

struct dp_flow_key {
	uint8_t src[16], dst[16];
	uint16_t sport, dport; /* host order; ICMP echo: the identifier in both */
	uint8_t proto, family;
	uint8_t role;          /* the port role it arrives on (DP_ROLE_*) */
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_flow_key) == 40, "dp_flow_key layout");

/* An IPv4 key as the IPv4 hash stores it (dp_flow_key packed). */
struct dp_flow_key4 {
	uint8_t src[4], dst[4];
	uint16_t sport, dport;
	uint8_t proto, role;
	uint16_t pad;
};
_Static_assert(sizeof(struct dp_flow_key4) == 16, "dp_flow_key4 layout");

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
#define DP_FLOW_NAT     0x10u /* nat_map is held */
/* Its remote address is counted in its mapping's peer table (nat.h,
 * address-dependent filtering). */
#define DP_FLOW_PEER    0x20u
#define DP_FLOW_RATE    0x40u /* its rule has a rate: meter every packet (meter.h) */
/* Key 1 is not in the hash (dp_flow_add_unhashed): the flow is found from
 * that side by its owner's own means (a NAT mapping's external port). */
#define DP_FLOW_UNHASHED1 0x80u

/* 120 bytes: see the memory budget above before adding to it.  Ranges:
 * indexes (nat_map, dev, prev, next) are below the table's 2^28 slots;
 * last_ms wraps every 49 days and is compared by difference (timeouts are
 * at most hours); counters are 64-bit (a flow may live for months at line
 * rate). */
struct dp_flow {
	union {
		struct dp_flow_key4 v4[2]; /* family 4: both keys */
		int32_t pos6[2];           /* family 6: positions in the IPv6 hash */
	} key;
	uint64_t pkts[2], bytes[2];
	uint8_t mac[6];      /* the LAN device (next hop of direction 1) */
	uint8_t family;      /* 4 or 6; 0 while the slot is free */
	uint8_t proto;       /* IPPROTO_* */
	uint8_t cls : 3;     /* enum dp_flow_class */
	uint8_t tcp : 3;     /* enum dp_tcp_state */
	uint8_t action : 2;  /* enum pol_action, cached */
	uint8_t flags;       /* DP_FLOW_* */
	/* When it last moved to its class list's tail, in DP_FLOW_TICK_MS
	 * ticks (low 16 bits): see dp_flow_touch. */
	uint16_t moved;
	uint32_t last_ms;    /* of the last packet; compare by wrapping difference */
	uint32_t rule;       /* deciding rule, cached */
	uint32_t generation; /* policy generation that decided */
	uint32_t nat_map;    /* the NAT mapping it holds (DP_FLOW_NAT) */
	uint32_t dev;        /* its device's entry in the worker's caps (caps.h) */
	uint32_t prev, next; /* class list, or the free list (next) */
	struct dp_tcp_win tw; /* TCP: each direction's window (zero otherwise) */
};
_Static_assert(sizeof(struct dp_flow) == 120, "dp_flow: keep the per-flow memory budget");

struct dp_flow_table;

/* Called for every flow leaving the table (expiry, eviction, removal)
 * before its slot is reused: release what it holds. */
typedef void (*dp_flow_release_fn)(void *ctx, struct dp_flow *f);

/* Optional: called, while the table is full, for the flow likely to be
 * evicted next, an eviction ahead of its release: prefetch what the
 * release will read (its NAT mapping).  Only a hint: it may stay. */
typedef void (*dp_flow_warm_fn)(void *ctx, const struct dp_flow *f);
void dp_flow_set_warm(struct dp_flow_table *t, dp_flow_warm_fn fn);

struct dp_flow_stats {
	uint64_t created, expired, evicted, removed;
	uint32_t active;
};

/* name: unique among this process's hashes (the two hashes take name
 * with "4" and "6" appended).  capacity: sizes the IPv4 hash for that
 * many flows; from 4096 up the table holds 1/8 fewer, so the hash (with
 * no overflow table) stays below the load where cuckoo inserts grow
 * costly and then fail.
 * IPv6: a quarter of the IPv4 flows (at least 15).  dp_flow_capacity
 * says how many in all.  -ENOMEM, -EINVAL. */
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

/*
 * The fast path's way in: a key made ready once (packed for IPv4) with
 * its hash, so a packet's lookup, its flow's insert and a burst's bulk
 * lookup compute the hash once.  DP_FLOW_BULK_MAX probes are looked up at
 * a time with rte_hash's bulk lookup, which prefetches every probe's
 * buckets and keys before comparing, and the hits' flows are prefetched
 * too.  A bulk answer stays true while the table does not change: a miss
 * until the next insert, a hit until the next removal (dp_flow_changes).
 */
#define DP_FLOW_BULK_MAX 64

struct dp_flow_probe {
	union {
		struct dp_flow_key4 k4; /* family 4 */
		struct dp_flow_key k;   /* family 6 */
	} key;
	uint32_t sig;   /* the key's hash in its family's rte_hash */
	uint8_t family; /* 4 or 6 */
};

void dp_flow_probe_init(struct dp_flow_probe *ret, const struct dp_flow_key *k);
/* IPv4 directly from a packet's fields (addresses: 4 bytes). */
void dp_flow_probe4(struct dp_flow_probe *ret, uint8_t role, uint8_t proto, const uint8_t src[4],
		    const uint8_t dst[4], uint16_t sport, uint16_t dport);
uint32_t dp_flow_find(const struct dp_flow_table *t, const struct dp_flow_probe *p,
		      unsigned *ret_dir);
/* n <= DP_FLOW_BULK_MAX probes: ret_idx[i] (DP_FLOW_NONE on a miss) and
 * ret_dir[i].  Probes whose bit is set in skip are not looked up (a
 * miss). */
void dp_flow_find_bulk(struct dp_flow_table *t, const struct dp_flow_probe *p, unsigned n,
		       uint64_t skip, uint32_t *ret_idx, uint8_t *ret_dir);
/* The answer (idx, dir) the last dp_flow_find_bulk gave for p, made
 * true again after the table changed (dp_flow_changes): for IPv4 hits a
 * key compare; for misses, a lookup only when a key added since has
 * the same hash bits (the table keeps a bitmap of them). */
uint32_t dp_flow_refind(const struct dp_flow_table *t, const struct dp_flow_probe *p,
			uint32_t idx, unsigned *dir);
/* Inserts and removals so far: a bulk answer taken when these were
 * (ins, rem) holds for misses while ins is unchanged, for hits while rem
 * is. */
void dp_flow_changes(const struct dp_flow_table *t, uint64_t *ret_ins, uint64_t *ret_rem);
/* Makes sure the family's next insert finds a free slot, by expiry and
 * then eviction when the table is full (dp_flow_add does it too).  Call
 * it before taking what a new flow will hold that the flows leaving
 * release, such as a NAT mapping: with the table full, every mapping is
 * held and the new one finds no room until a flow goes.  -ENOSPC if
 * nothing could be evicted. */
int dp_flow_reserve(struct dp_flow_table *t, uint8_t family, uint64_t now_ms);
/* dp_flow_insert for a p0 the caller has just found absent (no insert
 * since): only p1 is checked.  -EEXIST, -ENOSPC. */
int dp_flow_add(struct dp_flow_table *t, const struct dp_flow_probe *p0,
		const struct dp_flow_probe *p1, uint8_t proto, uint64_t now_ms, uint32_t *ret_idx);
/* dp_flow_add for an IPv4 flow whose key 1 the caller keeps unique and
 * finds by its own means: key 1 is stored in the flow but not in the
 * hash (DP_FLOW_UNHASHED1), so neither dp_flow_find nor the bulk lookup
 * see it; dp_flow_is_key does.  One hash insert and one delete less a
 * flow.  -EINVAL (p0 not IPv4), -ENOSPC. */
int dp_flow_add_unhashed(struct dp_flow_table *t, const struct dp_flow_probe *p0,
			 const struct dp_flow_key4 *k1, uint8_t proto, uint64_t now_ms,
			 uint32_t *ret_idx);
/* Puts an unhashed key 1 (dp_flow_add_unhashed) into the hash after all:
 * the flow is found by both keys from now on.  -ENOSPC (a cuckoo dead
 * end: nothing is evicted for it, the flow stays as it was). */
int dp_flow_hash_key1(struct dp_flow_table *t, uint32_t idx);
/* Whether the flow in slot idx is live and has p (IPv4) as its key d. */
bool dp_flow_is_key(const struct dp_flow_table *t, uint32_t idx, unsigned d,
		    const struct dp_flow_probe *p);

/* A packet of direction dir: counters, TCP state, timeout class, recency.
 * The flow moves to its class list's tail when its class changes, and
 * otherwise at most once a DP_FLOW_TICK_MS tick: moving costs the list
 * neighbours' cache lines, and a busy flow would pay them on every
 * packet.  So the lists are in order of activity to a tick: eviction
 * takes a flow idle for as long as the least recently active one to
 * within a tick, and expiry may come a tick late. */
#define DP_FLOW_TICK_MS 1024
void dp_flow_touch(struct dp_flow_table *t, uint32_t idx, unsigned dir, uint32_t bytes,
		   uint8_t tcp_flags, uint64_t now_ms);

void dp_flow_remove(struct dp_flow_table *t, uint32_t idx);

/* Key d of a flow, unpacked. */
void dp_flow_key(const struct dp_flow_table *t, const struct dp_flow *f, unsigned d,
		 struct dp_flow_key *ret);

/* Milliseconds since the flow's last packet (now: the clock the worker
 * passes to dp_flow_touch). */
static inline uint64_t dp_flow_idle_ms(const struct dp_flow *f, uint64_t now_ms)
{
	return (uint32_t)((uint32_t)now_ms - f->last_ms);
}

/* For readers on other lcores (the control agent): slots 0..capacity-1,
 * and the flow in slot idx, or NULL when the slot is free.  Read without
 * a lock while the owner works: a snapshot that may be torn, never out of
 * the table's memory. */
uint32_t dp_flow_capacity(const struct dp_flow_table *t); /* both families */
uint32_t dp_flow_capacity4(const struct dp_flow_table *t); /* IPv4 flows (slots 0..n-1) */
const struct dp_flow *dp_flow_at(const struct dp_flow_table *t, uint32_t idx);

/* Removes up to budget idle flows; returns how many. */
unsigned dp_flow_expire(struct dp_flow_table *t, uint64_t now_ms, unsigned budget);

void dp_flow_stats(const struct dp_flow_table *t, struct dp_flow_stats *ret);
/* What each family takes of DPDK's heap, [0] IPv4 and [1] IPv6: its hash
 * (buckets, key store, free-slot ring) and its slots of the flow array,
 * as measured when the table was made. */
void dp_flow_memory(const struct dp_flow_table *t, uint64_t ret_bytes[2]);
const char *dp_flow_class_name(enum dp_flow_class c);

#endif
