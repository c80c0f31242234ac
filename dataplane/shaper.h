/* SPDX-License-Identifier: MIT */
/*
 * Rate limits: `rate RATE` on an allow rule (docs/policy.md) is a shaper,
 * as tc's HTB or fq's pacing would be, not a policer: a policer that
 * drops what exceeds a bucket gives one TCP flow about half its rate (it
 * halves its window at every drop), a shaper that delays it gives TCP
 * the rate (it sees a queue, and a drop only when the queue is full).
 *
 * One clock per (rule, device, direction), the key the eBPF classifier
 * uses for its own limits: a declared device is its index whatever MAC it
 * sends from, a device never seen before is its MAC.  The clocks are
 * shared by the workers (struct dp_rates), so a device whose flows are on
 * several workers (its IPv6 flows follow their addresses, its IPv4 ones
 * its MAC; a declared device may use several MACs) gets one rate, not
 * one per worker.  A clock is the time its link is free again (earliest
 * departure time, as Cilium's bandwidth manager sets skb->tstamp for fq):
 * a packet of len bytes departs at max(now, free - burst) and moves free
 * on by len at the rate, with one compare-and-swap.  Departing now, it is
 * sent; later, it waits in the worker's held packets (a binary heap by
 * departure time, released from the worker's loop); later than the
 * clock's limit (a bounded queue, in time), it is dropped as rate_limit.
 *
 *   burst: DP_SHAPE_BURST_MS of the rate, at least DP_SHAPE_BURST_MIN
 *          bytes: what may leave at once after an idle time;
 *   limit: DP_SHAPE_QUEUE_PKTS full-size packets at the rate, within
 *          [DP_SHAPE_QUEUE_MIN_MS, DP_SHAPE_QUEUE_MAX_MS]: TCP needs a few
 *          packets queued to keep the link busy, a household does not
 *          want seconds of delay on a slow limit.
 *
 * Each worker keeps its own map from key to clock (an rte_hash, no lock,
 * recycled when idle), so a packet costs a lookup and a CAS; the shared
 * table is locked only when a worker first meets a key.  Held packets:
 * at most `hold` per worker; a full heap drops as rate_limit.
 */
#ifndef GW_DATAPLANE_SHAPER_H
#define GW_DATAPLANE_SHAPER_H

#include <stdbool.h>
#include <stdint.h>

#define DP_SHAPE_BURST_MS 50
#define DP_SHAPE_BURST_MIN 3000
#define DP_SHAPE_QUEUE_PKTS 64
#define DP_SHAPE_QUEUE_MIN_MS 100
#define DP_SHAPE_QUEUE_MAX_MS 200
#define DP_SHAPE_IDLE_MS 10000 /* a worker's key unused this long may be recycled */

struct dp_rate_key {
	uint32_t rule;
	uint32_t device; /* device index, or UINT32_MAX for a new device */
	uint8_t mac[6];  /* a new device's MAC, else 0 */
	uint8_t dir;     /* 0: from the device, 1: to it */
	uint8_t pad;
};
_Static_assert(sizeof(struct dp_rate_key) == 16, "dp_rate_key layout");

/* ------------------------------------------------------- shared clocks */

struct dp_rates;

/* capacity: keys at once (all workers).  -ENOMEM, -EINVAL. */
int dp_rates_new(const char *name, uint32_t capacity, int socket, struct dp_rates **ret);
void dp_rates_free(struct dp_rates *r);

/* ------------------------------------------------------- a worker's */

struct dp_shaper;

struct dp_shaper_stats {
	uint64_t sent, held, dropped; /* packets: at once, delayed, over the limit */
	uint64_t heap_full;           /* dropped: the worker holds `hold` packets */
	uint64_t unshaped;            /* let through: no clock could be had */
};

/* name: unique among this process's hashes; keys: this worker's keys at
 * once; hold: packets it may hold.  rates: shared with the other workers,
 * or NULL for a table of its own.  -ENOMEM, -EINVAL. */
int dp_shaper_new(const char *name, uint32_t keys, uint32_t hold, struct dp_rates *rates,
		  int socket, struct dp_shaper **ret);
void dp_shaper_free(struct dp_shaper *s);

enum dp_shape { DP_SHAPE_SEND, DP_SHAPE_HOLD, DP_SHAPE_DROP };

/* What becomes of a packet of len bytes under key k limited to rate_bps
 * (bits per second), now (tsc: rte_get_tsc_cycles(), now_ms the worker's
 * clock): sent at once, held until *ret_when (tsc; then the caller must
 * dp_shaper_hold it), or dropped.  A key no clock can be had for (the
 * tables are full of busy keys) passes, counted as unshaped. */
enum dp_shape dp_shaper_admit(struct dp_shaper *s, const struct dp_rate_key *k,
			      uint64_t rate_bps, uint32_t len, uint64_t tsc, uint64_t now_ms,
			      uint64_t *ret_when);
/* Holds pkt until when (tsc), with two bytes of the caller's (roles);
 * false when the worker holds all it may (the caller drops it). */
bool dp_shaper_hold(struct dp_shaper *s, uint64_t when, void *pkt, uint8_t a, uint8_t b);
/* Up to max held packets whose time has come (all of them with tsc
 * UINT64_MAX), in order of departure; 0 when none. */
unsigned dp_shaper_due(struct dp_shaper *s, uint64_t tsc, void **ret_pkt, uint8_t *ret_a,
		       uint8_t *ret_b, unsigned max);
/* Packets held now. */
unsigned dp_shaper_held(const struct dp_shaper *s);
/* The earliest departure held (tsc), UINT64_MAX when none. */
uint64_t dp_shaper_next(const struct dp_shaper *s);
void dp_shaper_stats(const struct dp_shaper *s, struct dp_shaper_stats *ret);

#endif
