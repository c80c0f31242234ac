/* SPDX-License-Identifier: MIT */
/* NAT44 mappings (see nat.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "hash.h"
#include "nat.h"

enum { P_TCP, P_UDP, P_ICMP, P_COUNT };

/* ------------------------------------------------------- shared ports */

/* An owner word: 0 while the port is free, else OWNED | the worker in
 * bits 48..55 | the internal port in bits 32..47 | the internal address
 * (its 4 bytes, byte 0 lowest) in bits 0..31. */
#define OWNED (1ull << 63)

struct ports_proto {
	/* Bit b of used[b / 64]: port lo + b is taken.  The bits past the
	 * range, in the last word, are set for good. */
	uint64_t *used;
	/* Bit w of full[w / 64]: used[w] is all ones.  Set by whoever fills
	 * the word and checked again at once, cleared by whoever frees a
	 * bit after freeing it: a set bit is never stale for long (only
	 * between a fill and its check), a clear bit may be (a word filled
	 * again meanwhile), which costs a search one word read. */
	uint64_t *full;
	uint64_t *owner; /* [range], or NULL */
	uint32_t free;   /* ports not taken */
};

struct dp_nat_ports {
	uint16_t lo, hi;
	uint32_t range, words, swords;
	struct ports_proto p[P_COUNT];
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

void dp_nat_ports_free(struct dp_nat_ports *s)
{
	if (!s)
		return;
	for (int p = 0; p < P_COUNT; p++) {
		rte_free(s->p[p].used);
		rte_free(s->p[p].full);
		rte_free(s->p[p].owner);
	}
	rte_free(s);
}

int dp_nat_ports_new(uint16_t lo, uint16_t hi, bool owners, int socket,
		     struct dp_nat_ports **ret)
{
	if (lo == 0 || lo > hi)
		return -EINVAL;
	struct dp_nat_ports *s = rte_zmalloc_socket("dp_nat_ports", sizeof(*s), 0, socket);
	if (!s)
		return -ENOMEM;
	s->lo = lo;
	s->hi = hi;
	s->range = (uint32_t)hi - lo + 1;
	s->words = (s->range + 63) / 64;
	s->swords = (s->words + 63) / 64;
	for (int p = 0; p < P_COUNT; p++) {
		struct ports_proto *pp = &s->p[p];
		pp->used = rte_zmalloc_socket("dp_nat_used", 8 * s->words, RTE_CACHE_LINE_SIZE, socket);
		pp->full = rte_zmalloc_socket("dp_nat_full", 8 * s->swords, RTE_CACHE_LINE_SIZE,
					      socket);
		if (owners)
			pp->owner = rte_zmalloc_socket("dp_nat_owner", 8 * s->range,
						       RTE_CACHE_LINE_SIZE, socket);
		if (!pp->used || !pp->full || (owners && !pp->owner)) {
			dp_nat_ports_free(s);
			return -ENOMEM;
		}
		if (s->range % 64)
			pp->used[s->words - 1] = ~0ull << (s->range % 64);
		/* Summary bits of words past the last: full. */
		if (s->words % 64)
			pp->full[s->swords - 1] = ~0ull << (s->words % 64);
		pp->free = s->range;
	}
	*ret = s;
	return 0;
}

static inline uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Takes port lo + bit if it is free. */
static bool take_bit(struct dp_nat_ports *s, struct ports_proto *pp, uint32_t bit)
{
	uint32_t wi = bit / 64;
	uint64_t m = 1ull << (bit % 64);
	uint64_t old = __atomic_fetch_or(&pp->used[wi], m, __ATOMIC_SEQ_CST);
	if (old & m)
		return false;
	if ((old | m) == UINT64_MAX) {
		uint64_t sm = 1ull << (wi % 64);
		__atomic_fetch_or(&pp->full[wi / 64], sm, __ATOMIC_SEQ_CST);
		/* A bit freed meanwhile may have cleared the summary before we
		 * set it: look again. */
		if (load(&pp->used[wi]) != UINT64_MAX)
			__atomic_fetch_and(&pp->full[wi / 64], ~sm, __ATOMIC_SEQ_CST);
	}
	__atomic_fetch_sub(&pp->free, 1, __ATOMIC_RELAXED);
	(void)s;
	return true;
}

static void put_bit(struct ports_proto *pp, uint32_t bit)
{
	uint32_t wi = bit / 64;
	__atomic_fetch_and(&pp->used[wi], ~(1ull << (bit % 64)), __ATOMIC_SEQ_CST);
	__atomic_fetch_and(&pp->full[wi / 64], ~(1ull << (wi % 64)), __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&pp->free, 1, __ATOMIC_RELAXED);
}

/* A free port from bit `start` on (wrapping): the summary's words say
 * which bitmap words have one, so this reads at most swords + 1 summary
 * words and, but for races, one bitmap word.  *scanned counts the bitmap
 * words read. */
static int find_port(struct dp_nat_ports *s, struct ports_proto *pp, uint32_t start,
		     uint32_t *ret_bit, uint64_t *scanned)
{
	if (!__atomic_load_n(&pp->free, __ATOMIC_RELAXED))
		return -ENOSPC;
	uint32_t w0 = (start % s->range) / 64;
	for (uint32_t i = 0; i <= s->swords; i++) {
		uint32_t si = (w0 / 64 + i) % s->swords;
		uint64_t open = ~load(&pp->full[si]);
		/* The first summary word from w0 on; when it comes round
		 * again, the words before w0. */
		if (i == 0)
			open &= ~0ull << (w0 % 64);
		else if (i == s->swords)
			open &= (w0 % 64) ? ~(~0ull << (w0 % 64)) : 0;
		for (; open; open &= open - 1) {
			uint32_t wi = si * 64 + (uint32_t)__builtin_ctzll(open);
			if (wi >= s->words)
				break;
			(*scanned)++;
			for (uint64_t u = load(&pp->used[wi]); u != UINT64_MAX;
			     u = load(&pp->used[wi])) {
				uint32_t b = wi * 64 + (uint32_t)__builtin_ctzll(~u);
				if (take_bit(s, pp, b)) {
					*ret_bit = b;
					return 0;
				}
			}
		}
	}
	return -ENOSPC;
}

bool dp_nat_ports_owner(const struct dp_nat_ports *s, uint8_t proto, uint16_t ext,
			unsigned *ret_worker, uint8_t ret_ip[4], uint16_t *ret_port)
{
	int p = pindex(proto);
	if (p < 0 || !s->p[p].owner || ext < s->lo || ext > s->hi)
		return false;
	uint64_t v = __atomic_load_n(&s->p[p].owner[ext - s->lo], __ATOMIC_ACQUIRE);
	if (!(v & OWNED))
		return false;
	*ret_worker = (unsigned)(v >> 48) & 0xff;
	for (int i = 0; i < 4; i++)
		ret_ip[i] = (uint8_t)(v >> (8 * i));
	*ret_port = (uint16_t)(v >> 32);
	return true;
}

uint32_t dp_nat_ports_free_count(const struct dp_nat_ports *s, uint8_t proto)
{
	int p = pindex(proto);
	return p < 0 ? 0 : __atomic_load_n(&s->p[p].free, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------- a worker's */

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
	uint16_t pad;
	uint32_t dev;
	uint32_t refs;
};
_Static_assert(sizeof(struct map) == 12, "nat map: keep the per-flow memory budget");

/* A (mapping, remote address) pair of the peer table. */
struct peer_key {
	uint16_t ext;
	uint8_t proto;
	uint8_t pad;
	uint8_t addr[4];
};
_Static_assert(sizeof(struct peer_key) == 8, "peer_key layout");

struct dp_nat {
	struct rte_hash *hash;
	struct map *maps; /* by the key's hash position */
	uint32_t capacity;
	struct dp_nat_ports *ports;
	bool own_ports;
	unsigned worker;
	uint16_t lo, hi;
	uint32_t *by_ext[P_COUNT]; /* external port - lo -> mapping or its only flow (nat.h) */
	struct rte_hash *peers;    /* peer_key -> count, or NULL */
	dp_nat_unmap_fn unmap;
	void *unmap_ctx;
	uint64_t bytes; /* what it took of DPDK's heap */
	struct dp_nat_stats stats;
};

static uint64_t heap_used(int socket)
{
	struct rte_malloc_socket_stats st;
	return rte_malloc_get_socket_stats(socket, &st) == 0 ? st.heap_allocsz_bytes : 0;
}

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

int dp_nat_new(const struct dp_nat_params *prm, struct dp_nat **ret)
{
	uint32_t capacity = prm->capacity;
	uint16_t lo = prm->ports ? prm->ports->lo : prm->lo;
	uint16_t hi = prm->ports ? prm->ports->hi : prm->hi;
	if (capacity < 1 || capacity > (1u << 30) || lo == 0 || lo > hi || prm->worker > 255)
		return -EINVAL;
	int socket = prm->socket;
	int r = dp_hash_init();
	if (r < 0)
		return r;
	uint64_t before = heap_used(socket);
	struct dp_nat *n = rte_zmalloc_socket("dp_nat", sizeof(*n), 0, socket);
	if (!n)
		return -ENOMEM;
	n->worker = prm->worker;
	n->lo = lo;
	n->hi = hi;
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
	r = -ENOMEM;
	if (prm->ports) {
		n->ports = prm->ports;
	} else {
		r = dp_nat_ports_new(lo, hi, false, socket, &n->ports);
		if (r < 0)
			goto fail;
		n->own_ports = true;
		r = -ENOMEM;
	}
	n->maps = rte_zmalloc_socket("dp_nat_maps", sizeof(*n->maps) * entries, 0, socket);
	if (!n->maps)
		goto fail;
	for (int p = 0; p < P_COUNT; p++) {
		n->by_ext[p] = rte_malloc_socket("dp_nat_ports", sizeof(uint32_t) * range, 0, socket);
		if (!n->by_ext[p])
			goto fail;
		memset(n->by_ext[p], 0xff, sizeof(uint32_t) * range);
	}
	struct rte_hash_parameters hp = {
		.name = prm->name,
		.entries = entries,
		.key_len = sizeof(struct nat_key),
		.hash_func = dp_hash_rte,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE,
	};
	n->hash = rte_hash_create(&hp);
	if (!n->hash)
		goto fail;
	rte_hash_set_cmp_func(n->hash, key_cmp);
	if (prm->peers) {
		char name[64];
		snprintf(name, sizeof(name), "%s_peers", prm->name);
		struct rte_hash_parameters pp = {
			.name = name,
			.entries = prm->peers < 8 ? 8 : prm->peers,
			.key_len = sizeof(struct peer_key),
			.hash_func = dp_hash_rte,
			.socket_id = socket,
		};
		n->peers = rte_hash_create(&pp);
		if (!n->peers)
			goto fail;
		rte_hash_set_cmp_func(n->peers, key_cmp);
	}
	n->bytes = heap_used(socket) - before;
	*ret = n;
	return 0;
fail:
	dp_nat_free(n);
	return r;
}

void dp_nat_free(struct dp_nat *n)
{
	if (!n)
		return;
	rte_hash_free(n->hash);
	rte_hash_free(n->peers);
	for (int p = 0; p < P_COUNT; p++)
		rte_free(n->by_ext[p]);
	rte_free(n->maps);
	if (n->own_ports)
		dp_nat_ports_free(n->ports);
	rte_free(n);
}

void dp_nat_set_unmap(struct dp_nat *n, dp_nat_unmap_fn fn, void *ctx)
{
	n->unmap = fn;
	n->unmap_ctx = ctx;
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

/* A free external port: the internal one if we may (port preservation),
 * else one found from a point that depends on the endpoint (so hosts
 * spread over the range). */
static int pick_port(struct dp_nat *n, int p, const struct nat_key *k, uint16_t *ret)
{
	struct dp_nat_ports *s = n->ports;
	struct ports_proto *pp = &s->p[p];
	if (k->port >= s->lo && k->port <= s->hi && take_bit(s, pp, k->port - s->lo)) {
		*ret = k->port;
		n->stats.preserved++;
		return 0;
	}
	uint32_t bit;
	/* (Keyed: where an endpoint's search starts is not the device's to
	 * choose.) */
	int r = find_port(s, pp, dp_hash_bytes(k, sizeof(*k)) >> 8, &bit, &n->stats.scanned);
	if (r == 0)
		*ret = (uint16_t)(s->lo + bit);
	return r;
}

static void set_owner(struct dp_nat *n, int p, uint16_t ext, const struct nat_key *k)
{
	uint64_t *o = n->ports->p[p].owner;
	if (!o)
		return;
	uint32_t ip;
	memcpy(&ip, k->ip, 4);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
	ip = __builtin_bswap32(ip);
#endif
	uint64_t v = OWNED | (uint64_t)n->worker << 48 | (uint64_t)k->port << 32 | ip;
	__atomic_store_n(&o[ext - n->ports->lo], v, __ATOMIC_RELEASE);
}

int dp_nat_acquire(struct dp_nat *n, uint8_t proto, const uint8_t ip[4], uint16_t port,
		   uint32_t dev, bool may_make, uint32_t *ret_idx, bool *ret_made)
{
	int p = pindex(proto);
	if (p < 0)
		return -EINVAL;
	struct nat_key k = make_key(proto, ip, port);
	uint32_t h = sig(&k);
	int32_t pos;
	if (!may_make) {
		/* Only an existing mapping will do: no entry is made. */
		pos = rte_hash_lookup_with_hash(n->hash, &k, h);
		if (pos < 0 || !n->maps[pos].refs) {
			n->stats.capped++;
			return -EDQUOT;
		}
		n->maps[pos].refs++;
		*ret_idx = (uint32_t)pos;
		*ret_made = false;
		return 0;
	}
	/* One call finds the endpoint's mapping or makes its entry: the
	 * add returns the position of a key already there, and a position
	 * no mapping holds has no references (unmap leaves it at 0). */
	pos = rte_hash_add_key_with_hash(n->hash, &k, h);
	if (pos < 0) {
		n->stats.exhausted++;
		return -ENOSPC;
	}
	struct map *m = &n->maps[pos];
	if (m->refs) {
		m->refs++;
		*ret_idx = (uint32_t)pos;
		*ret_made = false;
		return 0;
	}
	uint16_t ext;
	if (pick_port(n, p, &k, &ext) < 0) {
		rte_hash_del_key_with_hash(n->hash, &k, h);
		n->stats.exhausted++;
		return -ENOSPC;
	}
	m->ext = ext;
	m->dev = dev;
	m->refs = 1;
	n->by_ext[p][ext - n->lo] = (uint32_t)pos;
	set_owner(n, p, ext, &k);
	n->stats.created++;
	n->stats.active++;
	*ret_idx = (uint32_t)pos;
	*ret_made = true;
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
	int p = pindex(k->proto);
	struct dp_nat_ports *s = n->ports;
	n->by_ext[p][m->ext - n->lo] = DP_NAT_NONE;
	if (s->p[p].owner)
		__atomic_store_n(&s->p[p].owner[m->ext - s->lo], 0, __ATOMIC_RELEASE);
	put_bit(&s->p[p], m->ext - s->lo);
	rte_hash_del_key_with_hash(n->hash, k, sig(k));
	n->stats.active--;
	if (n->unmap)
		n->unmap(n->unmap_ctx, m->dev);
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
	struct dp_nat_map r = { .port = k->port, .ext = m->ext, .proto = k->proto, .dev = m->dev,
				.refs = m->refs };
	memcpy(r.ip, k->ip, 4);
	return r;
}

uint16_t dp_nat_ext(const struct dp_nat *n, uint32_t idx)
{
	return n->maps[idx].ext;
}

uint32_t dp_nat_dev(const struct dp_nat *n, uint32_t idx)
{
	return n->maps[idx].dev;
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

static struct peer_key peer_key(const struct dp_nat *n, uint32_t idx, const uint8_t addr[4])
{
	struct peer_key k = { .ext = n->maps[idx].ext };
	const struct nat_key *nk = key_at(n, idx);
	k.proto = nk ? nk->proto : 0;
	memcpy(k.addr, addr, 4);
	return k;
}

int dp_nat_peer_add(struct dp_nat *n, uint32_t idx, const uint8_t addr[4])
{
	if (!n->peers)
		return -ENODEV;
	struct peer_key k = peer_key(n, idx, addr);
	void *data;
	uintptr_t count = 0;
	if (rte_hash_lookup_data(n->peers, &k, &data) >= 0)
		count = (uintptr_t)data;
	if (rte_hash_add_key_data(n->peers, &k, (void *)(count + 1)) < 0) {
		n->stats.peers_full++;
		return -ENOSPC;
	}
	return 0;
}

void dp_nat_peer_del(struct dp_nat *n, uint32_t idx, const uint8_t addr[4])
{
	if (!n->peers)
		return;
	struct peer_key k = peer_key(n, idx, addr);
	void *data;
	if (rte_hash_lookup_data(n->peers, &k, &data) < 0)
		return;
	uintptr_t count = (uintptr_t)data;
	if (count > 1)
		rte_hash_add_key_data(n->peers, &k, (void *)(count - 1));
	else
		rte_hash_del_key(n->peers, &k);
}

bool dp_nat_peer_has(const struct dp_nat *n, uint32_t idx, const uint8_t addr[4])
{
	if (!n->peers)
		return false;
	struct peer_key k = peer_key(n, idx, addr);
	return rte_hash_lookup(n->peers, &k) >= 0;
}

uint64_t dp_nat_memory(const struct dp_nat *n)
{
	return n->bytes;
}

void dp_nat_stats(const struct dp_nat *n, struct dp_nat_stats *ret)
{
	*ret = n->stats;
}
