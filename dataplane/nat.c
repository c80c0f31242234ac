/* SPDX-License-Identifier: MIT */
/* NAT44 mappings (see nat.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "nat.h"

enum { P_TCP, P_UDP, P_ICMP, P_COUNT };

struct nat_key {
	uint8_t ip[4];
	uint16_t port;
	uint8_t proto;
	uint8_t pad;
};
_Static_assert(sizeof(struct nat_key) == 8, "nat_key layout");

struct dp_nat {
	struct rte_hash *hash;
	struct dp_nat_map *maps;
	uint32_t capacity, free_head;
	uint16_t lo, hi;
	uint32_t *by_ext[P_COUNT]; /* external port - lo -> mapping */
	struct dp_nat_stats stats;
};

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
	struct dp_nat *n = rte_zmalloc_socket("dp_nat", sizeof(*n), 0, socket);
	if (!n)
		return -ENOMEM;
	n->capacity = capacity;
	n->lo = lo;
	n->hi = hi;
	uint32_t range = (uint32_t)hi - lo + 1;
	n->maps = rte_zmalloc_socket("dp_nat_maps", sizeof(*n->maps) * capacity, 0, socket);
	bool ok = n->maps != NULL;
	for (int p = 0; p < P_COUNT && ok; p++) {
		n->by_ext[p] = rte_malloc_socket("dp_nat_ports", sizeof(uint32_t) * range, 0, socket);
		ok = n->by_ext[p] != NULL;
		if (ok)
			memset(n->by_ext[p], 0xff, sizeof(uint32_t) * range);
	}
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity,
		.key_len = sizeof(struct nat_key),
		.hash_func = rte_hash_crc,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	if (ok)
		n->hash = rte_hash_create(&hp);
	if (!ok || !n->hash) {
		dp_nat_free(n);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < capacity; i++)
		n->maps[i].next_free = i + 1 < capacity ? i + 1 : DP_NAT_NONE;
	n->free_head = 0;
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
	void *data;
	if (rte_hash_lookup_data(n->hash, &k, &data) >= 0) {
		uint32_t idx = (uint32_t)(uintptr_t)data;
		n->maps[idx].refs++;
		memcpy(n->maps[idx].mac, mac, 6);
		*ret_idx = idx;
		return 0;
	}
	uint16_t ext;
	if (n->free_head == DP_NAT_NONE || pick_port(n, p, &k, &ext) < 0) {
		n->stats.exhausted++;
		return -ENOSPC;
	}
	uint32_t idx = n->free_head;
	if (rte_hash_add_key_data(n->hash, &k, (void *)(uintptr_t)idx) < 0) {
		n->stats.exhausted++;
		return -ENOSPC;
	}
	struct dp_nat_map *m = &n->maps[idx];
	n->free_head = m->next_free;
	memcpy(m->ip, ip, 4);
	m->port = port;
	m->ext = ext;
	m->proto = proto;
	memcpy(m->mac, mac, 6);
	m->refs = 1;
	m->next_free = DP_NAT_NONE;
	n->by_ext[p][ext - n->lo] = idx;
	n->stats.created++;
	n->stats.active++;
	*ret_idx = idx;
	return 0;
}

void dp_nat_ref(struct dp_nat *n, uint32_t idx)
{
	n->maps[idx].refs++;
}

void dp_nat_release(struct dp_nat *n, uint32_t idx)
{
	struct dp_nat_map *m = &n->maps[idx];
	if (--m->refs)
		return;
	struct nat_key k = make_key(m->proto, m->ip, m->port);
	rte_hash_del_key(n->hash, &k);
	n->by_ext[pindex(m->proto)][m->ext - n->lo] = DP_NAT_NONE;
	m->next_free = n->free_head;
	n->free_head = idx;
	n->stats.active--;
}

const struct dp_nat_map *dp_nat_get(const struct dp_nat *n, uint32_t idx)
{
	return &n->maps[idx];
}

uint32_t dp_nat_by_ext(const struct dp_nat *n, uint8_t proto, uint16_t ext)
{
	int p = pindex(proto);
	if (p < 0 || ext < n->lo || ext > n->hi)
		return DP_NAT_NONE;
	return n->by_ext[p][ext - n->lo];
}

void dp_nat_stats(const struct dp_nat *n, struct dp_nat_stats *ret)
{
	*ret = n->stats;
}
