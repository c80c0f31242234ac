/* SPDX-License-Identifier: MIT */
/* NAT44 mappings (see nat.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "hash.h"
#include "nat.h"

enum { P_TCP, P_UDP, P_ICMP, P_COUNT };

struct nat_key {
	uint8_t ip[4];
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
};
_Static_assert(sizeof(struct nat_key) == 8, "nat_key layout");

/* What a mapping keeps beside its key (which the hash stores). */
struct map {
	uint16_t ext;
	uint8_t mac[6];
	uint32_t refs;
};
_Static_assert(sizeof(struct map) == 12, "nat map: keep the per-flow memory budget");

struct dp_nat {
	struct rte_hash *hash;
	struct map *maps; /* by the key's hash position */
	uint32_t capacity;
	uint16_t lo, hi;
	uint32_t *by_ext[P_COUNT]; /* external port - lo -> mapping or its only flow (nat.h) */
	struct dp_nat_stats stats;
};

/* rte_hash compares keys it has no vector compare for (8 bytes) with
 * memcmp: one word compare is cheaper. */
static int key_cmp(const void *a, const void *b, size_t len)
{
	(void)len;
	uint64_t x, y;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return x != y;
}

static int pindex(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return P_TCP;
	case IPPROTO_UDP: return P_UDP;
	case IPPROTO_ICMP: return P_ICMP;
	}
	return -1;
}

int dp_nat_new(const char *name, uint32_t capacity, uint16_t lo, uint16_t hi, int socket,
	       struct dp_nat **ret)
{
	if (capacity < 1 || capacity > (1u << 30) || lo == 0 || lo > hi)
		return -EINVAL;
	int r = dp_hash_init();
	if (r < 0)
		return r;
	struct dp_nat *n = rte_zmalloc_socket("dp_nat", sizeof(*n), 0, socket);
	if (!n)
		return -ENOMEM;
	uint32_t range = (uint32_t)hi - lo + 1;
	if (capacity > P_COUNT * range)
		capacity = P_COUNT * range;
	/* Positions 0..entries - 1 index maps.  All of capacity, even a
	 * power of two (whose free-slot ring, entries + 1 rounded up, then
	 * doubles: 4 bytes a mapping): each IPv4 flow may hold a mapping of
	 * its own, and one short, a full flow table could not map a new flow
	 * even after making room; a table bounded by the range (3 * range
	 * mappings) must hold every port. */
	uint32_t entries = capacity < 8 ? 8 : capacity;
	n->capacity = entries;
	n->lo = lo;
	n->hi = hi;
	n->maps = rte_zmalloc_socket("dp_nat_maps", sizeof(*n->maps) * entries, 0, socket);
	bool ok = n->maps != NULL;
	for (int p = 0; p < P_COUNT && ok; p++) {
		n->by_ext[p] = rte_malloc_socket("dp_nat_ports", sizeof(uint32_t) * range, 0, socket);
		ok = n->by_ext[p] != NULL;
		if (ok)
			memset(n->by_ext[p], 0xff, sizeof(uint32_t) * range);
	}
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = entries,
		.key_len = sizeof(struct nat_key),
		.hash_func = dp_hash_rte,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	if (ok)
		n->hash = rte_hash_create(&hp);
	if (!ok || !n->hash) {
		dp_nat_free(n);
		return -ENOMEM;
	}
	rte_hash_set_cmp_func(n->hash, key_cmp);
	*ret = n;
	return 0;
}

void dp_nat_free(struct dp_nat *n)
{
	if (!n)
		return;
	rte_hash_free(n->hash);
	for (int p = 0; p < P_COUNT; p++)
		rte_free(n->by_ext[p]);
	rte_free(n->maps);
	rte_free(n);
}

static struct nat_key make_key(uint8_t proto, const uint8_t ip[4], uint16_t port)
{
	struct nat_key k = { .port = port, .proto = proto };
	memcpy(k.ip, ip, 4);
	return k;
}

/* The hash's function inline (the keyed hash over the 8 bytes, as the
 * table is created with), for the _with_hash calls. */
static inline uint32_t sig(const struct nat_key *k)
{
	return dp_hash_bytes(k, sizeof(*k));
}

/* A free external port: the internal one if we may, else probe from a
 * point that depends on the endpoint (so hosts spread over the range). */
static int pick_port(struct dp_nat *n, int p, const struct nat_key *k, uint16_t *ret)
{
	uint32_t range = (uint32_t)n->hi - n->lo + 1;
	if (k->port >= n->lo && k->port <= n->hi && n->by_ext[p][k->port - n->lo] == DP_NAT_NONE) {
		*ret = k->port;
		n->stats.preserved++;
		return 0;
	}
	uint32_t start = rte_hash_crc(k, sizeof(*k), 0x9e3779b9u) % range;
	for (uint32_t i = 0; i < range; i++) {
		uint32_t at = (start + i) % range;
		if (n->by_ext[p][at] == DP_NAT_NONE) {
			*ret = (uint16_t)(n->lo + at);
			return 0;
		}
	}
	return -ENOSPC;
}

int dp_nat_acquire(struct dp_nat *n, uint8_t proto, const uint8_t ip[4], uint16_t port,
		   const uint8_t mac[6], uint32_t *ret_idx)
{
	int p = pindex(proto);
	if (p < 0)
		return -EINVAL;
	struct nat_key k = make_key(proto, ip, port);
	uint32_t h = sig(&k);
	/* One call finds the endpoint's mapping or makes its entry: the
	 * add returns the position of a key already there, and a position
	 * no mapping holds has no references (unmap leaves it at 0). */
	int32_t pos = rte_hash_add_key_with_hash(n->hash, &k, h);
	if (pos < 0) {
		n->stats.exhausted++;
		return -ENOSPC;
	}
	struct map *m = &n->maps[pos];
	if (m->refs) {
		m->refs++;
		memcpy(m->mac, mac, 6);
		*ret_idx = (uint32_t)pos;
		return 0;
	}
	uint16_t ext;
	if (pick_port(n, p, &k, &ext) < 0) {
		rte_hash_del_key_with_hash(n->hash, &k, h);
		n->stats.exhausted++;
		return -ENOSPC;
	}
	m->ext = ext;
	memcpy(m->mac, mac, 6);
	m->refs = 1;
	n->by_ext[p][ext - n->lo] = (uint32_t)pos;
	n->stats.created++;
	n->stats.active++;
	*ret_idx = (uint32_t)pos;
	return 0;
}

void dp_nat_prefetch(const struct dp_nat *n, unsigned count, const uint8_t *proto,
		     const uint8_t (*ip)[4], const uint16_t *port)
{
	struct nat_key k[RTE_HASH_LOOKUP_BULK_MAX];
	const void *kp[RTE_HASH_LOOKUP_BULK_MAX];
	hash_sig_t h[RTE_HASH_LOOKUP_BULK_MAX];
	int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];
	if (count > RTE_HASH_LOOKUP_BULK_MAX)
		count = RTE_HASH_LOOKUP_BULK_MAX;
	if (!count)
		return;
	for (unsigned i = 0; i < count; i++) {
		k[i] = make_key(proto[i], ip[i], port[i]);
		kp[i] = &k[i];
		h[i] = sig(&k[i]);
	}
	/* (Only to warm the cache: the answers are not kept.) */
	if (rte_hash_lookup_with_hash_bulk(n->hash, kp, h, count, pos) < 0)
		return;
	for (unsigned i = 0; i < count; i++)
		if (pos[i] >= 0)
			rte_prefetch0(&n->maps[pos[i]]);
}

void dp_nat_prefetch_map(const struct dp_nat *n, uint32_t idx)
{
	rte_prefetch0(&n->maps[idx]);
}

void dp_nat_ref(struct dp_nat *n, uint32_t idx)
{
	n->maps[idx].refs++;
}

static const struct nat_key *key_at(const struct dp_nat *n, uint32_t idx)
{
	void *k = NULL;
	rte_hash_get_key_with_position(n->hash, (int32_t)idx, &k);
	return k;
}

static void unmap(struct dp_nat *n, struct map *m, const struct nat_key *k)
{
	n->by_ext[pindex(k->proto)][m->ext - n->lo] = DP_NAT_NONE;
	rte_hash_del_key_with_hash(n->hash, k, sig(k));
	n->stats.active--;
}

void dp_nat_release(struct dp_nat *n, uint32_t idx)
{
	struct map *m = &n->maps[idx];
	if (--m->refs)
		return;
	struct nat_key k = *key_at(n, idx);
	unmap(n, m, &k);
}

void dp_nat_put(struct dp_nat *n, uint32_t idx, uint8_t proto, const uint8_t ip[4],
		uint16_t port)
{
	struct map *m = &n->maps[idx];
	if (--m->refs)
		return;
	struct nat_key k = make_key(proto, ip, port);
	unmap(n, m, &k);
}

struct dp_nat_map dp_nat_get(const struct dp_nat *n, uint32_t idx)
{
	const struct map *m = &n->maps[idx];
	const struct nat_key *k = key_at(n, idx);
	struct dp_nat_map r = { .port = k->port, .ext = m->ext, .proto = k->proto,
				.refs = m->refs };
	memcpy(r.ip, k->ip, 4);
	memcpy(r.mac, m->mac, 6);
	return r;
}

uint16_t dp_nat_ext(const struct dp_nat *n, uint32_t idx)
{
	return n->maps[idx].ext;
}

const uint8_t *dp_nat_mac(const struct dp_nat *n, uint32_t idx)
{
	return n->maps[idx].mac;
}

uint32_t dp_nat_by_ext(const struct dp_nat *n, uint8_t proto, uint16_t ext)
{
	int p = pindex(proto);
	if (p < 0 || ext < n->lo || ext > n->hi)
		return DP_NAT_NONE;
	return n->by_ext[p][ext - n->lo];
}

void dp_nat_set_flow(struct dp_nat *n, uint32_t idx, uint8_t proto, uint32_t flow)
{
	int p = pindex(proto);
	if (p >= 0 && flow < DP_NAT_FLOW)
		n->by_ext[p][n->maps[idx].ext - n->lo] = DP_NAT_FLOW | flow;
}

uint32_t dp_nat_refs(const struct dp_nat *n, uint32_t idx)
{
	return n->maps[idx].refs;
}

void dp_nat_clear_flow(struct dp_nat *n, uint32_t idx, uint8_t proto)
{
	int p = pindex(proto);
	if (p >= 0)
		n->by_ext[p][n->maps[idx].ext - n->lo] = idx;
}

void dp_nat_stats(const struct dp_nat *n, struct dp_nat_stats *ret)
{
	*ret = n->stats;
}
