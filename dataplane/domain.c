/* SPDX-License-Identifier: MIT */
/*
 * The runtime domain table (see domain.h).
 *
 * Slots: rte_hash hands out key positions; positions index vals[].  With
 * RW_CONCURRENCY_LF a deleted key's position is not freed by the delete:
 * the agent keeps it on a pending list with an RCU token and gives it back
 * (rte_hash_free_key_with_position) once every worker has passed a
 * quiescent point, so a worker that found the key before the delete reads
 * a value nobody rewrote for another address.  live + pending never
 * exceeds capacity, which is how a whole request is known to fit before
 * anything changes.  The hash has an extendable bucket table, so an add
 * below capacity cannot fail for want of a bucket.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_malloc.h>

#include "domain.h"
#include "hash.h"

struct dkey {
	uint8_t addr[16];
	uint8_t family;
	uint8_t pad[3];
};

struct dval {
	uint64_t sets;      /* 0: the slot is being set up or torn down */
	uint64_t expire_ms; /* rte timer ms */
	struct dkey key;    /* for the sweep */
};

struct pending {
	int32_t pos;
	uint64_t token;
};

struct dp_domains {
	struct rte_hash *h;
	struct rte_rcu_qsbr *qsbr;
	struct dval *vals;
	struct pending *pend; /* capacity entries at most */
	uint32_t capacity, live, npend;
	uint32_t sweep_at; /* where the next sweep starts */
};

static void make_key(struct dkey *k, uint8_t family, const uint8_t addr[16])
{
	memset(k, 0, sizeof(*k));
	k->family = family;
	memcpy(k->addr, addr, family == 4 ? 4 : 16);
}

int dp_domains_new(const char *name, uint32_t capacity, int socket, struct rte_rcu_qsbr *qsbr,
		   struct dp_domains **ret)
{
	int r = dp_hash_init();
	if (r < 0)
		return r;
	struct dp_domains *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(struct dkey),
		.hash_func = dp_hash_rte,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	d->capacity = capacity;
	d->qsbr = qsbr;
	d->h = rte_hash_create(&hp);
	/* Positions run 0..capacity (one spare: the hash's own numbering). */
	d->vals = rte_zmalloc_socket("dp_domain_vals", (capacity + 1) * sizeof(*d->vals),
				     RTE_CACHE_LINE_SIZE, socket);
	d->pend = calloc(capacity, sizeof(*d->pend));
	if (!d->h || !d->vals || !d->pend) {
		dp_domains_free(d);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}

void dp_domains_free(struct dp_domains *d)
{
	if (!d)
		return;
	rte_hash_free(d->h);
	rte_free(d->vals);
	free(d->pend);
	free(d);
}

uint64_t dp_domains_lookup(const struct dp_domains *d, uint8_t family, const uint8_t addr[16],
			   uint64_t now_ms)
{
	struct dkey k;
	make_key(&k, family, addr);
	int32_t pos = rte_hash_lookup(d->h, &k);
	if (pos < 0)
		return 0;
	const struct dval *v = &d->vals[pos];
	if (__atomic_load_n(&v->expire_ms, __ATOMIC_RELAXED) <= now_ms)
		return 0;
	return __atomic_load_n(&v->sets, __ATOMIC_RELAXED);
}

uint32_t dp_domains_count(const struct dp_domains *d)
{
	return d->live;
}

/* Gives back the positions no reader can still hold. */
static void reclaim(struct dp_domains *d)
{
	uint32_t keep = 0;
	for (uint32_t i = 0; i < d->npend; i++) {
		if (!d->qsbr || rte_rcu_qsbr_check(d->qsbr, d->pend[i].token, false) == 1)
			rte_hash_free_key_with_position(d->h, d->pend[i].pos);
		else
			d->pend[keep++] = d->pend[i];
	}
	d->npend = keep;
}

static void remove_at(struct dp_domains *d, const struct dkey *k)
{
	int32_t pos = rte_hash_del_key(d->h, k);
	if (pos < 0)
		return;
	d->live--;
	/* Readers that still find the slot read "absent" from now on, and
	 * the next address to get it starts from nothing. */
	__atomic_store_n(&d->vals[pos].sets, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->vals[pos].expire_ms, 0, __ATOMIC_RELAXED);
	uint64_t token = d->qsbr ? rte_rcu_qsbr_start(d->qsbr) : 0;
	d->pend[d->npend++] = (struct pending){ pos, token };
}

int dp_domains_apply(struct dp_domains *d, const struct dp_domain_entry *v, uint32_t n,
		     uint64_t now_ms, uint64_t *ret_changed)
{
	/* Does it fit?  Count the addresses it adds (a duplicate within
	 * the request counts each time: a bound, not the exact number). */
	uint32_t adds = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct dkey k;
		make_key(&k, v[i].family, v[i].addr);
		if (v[i].sets && rte_hash_lookup(d->h, &k) < 0)
			adds++;
	}
	if (d->live + d->npend + adds > d->capacity)
		reclaim(d);
	if (d->live + d->npend + adds > d->capacity)
		return -ENOSPC;

	uint64_t changed = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct dkey k;
		make_key(&k, v[i].family, v[i].addr);
		int32_t pos = rte_hash_lookup(d->h, &k);
		struct dval *val = pos >= 0 ? &d->vals[pos] : NULL;
		bool live = val && val->expire_ms > now_ms;
		uint64_t old = live ? val->sets : 0;
		if (!v[i].sets) {
			changed |= old;
			if (val)
				remove_at(d, &k);
			continue;
		}
		uint32_t ttl = v[i].ttl_s < DP_DOMAIN_TTL_MIN ? DP_DOMAIN_TTL_MIN : v[i].ttl_s;
		uint64_t expire = now_ms + (uint64_t)ttl * 1000;
		changed |= old ^ v[i].sets;
		if (val) {
			__atomic_store_n(&val->sets, v[i].sets, __ATOMIC_RELAXED);
			__atomic_store_n(&val->expire_ms, expire, __ATOMIC_RELAXED);
			continue;
		}
		/* A position is only known once the key is in, so the value
		 * goes in through the position the add returns: a reader
		 * that finds the key before the stores sees sets 0 or an
		 * old expiry, which reads as "absent". */
		pos = rte_hash_add_key(d->h, &k);
		if (pos < 0)
			return pos; /* cannot happen below capacity (EXT_TABLE) */
		val = &d->vals[pos];
		val->key = k;
		__atomic_store_n(&val->sets, v[i].sets, __ATOMIC_RELAXED);
		__atomic_store_n(&val->expire_ms, expire, __ATOMIC_RELEASE);
		d->live++;
	}
	*ret_changed = changed;
	return 0;
}

unsigned dp_domains_sweep(struct dp_domains *d, uint64_t now_ms, unsigned budget)
{
	unsigned removed = 0;
	reclaim(d);
	for (uint32_t seen = 0; seen < budget && d->live; seen++) {
		uint32_t pos = d->sweep_at;
		d->sweep_at = d->sweep_at >= d->capacity ? 0 : d->sweep_at + 1;
		struct dval *val = &d->vals[pos];
		if (!val->sets || val->expire_ms > now_ms)
			continue;
		struct dkey k = val->key;
		int32_t at = rte_hash_lookup(d->h, &k);
		if (at != (int32_t)pos)
			continue; /* a slot freed earlier, its value stale */
		remove_at(d, &k);
		removed++;
	}
	return removed;
}
