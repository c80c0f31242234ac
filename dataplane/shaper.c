/* SPDX-License-Identifier: MIT */
/*
 * Rate limits as shapers (see shaper.h): the clocks shared by the workers,
 * each worker's map from key to clock, and its held packets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_spinlock.h>

#include "hash.h"
#include "shaper.h"

#define FULL_PACKET 1514 /* bytes of a full-size Ethernet frame */

/* ------------------------------------------------------- shared clocks */

/* One key's clock.  free_at is the only word written per packet (a CAS);
 * the parameters are written under the table's lock when a rate is set
 * and read without it (each on its own: a packet at a rate change may see
 * the old one's burst with the new one's cost). */
struct clock {
	uint64_t free_at; /* tsc when the key's link is free again */
	uint64_t cpb_q16; /* tsc cycles per byte, << 16 */
	uint64_t burst;   /* tsc cycles the link may lag (what leaves at once) */
	uint64_t limit;   /* tsc cycles a packet may wait at most */
	uint64_t rate_bps;
	uint32_t refs;    /* workers' slots that point here (under the lock) */
} __rte_cache_aligned;

struct dp_rates {
	rte_spinlock_t lock;
	struct rte_hash *h; /* key -> clock (its position), under lock */
	struct clock *c;
	uint32_t capacity;
};

int dp_rates_new(const char *name, uint32_t capacity, int socket, struct dp_rates **ret)
{
	if (capacity < 1 || capacity > (1u << 24))
		return -EINVAL;
	int e = dp_hash_init();
	if (e < 0)
		return e;
	struct dp_rates *r = rte_zmalloc_socket("dp_rates", sizeof(*r), 0, socket);
	if (!r)
		return -ENOMEM;
	rte_spinlock_init(&r->lock);
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity < 8 ? 8 : capacity,
		.key_len = sizeof(struct dp_rate_key),
		.hash_func = dp_hash_rte,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	r->h = rte_hash_create(&hp);
	r->capacity = r->h ? (uint32_t)rte_hash_max_key_id(r->h) + 1 : 0;
	r->c = r->h ? rte_zmalloc_socket("dp_rate_clocks", sizeof(*r->c) * r->capacity,
					 RTE_CACHE_LINE_SIZE, socket) : NULL;
	if (!r->h || !r->c) {
		dp_rates_free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

void dp_rates_free(struct dp_rates *r)
{
	if (!r)
		return;
	rte_hash_free(r->h);
	rte_free(r->c);
	rte_free(r);
}

/* The clock of k, made if needed, with one more reference; -ENOSPC. */
static int32_t clock_get(struct dp_rates *r, const struct dp_rate_key *k)
{
	rte_spinlock_lock(&r->lock);
	int32_t pos = rte_hash_lookup(r->h, k);
	if (pos < 0) {
		pos = rte_hash_add_key(r->h, k);
		if (pos >= 0)
			memset(&r->c[pos], 0, sizeof(r->c[pos]));
	}
	if (pos >= 0)
		r->c[pos].refs++;
	rte_spinlock_unlock(&r->lock);
	return pos;
}

static void clock_put(struct dp_rates *r, int32_t pos, const struct dp_rate_key *k)
{
	rte_spinlock_lock(&r->lock);
	if (--r->c[pos].refs == 0)
		rte_hash_del_key(r->h, k);
	rte_spinlock_unlock(&r->lock);
}

static void clock_set(struct dp_rates *r, int32_t pos, uint64_t rate_bps, uint64_t hz)
{
	struct clock *c = &r->c[pos];
	uint64_t bytes_per_s = rate_bps / 8 ? rate_bps / 8 : 1;
	uint64_t cpb = (hz << 16) / bytes_per_s;
	uint64_t burst = bytes_per_s * DP_SHAPE_BURST_MS / 1000;
	if (burst < DP_SHAPE_BURST_MIN)
		burst = DP_SHAPE_BURST_MIN;
	uint64_t limit = DP_SHAPE_QUEUE_PKTS * FULL_PACKET * cpb >> 16;
	uint64_t lo = hz * DP_SHAPE_QUEUE_MIN_MS / 1000, hi = hz * DP_SHAPE_QUEUE_MAX_MS / 1000;
	limit = limit < lo ? lo : limit > hi ? hi : limit;
	rte_spinlock_lock(&r->lock);
	__atomic_store_n(&c->cpb_q16, cpb, __ATOMIC_RELAXED);
	__atomic_store_n(&c->burst, burst * cpb >> 16, __ATOMIC_RELAXED);
	__atomic_store_n(&c->limit, limit, __ATOMIC_RELAXED);
	__atomic_store_n(&c->rate_bps, rate_bps, __ATOMIC_RELAXED);
	rte_spinlock_unlock(&r->lock);
}

/* ------------------------------------------------------- a worker's */

struct slot {
	int32_t clock;     /* in the shared table; -1: none */
	uint64_t rate_bps; /* the rate this worker last set it to */
	uint64_t last_ms;
	struct dp_rate_key key;
};

struct held {
	uint64_t when;
	void *pkt;
	uint8_t a, b;
};

struct dp_shaper {
	struct rte_hash *h; /* key -> slot (its position) */
	struct slot *slots;
	uint32_t capacity, used, scan;
	struct dp_rates *rates;
	bool own_rates;
	struct held *heap; /* a binary heap by when */
	uint32_t hold, nheld;
	uint64_t hz;
	struct dp_shaper_stats stats;
};

int dp_shaper_new(const char *name, uint32_t keys, uint32_t hold, struct dp_rates *rates,
		  int socket, struct dp_shaper **ret)
{
	if (keys < 1 || hold < 1)
		return -EINVAL;
	struct dp_shaper *s = rte_zmalloc_socket("dp_shaper", sizeof(*s), 0, socket);
	if (!s)
		return -ENOMEM;
	int r = -ENOMEM;
	if (rates) {
		s->rates = rates;
	} else {
		char rn[64];
		snprintf(rn, sizeof(rn), "%s_r", name);
		if ((r = dp_rates_new(rn, keys, socket, &s->rates)) < 0)
			goto fail;
		s->own_rates = true;
		r = -ENOMEM;
	}
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = keys < 8 ? 8 : keys,
		.key_len = sizeof(struct dp_rate_key),
		.hash_func = dp_hash_rte,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	s->h = rte_hash_create(&hp);
	if (!s->h)
		goto fail;
	s->capacity = (uint32_t)rte_hash_max_key_id(s->h) + 1;
	s->slots = rte_zmalloc_socket("dp_shaper_slots", sizeof(*s->slots) * s->capacity, 0,
				      socket);
	s->heap = rte_malloc_socket("dp_shaper_heap", sizeof(*s->heap) * hold, 0, socket);
	if (!s->slots || !s->heap)
		goto fail;
	s->hold = hold;
	s->hz = rte_get_tsc_hz();
	*ret = s;
	return 0;
fail:
	dp_shaper_free(s);
	return r;
}

void dp_shaper_free(struct dp_shaper *s)
{
	if (!s)
		return;
	if (s->slots && s->rates && !s->own_rates)
		for (uint32_t i = 0; i < s->capacity; i++)
			if (s->slots[i].rate_bps && s->slots[i].clock >= 0)
				clock_put(s->rates, s->slots[i].clock, &s->slots[i].key);
	rte_hash_free(s->h);
	rte_free(s->slots);
	rte_free(s->heap);
	if (s->own_rates)
		dp_rates_free(s->rates);
	rte_free(s);
}

/* Makes room by letting go of a key unused for DP_SHAPE_IDLE_MS (a scan
 * of at most the whole table, resumed where the last one stopped). */
static bool recycle(struct dp_shaper *s, uint64_t now_ms)
{
	for (uint32_t seen = 0; seen < s->capacity; seen++) {
		struct slot *sl = &s->slots[s->scan];
		s->scan = s->scan + 1 >= s->capacity ? 0 : s->scan + 1;
		if (!sl->rate_bps || now_ms - sl->last_ms < DP_SHAPE_IDLE_MS)
			continue;
		if (sl->clock >= 0)
			clock_put(s->rates, sl->clock, &sl->key);
		if (rte_hash_del_key(s->h, &sl->key) >= 0)
			s->used--;
		sl->rate_bps = 0;
		return true;
	}
	return false;
}

/* This worker's slot of k, with its clock; NULL when none can be had. */
static struct slot *slot_of(struct dp_shaper *s, const struct dp_rate_key *k, uint64_t now_ms)
{
	int32_t pos = rte_hash_lookup(s->h, k);
	if (pos >= 0)
		return &s->slots[pos];
	if (s->used >= s->capacity && !recycle(s, now_ms))
		return NULL;
	pos = rte_hash_add_key(s->h, k);
	if (pos < 0)
		return NULL;
	struct slot *sl = &s->slots[pos];
	sl->clock = clock_get(s->rates, k);
	if (sl->clock < 0) {
		rte_hash_del_key(s->h, k);
		return NULL;
	}
	s->used++;
	sl->key = *k;
	sl->rate_bps = 0;
	return sl;
}

enum dp_shape dp_shaper_admit(struct dp_shaper *s, const struct dp_rate_key *k,
			      uint64_t rate_bps, uint32_t len, uint64_t tsc, uint64_t now_ms,
			      uint64_t *ret_when)
{
	if (rate_bps / 8 > 10000000000ull) /* 80 Gbit/s: beyond, no limit bites (as eBPF) */
		return DP_SHAPE_SEND;
	struct slot *sl = slot_of(s, k, now_ms);
	if (!sl) {
		s->stats.unshaped++;
		return DP_SHAPE_SEND;
	}
	if (sl->rate_bps != rate_bps) {
		clock_set(s->rates, sl->clock, rate_bps, s->hz);
		sl->rate_bps = rate_bps;
	}
	sl->last_ms = now_ms;
	struct clock *c = &s->rates->c[sl->clock];
	uint64_t cost = (uint64_t)len * __atomic_load_n(&c->cpb_q16, __ATOMIC_RELAXED) >> 16;
	uint64_t burst = __atomic_load_n(&c->burst, __ATOMIC_RELAXED);
	uint64_t limit = __atomic_load_n(&c->limit, __ATOMIC_RELAXED);
	/* A token bucket of `burst` kept as a time: tokens(now) = min(burst,
	 * now - free_at) (at the rate).  The packet goes when it has its
	 * tokens, and takes them. */
	uint64_t cur = __atomic_load_n(&c->free_at, __ATOMIC_RELAXED), depart, next;
	do {
		depart = cur + cost > tsc ? cur + cost : tsc;
		if (depart > tsc && (depart - tsc > limit || s->nheld == s->hold)) {
			if (s->nheld == s->hold)
				s->stats.heap_full++;
			s->stats.dropped++;
			return DP_SHAPE_DROP;
		}
		uint64_t floor = depart > burst ? depart - burst : 0;
		next = (cur > floor ? cur : floor) + cost;
	} while (!__atomic_compare_exchange_n(&c->free_at, &cur, next, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	if (depart <= tsc) {
		s->stats.sent++;
		return DP_SHAPE_SEND;
	}
	s->stats.held++;
	*ret_when = depart;
	return DP_SHAPE_HOLD;
}

bool dp_shaper_hold(struct dp_shaper *s, uint64_t when, void *pkt, uint8_t a, uint8_t b)
{
	if (s->nheld == s->hold)
		return false;
	uint32_t i = s->nheld++;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (s->heap[p].when <= when)
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = (struct held){ .when = when, .pkt = pkt, .a = a, .b = b };
	return true;
}

static void heap_pop(struct dp_shaper *s)
{
	struct held last = s->heap[--s->nheld];
	uint32_t i = 0, n = s->nheld;
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		if (l < n && s->heap[l].when < last.when)
			m = l;
		if (l + 1 < n && s->heap[l + 1].when < (m == i ? last.when : s->heap[m].when))
			m = l + 1;
		if (m == i)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (n)
		s->heap[i] = last;
}

unsigned dp_shaper_due(struct dp_shaper *s, uint64_t tsc, void **ret_pkt, uint8_t *ret_a,
		       uint8_t *ret_b, unsigned max)
{
	unsigned n = 0;
	while (n < max && s->nheld && s->heap[0].when <= tsc) {
		ret_pkt[n] = s->heap[0].pkt;
		ret_a[n] = s->heap[0].a;
		ret_b[n] = s->heap[0].b;
		n++;
		heap_pop(s);
	}
	return n;
}

unsigned dp_shaper_held(const struct dp_shaper *s)
{
	return s->nheld;
}

uint64_t dp_shaper_next(const struct dp_shaper *s)
{
	return s->nheld ? s->heap[0].when : UINT64_MAX;
}

void dp_shaper_stats(const struct dp_shaper *s, struct dp_shaper_stats *ret)
{
	*ret = s->stats;
}
