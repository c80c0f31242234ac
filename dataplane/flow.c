/* SPDX-License-Identifier: MIT */
/* The flow table on rte_hash (see flow.h). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "flow.h"
#include "parse.h"

struct list {
	uint32_t head, tail;
};

struct dp_flow_table {
	struct rte_hash *hash;
	struct dp_flow *flows;
	uint32_t capacity;
	uint32_t free_head;
	struct list lists[DP_FC_COUNT];
	uint64_t timeout_ms[DP_FC_COUNT];
	dp_flow_release_fn release;
	void *ctx;
	struct dp_flow_stats stats;
};

/* Defaults: RFC 5382 (established TCP at least 2 h 4 min), RFC 4787
 * (UDP at least 2 min; 5 min here), and the short lives of the rest. */
static const uint64_t default_timeout_ms[DP_FC_COUNT] = {
	[DP_FC_TCP_CLOSED] = 10 * 1000,
	[DP_FC_TCP_SYN] = 60 * 1000,
	[DP_FC_UDP_NEW] = 30 * 1000,
	[DP_FC_ICMP] = 30 * 1000,
	[DP_FC_TCP_FIN] = 120 * 1000,
	[DP_FC_UDP_EST] = 300 * 1000,
	[DP_FC_TCP_EST] = 7440 * 1000,
};

static const char *const class_names[DP_FC_COUNT] = {
	[DP_FC_TCP_CLOSED] = "tcp_closed", [DP_FC_TCP_SYN] = "tcp_syn",
	[DP_FC_UDP_NEW] = "udp_new",       [DP_FC_ICMP] = "icmp",
	[DP_FC_TCP_FIN] = "tcp_fin",       [DP_FC_UDP_EST] = "udp_est",
	[DP_FC_TCP_EST] = "tcp_est",
};

const char *dp_flow_class_name(enum dp_flow_class c)
{
	return (unsigned)c < DP_FC_COUNT ? class_names[c] : "?";
}

static void list_unlink(struct dp_flow_table *t, uint32_t i)
{
	struct dp_flow *f = &t->flows[i];
	struct list *l = &t->lists[f->cls];
	if (f->prev != DP_FLOW_NONE)
		t->flows[f->prev].next = f->next;
	else
		l->head = f->next;
	if (f->next != DP_FLOW_NONE)
		t->flows[f->next].prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = DP_FLOW_NONE;
}

static void list_append(struct dp_flow_table *t, uint32_t i)
{
	struct dp_flow *f = &t->flows[i];
	struct list *l = &t->lists[f->cls];
	f->next = DP_FLOW_NONE;
	f->prev = l->tail;
	if (l->tail != DP_FLOW_NONE)
		t->flows[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
}

int dp_flow_table_new(const char *name, uint32_t capacity, int socket, dp_flow_release_fn fn,
		      void *ctx, struct dp_flow_table **ret)
{
	if (capacity < 2 || capacity > (1u << 30))
		return -EINVAL;
	struct dp_flow_table *t = rte_zmalloc_socket("dp_flow_table", sizeof(*t), 0, socket);
	if (!t)
		return -ENOMEM;
	t->flows = rte_zmalloc_socket("dp_flows", sizeof(struct dp_flow) * capacity, 0, socket);
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = capacity * 2, /* two keys a flow */
		.key_len = sizeof(struct dp_flow_key),
		.hash_func = rte_hash_crc,
		.socket_id = socket,
		/* Overflow buckets: an insert fails only when the table is full. */
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	if (t->flows)
		t->hash = rte_hash_create(&hp);
	if (!t->flows || !t->hash) {
		dp_flow_table_free(t);
		return -ENOMEM;
	}
	t->capacity = capacity;
	for (uint32_t i = 0; i < capacity; i++) {
		t->flows[i].next = i + 1 < capacity ? i + 1 : DP_FLOW_NONE;
		t->flows[i].prev = DP_FLOW_NONE;
	}
	t->free_head = 0;
	for (unsigned c = 0; c < DP_FC_COUNT; c++) {
		t->lists[c].head = t->lists[c].tail = DP_FLOW_NONE;
		t->timeout_ms[c] = default_timeout_ms[c];
	}
	t->release = fn;
	t->ctx = ctx;
	*ret = t;
	return 0;
}

void dp_flow_table_free(struct dp_flow_table *t)
{
	if (!t)
		return;
	rte_hash_free(t->hash);
	rte_free(t->flows);
	rte_free(t);
}

void dp_flow_set_timeout(struct dp_flow_table *t, enum dp_flow_class c, uint64_t ms)
{
	if ((unsigned)c < DP_FC_COUNT)
		t->timeout_ms[c] = ms;
}

uint32_t dp_flow_lookup(const struct dp_flow_table *t, const struct dp_flow_key *key,
			unsigned *ret_dir)
{
	void *data;
	if (rte_hash_lookup_data(t->hash, key, &data) < 0)
		return DP_FLOW_NONE;
	uintptr_t v = (uintptr_t)data;
	*ret_dir = (unsigned)(v & 1);
	return (uint32_t)(v >> 1);
}

struct dp_flow *dp_flow_get(struct dp_flow_table *t, uint32_t idx)
{
	return &t->flows[idx];
}

uint32_t dp_flow_capacity(const struct dp_flow_table *t)
{
	return t->capacity;
}

const struct dp_flow *dp_flow_at(const struct dp_flow_table *t, uint32_t idx)
{
	if (idx >= t->capacity)
		return NULL;
	const struct dp_flow *f = &t->flows[idx];
	uint8_t fam = __atomic_load_n(&f->key[0].family, __ATOMIC_RELAXED);
	return fam == 4 || fam == 6 ? f : NULL;
}

static void flow_release(struct dp_flow_table *t, uint32_t i)
{
	struct dp_flow *f = &t->flows[i];
	if (t->release)
		t->release(t->ctx, f);
	rte_hash_del_key(t->hash, &f->key[0]);
	rte_hash_del_key(t->hash, &f->key[1]);
	list_unlink(t, i);
	f->key[0].family = 0; /* free: dp_flow_at skips it */
	f->next = t->free_head;
	t->free_head = i;
	t->stats.active--;
}

void dp_flow_remove(struct dp_flow_table *t, uint32_t i)
{
	flow_release(t, i);
	t->stats.removed++;
}

unsigned dp_flow_expire(struct dp_flow_table *t, uint64_t now_ms, unsigned budget)
{
	unsigned n = 0;
	for (unsigned c = 0; c < DP_FC_COUNT && n < budget; c++) {
		while (n < budget) {
			uint32_t i = t->lists[c].head;
			if (i == DP_FLOW_NONE || now_ms - t->flows[i].last_ms < t->timeout_ms[c])
				break;
			flow_release(t, i);
			t->stats.expired++;
			n++;
		}
	}
	return n;
}

/* The least recently active flow of the most expendable class. */
static int evict_one(struct dp_flow_table *t)
{
	for (unsigned c = 0; c < DP_FC_COUNT; c++) {
		uint32_t i = t->lists[c].head;
		if (i == DP_FLOW_NONE)
			continue;
		flow_release(t, i);
		t->stats.evicted++;
		return 0;
	}
	return -ENOSPC;
}

static uint8_t initial_class(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP: return DP_FC_TCP_SYN;
	case IPPROTO_UDP: return DP_FC_UDP_NEW;
	}
	return DP_FC_ICMP;
}

int dp_flow_insert(struct dp_flow_table *t, const struct dp_flow_key *k0,
		   const struct dp_flow_key *k1, uint8_t proto, uint64_t now_ms, uint32_t *ret_idx)
{
	if (rte_hash_lookup(t->hash, k0) >= 0 || rte_hash_lookup(t->hash, k1) >= 0 ||
	    !memcmp(k0, k1, sizeof(*k0)))
		return -EEXIST;
	if (t->free_head == DP_FLOW_NONE) {
		dp_flow_expire(t, now_ms, 8);
		if (t->free_head == DP_FLOW_NONE && evict_one(t) < 0)
			return -ENOSPC;
	}
	uint32_t i = t->free_head;
	struct dp_flow *f = &t->flows[i];
	uintptr_t d0 = (uintptr_t)i << 1, d1 = d0 | 1;
	if (rte_hash_add_key_data(t->hash, k0, (void *)d0) < 0)
		return -ENOSPC;
	if (rte_hash_add_key_data(t->hash, k1, (void *)d1) < 0) {
		rte_hash_del_key(t->hash, k0);
		return -ENOSPC;
	}
	t->free_head = f->next;
	memset(f, 0, sizeof(*f));
	f->key[0] = *k0;
	f->key[1] = *k1;
	f->last_ms = now_ms;
	f->cls = initial_class(proto);
	f->tcp = proto == IPPROTO_TCP ? DP_TCP_SYN_SENT : DP_TCP_NONE;
	f->nat_map[0] = f->nat_map[1] = DP_FLOW_NONE;
	list_append(t, i);
	t->stats.created++;
	t->stats.active++;
	*ret_idx = i;
	return 0;
}

static uint8_t tcp_step(struct dp_flow *f, unsigned dir, uint8_t fl)
{
	if (fl & DP_TCP_RST)
		return DP_TCP_CLOSED;
	if (fl & DP_TCP_FIN) {
		f->flags |= dir ? DP_FLOW_FIN1 : DP_FLOW_FIN0;
		if ((f->flags & (DP_FLOW_FIN0 | DP_FLOW_FIN1)) == (DP_FLOW_FIN0 | DP_FLOW_FIN1))
			return DP_TCP_CLOSING;
		return f->tcp == DP_TCP_CLOSING ? DP_TCP_CLOSING : DP_TCP_FIN_WAIT;
	}
	switch (f->tcp) {
	case DP_TCP_SYN_SENT:
		if (dir == 1 && (fl & (DP_TCP_SYN | DP_TCP_ACK)) == (DP_TCP_SYN | DP_TCP_ACK))
			return DP_TCP_SYN_RECV;
		/* Picked up mid-stream (after a restart): both ways seen. */
		if (!(fl & DP_TCP_SYN) && (f->flags & DP_FLOW_SEEN0) && (f->flags & DP_FLOW_SEEN1))
			return DP_TCP_EST;
		return DP_TCP_SYN_SENT;
	case DP_TCP_SYN_RECV:
		if (dir == 0 && (fl & DP_TCP_ACK) && !(fl & DP_TCP_SYN))
			return DP_TCP_EST;
		return DP_TCP_SYN_RECV;
	case DP_TCP_CLOSED:
		/* A new handshake on the same tuple reopens it. */
		return dir == 0 && (fl & DP_TCP_SYN) ? DP_TCP_SYN_SENT : DP_TCP_CLOSED;
	}
	return f->tcp;
}

static uint8_t class_of(const struct dp_flow *f, uint8_t proto)
{
	switch (f->tcp) {
	case DP_TCP_SYN_SENT:
	case DP_TCP_SYN_RECV: return DP_FC_TCP_SYN;
	case DP_TCP_EST: return DP_FC_TCP_EST;
	case DP_TCP_FIN_WAIT: return DP_FC_TCP_FIN;
	case DP_TCP_CLOSING:
	case DP_TCP_CLOSED: return DP_FC_TCP_CLOSED;
	}
	if (proto == IPPROTO_UDP)
		return (f->flags & DP_FLOW_SEEN1) ? DP_FC_UDP_EST : DP_FC_UDP_NEW;
	return DP_FC_ICMP;
}

void dp_flow_touch(struct dp_flow_table *t, uint32_t i, unsigned dir, uint32_t bytes,
		   uint8_t tcp_flags, uint64_t now_ms)
{
	struct dp_flow *f = &t->flows[i];
	f->pkts[dir]++;
	f->bytes[dir] += bytes;
	f->flags |= dir ? DP_FLOW_SEEN1 : DP_FLOW_SEEN0;
	uint8_t proto = f->key[0].proto;
	if (proto == IPPROTO_TCP)
		f->tcp = tcp_step(f, dir, tcp_flags);
	uint8_t cls = class_of(f, proto);
	if (now_ms > f->last_ms)
		f->last_ms = now_ms;
	/* Keep each class list in order of activity: to the tail. */
	if (cls != f->cls || t->lists[f->cls].tail != i) {
		list_unlink(t, i);
		f->cls = cls;
		list_append(t, i);
	}
}

void dp_flow_stats(const struct dp_flow_table *t, struct dp_flow_stats *ret)
{
	*ret = t->stats;
}
