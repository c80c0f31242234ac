/* SPDX-License-Identifier: MIT */
/*
 * The cache (cache.h): a chained hash table of entries that are also on
 * one LRU list, most recently used at the head.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "name.h"

struct entry {
	struct entry *hnext;
	struct entry *prev, *next; /* LRU: head is the most recently used */
	uint8_t key[GWDNS_WIRE_MAX];
	uint8_t keylen;
	uint8_t rcode;
	uint16_t qtype, qclass;
	uint64_t stored_ms, expire_ms;
	size_t cost;
	ldns_rr_list *answer, *authority;
};

struct gwdns_cache {
	struct entry **buckets;
	size_t nbuckets;
	struct entry *head, *tail;
	size_t max_bytes;
	uint32_t seed;
	struct gwdns_cache_stats st;
};

int gwdns_cache_new(size_t max_bytes, uint32_t seed, struct gwdns_cache **ret)
{
	struct gwdns_cache *c = calloc(1, sizeof(*c));
	size_t want = 64;

	if (!c)
		return -ENOMEM;
	while (want < max_bytes / 256 && want < (1u << 22))
		want *= 2;
	c->nbuckets = want;
	c->buckets = calloc(want, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return -ENOMEM;
	}
	c->max_bytes = max_bytes;
	c->seed = seed;
	*ret = c;
	return 0;
}

static size_t bucket(const struct gwdns_cache *c, const uint8_t *key, size_t len, uint16_t qtype)
{
	return (gwdns_hash(key, len, c->seed ^ qtype)) & (c->nbuckets - 1);
}

static void unlink_entry(struct gwdns_cache *c, struct entry *e)
{
	struct entry **pp = &c->buckets[bucket(c, e->key, e->keylen, e->qtype)];

	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	c->st.bytes -= e->cost;
	c->st.entries--;
	ldns_rr_list_deep_free(e->answer);
	ldns_rr_list_deep_free(e->authority);
	free(e);
}

void gwdns_cache_flush(struct gwdns_cache *c)
{
	while (c->head)
		unlink_entry(c, c->head);
}

void gwdns_cache_free(struct gwdns_cache *c)
{
	if (!c)
		return;
	if (c->buckets)
		gwdns_cache_flush(c);
	free(c->buckets);
	free(c);
}

static struct entry *find(struct gwdns_cache *c, const uint8_t *key, size_t len, uint16_t qtype,
			  uint16_t qclass)
{
	struct entry *e = c->buckets[bucket(c, key, len, qtype)];

	for (; e; e = e->hnext)
		if (e->keylen == len && e->qtype == qtype && e->qclass == qclass &&
		    memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

static size_t list_cost(const ldns_rr_list *l)
{
	size_t i, cost = 0;

	for (i = 0; l && i < ldns_rr_list_rr_count(l); i++)
		cost += ldns_rr_uncompressed_size(ldns_rr_list_rr(l, i)) + GWDNS_CACHE_RR_COST;
	return cost;
}

static uint32_t list_min_ttl(const ldns_rr_list *l, uint32_t min)
{
	size_t i;

	for (i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		uint32_t t = ldns_rr_ttl(ldns_rr_list_rr(l, i));

		if (t < min)
			min = t;
	}
	return min;
}

/* The SOA of a negative answer's authority section, or NULL. */
static const ldns_rr *find_soa(const ldns_rr_list *l)
{
	size_t i;

	for (i = 0; l && i < ldns_rr_list_rr_count(l); i++)
		if (ldns_rr_get_type(ldns_rr_list_rr(l, i)) == LDNS_RR_TYPE_SOA)
			return ldns_rr_list_rr(l, i);
	return NULL;
}

int gwdns_cache_put(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype, uint16_t qclass,
		    uint8_t rcode, const ldns_rr_list *answer, const ldns_rr_list *authority,
		    uint32_t ttl_max, uint32_t neg_ttl_max, uint64_t now_ms)
{
	uint8_t key[GWDNS_WIRE_MAX];
	size_t len, cost;
	uint32_t ttl;
	int negative = answer == NULL || ldns_rr_list_rr_count(answer) == 0;
	struct entry *e, *old;

	if (ldns_rdf_size(qname) > GWDNS_WIRE_MAX)
		return -EINVAL;
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN)
		return 0;
	if (rcode == LDNS_RCODE_NXDOMAIN && !negative)
		negative = 1; /* an NXDOMAIN with a CNAME chain: cache as negative alone */
	len = gwdns_wire_lower(ldns_rdf_data(qname), ldns_rdf_size(qname), key);

	if (negative) {
		const ldns_rr *soa = find_soa(authority);
		const ldns_rdf *minimum;

		if (!soa)
			return 0;
		ttl = ldns_rr_ttl(soa);
		minimum = ldns_rr_rdf(soa, 6);
		if (minimum && ldns_rdf_size(minimum) == 4 && ldns_rdf2native_int32(minimum) < ttl)
			ttl = ldns_rdf2native_int32(minimum);
		if (ttl > neg_ttl_max)
			ttl = neg_ttl_max;
		cost = list_cost(authority);
	} else {
		ttl = list_min_ttl(answer, ttl_max);
		cost = list_cost(answer);
	}
	cost += GWDNS_CACHE_ENTRY_COST + len;
	if (ttl == 0 || cost > c->max_bytes / 4)
		return 0;

	old = find(c, key, len, qtype, qclass);
	if (old)
		unlink_entry(c, old);
	while (c->tail && c->st.bytes + cost > c->max_bytes) {
		unlink_entry(c, c->tail);
		c->st.evictions++;
	}

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	memcpy(e->key, key, len);
	e->keylen = (uint8_t)len;
	e->qtype = qtype;
	e->qclass = qclass;
	e->rcode = negative ? rcode : LDNS_RCODE_NOERROR;
	e->stored_ms = now_ms;
	e->expire_ms = now_ms + (uint64_t)ttl * 1000;
	e->cost = cost;
	if (negative) {
		/* Only the SOA, with the TTL the entry lives by. */
		ldns_rr *soa = ldns_rr_clone(find_soa(authority));

		e->authority = ldns_rr_list_new();
		if (!soa || !e->authority || !ldns_rr_list_push_rr(e->authority, soa)) {
			ldns_rr_free(soa);
			goto nomem;
		}
		ldns_rr_set_ttl(soa, ttl);
	} else {
		size_t i;

		e->answer = ldns_rr_list_clone(answer);
		if (!e->answer)
			goto nomem;
		for (i = 0; i < ldns_rr_list_rr_count(e->answer); i++) {
			ldns_rr *rr = ldns_rr_list_rr(e->answer, i);

			if (ldns_rr_ttl(rr) > ttl_max)
				ldns_rr_set_ttl(rr, ttl_max);
		}
	}
	e->hnext = c->buckets[bucket(c, key, len, qtype)];
	c->buckets[bucket(c, key, len, qtype)] = e;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
	c->st.bytes += cost;
	c->st.entries++;
	c->st.inserts++;
	return 0;
nomem:
	ldns_rr_list_deep_free(e->answer);
	ldns_rr_list_deep_free(e->authority);
	free(e);
	return -ENOMEM;
}

static int copy_section(ldns_pkt *resp, ldns_pkt_section s, const ldns_rr_list *l, uint32_t elapsed)
{
	size_t i;

	for (i = 0; l && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *rr = ldns_rr_clone(ldns_rr_list_rr(l, i));
		uint32_t t;

		if (!rr)
			return -ENOMEM;
		t = ldns_rr_ttl(rr);
		ldns_rr_set_ttl(rr, t > elapsed ? t - elapsed : 0);
		if (!ldns_pkt_push_rr(resp, s, rr)) {
			ldns_rr_free(rr);
			return -ENOMEM;
		}
	}
	return 0;
}

int gwdns_cache_get(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype, uint16_t qclass,
		    uint64_t now_ms, ldns_pkt *resp)
{
	uint64_t stored, expire;

	return gwdns_cache_get_times(c, qname, qtype, qclass, now_ms, resp, &stored, &expire);
}

int gwdns_cache_get_times(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype,
			  uint16_t qclass, uint64_t now_ms, ldns_pkt *resp, uint64_t *ret_stored,
			  uint64_t *ret_expire)
{
	uint8_t key[GWDNS_WIRE_MAX];
	size_t len;
	struct entry *e;
	uint32_t elapsed;
	int r;

	if (ldns_rdf_size(qname) > GWDNS_WIRE_MAX)
		return 0;
	len = gwdns_wire_lower(ldns_rdf_data(qname), ldns_rdf_size(qname), key);
	e = find(c, key, len, qtype, qclass);
	if (!e)
		return 0;
	if (now_ms >= e->expire_ms) {
		unlink_entry(c, e);
		return 0;
	}
	/* Most recently used to the head. */
	if (e != c->head) {
		e->prev->next = e->next;
		if (e->next)
			e->next->prev = e->prev;
		else
			c->tail = e->prev;
		e->prev = NULL;
		e->next = c->head;
		c->head->prev = e;
		c->head = e;
	}
	elapsed = (uint32_t)((now_ms - e->stored_ms) / 1000);
	ldns_pkt_set_rcode(resp, e->rcode);
	if ((r = copy_section(resp, LDNS_SECTION_ANSWER, e->answer, elapsed)) < 0 ||
	    (r = copy_section(resp, LDNS_SECTION_AUTHORITY, e->authority, elapsed)) < 0)
		return r;
	*ret_stored = e->stored_ms;
	*ret_expire = e->expire_ms;
	return 1;
}

void gwdns_cache_stats(const struct gwdns_cache *c, struct gwdns_cache_stats *ret)
{
	*ret = c->st;
}
