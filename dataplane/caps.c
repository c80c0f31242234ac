/* SPDX-License-Identifier: MIT */
/* Per-device caps and usage on one worker (see caps.h). */
#include <errno.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_malloc.h>

#include "caps.h"
#include "hash.h"

struct dp_caps {
	struct rte_hash *hash; /* MAC as a 64-bit key -> slot (its hash position) */
	struct dp_caps_entry *e;
	uint32_t capacity;
	uint32_t flow_cap, nat_cap;
	uint32_t idle_head, idle_tail; /* live entries holding nothing, oldest first */
	uint64_t last_mac;             /* the last device looked up, and its slot */
	uint32_t last_dev;
	struct dp_caps_stats stats;
};

static int key_cmp(const void *a, const void *b, size_t len)
{
	(void)len;
	uint64_t x, y;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return x != y;
}

int dp_caps_new(const char *name, uint32_t devices, uint32_t flow_cap, uint32_t nat_cap,
		int socket, struct dp_caps **ret)
{
	if (devices < 1 || devices > (1u << 20) || !flow_cap || !nat_cap)
		return -EINVAL;
	int r = dp_hash_init();
	if (r < 0)
		return r;
	struct dp_caps *c = rte_zmalloc_socket("dp_caps", sizeof(*c), 0, socket);
	if (!c)
		return -ENOMEM;
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = devices < 8 ? 8 : devices, /* (rte_hash's least) */
		.key_len = sizeof(uint64_t),
		.hash_func = dp_hash_rte, /* keyed: devices choose their MACs */
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	c->hash = rte_hash_create(&hp);
	/* Positions run up to the table's own size, which rounds up. */
	c->capacity = c->hash ? rte_hash_max_key_id(c->hash) + 1 : 0;
	c->e = c->hash ? rte_zmalloc_socket("dp_caps_e", sizeof(*c->e) * c->capacity, 0, socket) :
			 NULL;
	if (!c->hash || !c->e) {
		dp_caps_free(c);
		return -ENOMEM;
	}
	rte_hash_set_cmp_func(c->hash, key_cmp);
	c->flow_cap = flow_cap;
	c->nat_cap = nat_cap;
	c->idle_head = c->idle_tail = DP_CAPS_NONE;
	c->last_dev = DP_CAPS_NONE;
	*ret = c;
	return 0;
}

void dp_caps_free(struct dp_caps *c)
{
	if (!c)
		return;
	rte_hash_free(c->hash);
	rte_free(c->e);
	rte_free(c);
}

static uint64_t mac_key(const uint8_t mac[6])
{
	uint64_t k = 0;
	memcpy(&k, mac, 6);
	return k;
}

static void idle_unlink(struct dp_caps *c, uint32_t i)
{
	struct dp_caps_entry *e = &c->e[i];
	if (e->prev != DP_CAPS_NONE)
		c->e[e->prev].next = e->next;
	else
		c->idle_head = e->next;
	if (e->next != DP_CAPS_NONE)
		c->e[e->next].prev = e->prev;
	else
		c->idle_tail = e->prev;
	e->prev = e->next = DP_CAPS_NONE;
}

static void idle_append(struct dp_caps *c, uint32_t i)
{
	struct dp_caps_entry *e = &c->e[i];
	e->next = DP_CAPS_NONE;
	e->prev = c->idle_tail;
	if (c->idle_tail != DP_CAPS_NONE)
		c->e[c->idle_tail].next = i;
	else
		c->idle_head = i;
	c->idle_tail = i;
}

static bool holds_nothing(const struct dp_caps_entry *e)
{
	return !e->flows && !e->maps;
}

/* Frees the least recently idle device's slot. */
static bool recycle(struct dp_caps *c)
{
	uint32_t i = c->idle_head;
	if (i == DP_CAPS_NONE)
		return false;
	idle_unlink(c, i);
	uint64_t k = mac_key(c->e[i].mac);
	rte_hash_del_key(c->hash, &k);
	__atomic_store_n(&c->e[i].live, 0, __ATOMIC_RELEASE);
	if (c->last_dev == i)
		c->last_dev = DP_CAPS_NONE;
	c->stats.recycled++;
	c->stats.devices--;
	return true;
}

uint32_t dp_caps_device(struct dp_caps *c, const uint8_t mac[6])
{
	uint64_t k = mac_key(mac);
	if (c->last_dev != DP_CAPS_NONE && c->last_mac == k)
		return c->last_dev;
	int32_t pos = rte_hash_lookup(c->hash, &k);
	if (pos < 0) {
		pos = rte_hash_add_key(c->hash, &k);
		if (pos < 0 && recycle(c))
			pos = rte_hash_add_key(c->hash, &k);
		if (pos < 0) {
			c->stats.full++;
			return DP_CAPS_NONE;
		}
		struct dp_caps_entry *e = &c->e[pos];
		memset(e, 0, sizeof(*e));
		memcpy(e->mac, mac, 6);
		__atomic_store_n(&e->live, 1, __ATOMIC_RELEASE);
		idle_append(c, (uint32_t)pos);
		c->stats.devices++;
	}
	c->last_mac = k;
	c->last_dev = (uint32_t)pos;
	return (uint32_t)pos;
}

bool dp_caps_flow_ok(struct dp_caps *c, uint32_t dev)
{
	struct dp_caps_entry *e = &c->e[dev];
	if (e->flows < c->flow_cap)
		return true;
	e->refused_flows++;
	return false;
}

void dp_caps_flow_add(struct dp_caps *c, uint32_t dev)
{
	struct dp_caps_entry *e = &c->e[dev];
	if (holds_nothing(e))
		idle_unlink(c, dev);
	e->flows++;
}

void dp_caps_flow_del(struct dp_caps *c, uint32_t dev)
{
	struct dp_caps_entry *e = &c->e[dev];
	if (!e->flows)
		return;
	e->flows--;
	if (holds_nothing(e))
		idle_append(c, dev);
}

bool dp_caps_nat_ok(const struct dp_caps *c, uint32_t dev)
{
	return c->e[dev].maps < c->nat_cap;
}

void dp_caps_nat_refused(struct dp_caps *c, uint32_t dev)
{
	c->e[dev].refused_maps++;
}

void dp_caps_nat_add(struct dp_caps *c, uint32_t dev)
{
	struct dp_caps_entry *e = &c->e[dev];
	if (holds_nothing(e))
		idle_unlink(c, dev);
	e->maps++;
}

void dp_caps_nat_del(struct dp_caps *c, uint32_t dev)
{
	struct dp_caps_entry *e = &c->e[dev];
	if (!e->maps)
		return;
	e->maps--;
	if (holds_nothing(e))
		idle_append(c, dev);
}

const uint8_t *dp_caps_mac(const struct dp_caps *c, uint32_t dev)
{
	return c->e[dev].mac;
}

void dp_caps_limits(const struct dp_caps *c, uint32_t *ret_flows, uint32_t *ret_nat)
{
	*ret_flows = c->flow_cap;
	*ret_nat = c->nat_cap;
}

uint32_t dp_caps_capacity(const struct dp_caps *c)
{
	return c->capacity;
}

bool dp_caps_at(const struct dp_caps *c, uint32_t i, struct dp_caps_entry *ret)
{
	if (i >= c->capacity || !__atomic_load_n(&c->e[i].live, __ATOMIC_ACQUIRE))
		return false;
	*ret = c->e[i];
	return ret->live != 0;
}

void dp_caps_stats(const struct dp_caps *c, struct dp_caps_stats *ret)
{
	*ret = c->stats;
}
