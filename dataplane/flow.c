/* SPDX-License-Identifier: MIT */
/* The flow table: IPv4 on its own cuckoo hash, IPv6 on rte_hash (see
 * flow.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include "flow.h"
#include "hash.h"
#include "parse.h"

struct list {
	uint32_t head, tail;
	/* No flow of the list expires before this (ms; 0: look): the head's
	 * expiry when it was last looked at.  The list is in order of
	 * activity, so a later head expires no sooner, and expiry need not
	 * read a cold list head every time it runs. */
	uint64_t due;
};

/*
 * The IPv4 hash: buckets of H4_SLOTS slots, one 64-byte line each, a
 * slot being a key's 32-bit hash and its flow's index and direction
 * (idx << 1 | d).  The key itself is not stored: it is in the flow
 * (key.v4[d]), where a hit reads it anyway.  So a key costs the hash 8
 * bytes of a bucket, where rte_hash's key store took 32 more (the 16-byte
 * key beside an 8-byte data pointer, aligned to 16) and its free-slot
 * ring 4.  A key lives in one of two buckets: sig & mask, or the other
 * one, alt(bucket, sig), which the stored hash gives without the key, so
 * an insert that finds both full moves keys to their other buckets
 * (cuckoo hashing, a breadth-first search for the shortest path to a
 * free slot, H4_BFS buckets at most).  A lookup compares the 32-bit
 * hashes of two buckets and the keys of those that match (a false match
 * is about one in 2^28 lookups).
 */
#define H4_SLOTS 8
#define H4_EMPTY UINT32_MAX /* a free slot's entry */
#define H4_BFS 128          /* buckets an insert's search may visit */

struct h4_bucket {
	_Alignas(64) uint32_t sig[H4_SLOTS];
	uint32_t ent[H4_SLOTS]; /* idx << 1 | d, or H4_EMPTY */
};
_Static_assert(sizeof(struct h4_bucket) == 64, "an IPv4 hash bucket is one 64-byte line");

/* One family's part: its hash (IPv4: buckets, IPv6: an rte_hash), its
 * slots [first, first + capacity) of the flow array, their free list and
 * class lists. */
struct fam {
	struct rte_hash *hash;   /* IPv6 */
	struct h4_bucket *b4;    /* IPv4 */
	uint32_t mask4;          /* IPv4 buckets - 1 */
	uint64_t bytes; /* what it took: its hash and its slots of the flow array */
	uint32_t first, capacity;
	uint32_t free_head;
	struct list lists[DP_FC_COUNT];
};

/* Two keys a flow, up to a burst of new flows: 64 keys in 1024 bits
 * send about one miss in 16 to a second lookup. */
#define ADDED_BITS 1024

struct dp_flow_table {
	struct dp_flow *flows;
	uint32_t capacity; /* both families */
	struct fam fam[2]; /* [0]: IPv4, [1]: IPv6 */
	uint64_t timeout_ms[DP_FC_COUNT];
	dp_flow_release_fn release;
	dp_flow_warm_fn warm;
	void *ctx;
	struct dp_flow_stats stats;
	/* The keys added since the last bulk lookup, by their hash's low
	 * bits (ADDED_BITS): a miss the bulk lookup answered needs looking up
	 * again only if one of them may be its key (dp_flow_refind). */
	uint64_t added[ADDED_BITS / 64];
	bool added_any;
};

#define EVICT_TRIES 8

static unsigned expire_fam(struct dp_flow_table *t, struct fam *fm, uint64_t now_ms,
			   unsigned budget);

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

static struct fam *fam_of(struct dp_flow_table *t, uint8_t family)
{
	return &t->fam[family == 6];
}

static void list_unlink(struct dp_flow_table *t, uint32_t i)
{
	struct dp_flow *f = &t->flows[i];
	struct list *l = &fam_of(t, f->family)->lists[f->cls];
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
	struct list *l = &fam_of(t, f->family)->lists[f->cls];
	f->next = DP_FLOW_NONE;
	f->prev = l->tail;
	if (l->tail != DP_FLOW_NONE)
		t->flows[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
}

/* Bytes DPDK's heap has handed out on a socket (what a table takes is
 * the difference around its making). */
static uint64_t heap_used(int socket)
{
	struct rte_malloc_socket_stats st;
	return rte_malloc_get_socket_stats(socket, &st) == 0 ? st.heap_allocsz_bytes : 0;
}

/* The other bucket of a key with hash sig in bucket b (and back: it is
 * its own inverse, and never b). */
static inline uint32_t h4_alt(uint32_t b, uint32_t sig, uint32_t mask)
{
	return (b ^ (((sig >> 16) * 0x9e3779b1u) | 1u)) & mask;
}

/* Slots of bucket bk whose hash is sig, as bits: two vector compares
 * where the compiler has SSE2 (every x86-64; it does not vectorise the
 * loop by itself, and a lookup does this for two buckets). */
static inline unsigned h4_sigs(const struct h4_bucket *bk, uint32_t sig)
{
#ifdef __SSE2__
	__m128i s = _mm_set1_epi32((int)sig);
	__m128i lo = _mm_cmpeq_epi32(_mm_load_si128((const __m128i *)(const void *)bk->sig), s);
	__m128i hi =
		_mm_cmpeq_epi32(_mm_load_si128((const __m128i *)(const void *)&bk->sig[4]), s);
	return (unsigned)_mm_movemask_ps(_mm_castsi128_ps(lo)) |
	       (unsigned)_mm_movemask_ps(_mm_castsi128_ps(hi)) << 4;
#else
	unsigned m = 0;
	for (unsigned s = 0; s < H4_SLOTS; s++)
		m |= (unsigned)(bk->sig[s] == sig) << s;
	return m;
#endif
}

static inline int h4_free_slot(const struct h4_bucket *bk)
{
	for (int s = 0; s < H4_SLOTS; s++)
		if (bk->ent[s] == H4_EMPTY)
			return s;
	return -1;
}

static inline bool key4_eq(const struct dp_flow_key4 *a, const struct dp_flow_key4 *b)
{
	uint64_t a0, a1, b0, b1;
	memcpy(&a0, a, 8);
	memcpy(&a1, (const uint8_t *)a + 8, 8);
	memcpy(&b0, b, 8);
	memcpy(&b1, (const uint8_t *)b + 8, 8);
	return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

/* The entry of key k (hash sig) among bucket bk's slots m, or H4_EMPTY. */
static inline uint32_t h4_match(const struct dp_flow *flows, const struct h4_bucket *bk,
				unsigned m, const struct dp_flow_key4 *k)
{
	for (; m; m &= m - 1) {
		uint32_t e = bk->ent[__builtin_ctz(m)];
		if (e != H4_EMPTY && key4_eq(&flows[e >> 1].key.v4[e & 1], k))
			return e;
	}
	return H4_EMPTY;
}

static uint32_t h4_find(const struct dp_flow_table *t, const struct fam *fm,
			const struct dp_flow_key4 *k, uint32_t sig)
{
	uint32_t b = sig & fm->mask4;
	const struct h4_bucket *bk = &fm->b4[b];
	uint32_t e = h4_match(t->flows, bk, h4_sigs(bk, sig), k);
	if (e != H4_EMPTY)
		return e;
	bk = &fm->b4[h4_alt(b, sig, fm->mask4)];
	return h4_match(t->flows, bk, h4_sigs(bk, sig), k);
}

/* Adds entry ent (not in the hash) under sig: in a free slot of either
 * bucket, else at the end of the shortest chain of moves to a free slot
 * the search finds.  -ENOSPC (a dead end: nothing moved). */
static int h4_add(struct fam *fm, uint32_t sig, uint32_t ent)
{
	struct h4_bucket *B = fm->b4;
	uint32_t mask = fm->mask4;
	uint32_t b0 = sig & mask, b1 = h4_alt(b0, sig, mask);
	int s = h4_free_slot(&B[b0]);
	uint32_t b = b0;
	if (s < 0) {
		s = h4_free_slot(&B[b1]);
		b = b1;
	}
	if (s >= 0) {
		B[b].sig[s] = sig;
		B[b].ent[s] = ent;
		return 0;
	}
	/* Node i: bucket q[i].b, reached by moving the key in slot q[i].slot
	 * of node q[i].parent's bucket to it (roots: the key's two buckets).
	 * Every bucket is visited once, so a chain never passes through a
	 * bucket twice, and every visited one is full. */
	struct {
		uint32_t b;
		int16_t parent;
		uint8_t slot;
	} q[H4_BFS];
	unsigned n = 2;
	q[0].b = b0;
	q[1].b = b1;
	q[0].parent = q[1].parent = -1;
	q[0].slot = q[1].slot = 0;
	for (unsigned h = 0; h < n; h++) {
		for (unsigned j = 0; j < H4_SLOTS; j++) {
			uint32_t ob = h4_alt(q[h].b, B[q[h].b].sig[j], mask);
			int fs = h4_free_slot(&B[ob]);
			if (fs >= 0) {
				/* Move along the chain from its end: each move empties the
				 * slot the one before it fills. */
				uint32_t tb = ob, ts = (uint32_t)fs, cb = q[h].b, cs = j;
				unsigned p = h;
				for (;;) {
					B[tb].sig[ts] = B[cb].sig[cs];
					B[tb].ent[ts] = B[cb].ent[cs];
					if (q[p].parent < 0) {
						B[cb].sig[cs] = sig;
						B[cb].ent[cs] = ent;
						return 0;
					}
					tb = cb;
					ts = cs;
					cs = q[p].slot;
					p = (unsigned)q[p].parent;
					cb = q[p].b;
				}
			}
			if (n == H4_BFS)
				continue;
			bool seen = false;
			for (unsigned i = 0; i < n && !seen; i++)
				seen = q[i].b == ob;
			if (!seen) {
				q[n].b = ob;
				q[n].parent = (int16_t)h;
				q[n].slot = (uint8_t)j;
				n++;
			}
		}
	}
	return -ENOSPC;
}

/* Removes entry ent, which is in the hash under sig. */
static void h4_del(struct fam *fm, uint32_t sig, uint32_t ent)
{
	uint32_t b = sig & fm->mask4;
	for (int round = 0; round < 2; round++) {
		struct h4_bucket *bk = &fm->b4[b];
		for (unsigned s = 0; s < H4_SLOTS; s++) {
			if (bk->ent[s] == ent) {
				bk->ent[s] = H4_EMPTY;
				bk->sig[s] = 0;
				return;
			}
		}
		b = h4_alt(b, sig, fm->mask4);
	}
}

static int fam_init(struct fam *fm, const char *name, char suffix, uint32_t first,
		    uint32_t capacity, uint32_t key_len, int socket)
{
	uint64_t before = heap_used(socket);
	char hname[RTE_HASH_NAMESIZE];
	snprintf(hname, sizeof(hname), "%s%c", name, suffix);
	/* Two keys a flow, in a hash (its slots a power of two) at most 7/8
	 * full when the table is: fuller, a cuckoo insert meets dead ends,
	 * which with a keyed hash (no two starts alike) sooner or later
	 * cost a small table an eviction or an insert.  The sizes of 4096
	 * flows and up are that already (dp_flow_table_new); smaller ones
	 * get twice the buckets (rte_hash makes entries rounded up to a power
	 * of two slots, and a key store of entries). */
	uint32_t keys = 2 * capacity < 8 ? 8 : 2 * capacity;
	if ((uint64_t)keys * 8 > (uint64_t)rte_align32pow2(keys) * 7)
		keys = rte_align32pow2(keys) + 1;
	fm->first = first;
	fm->capacity = capacity;
	fm->free_head = first;
	for (unsigned c = 0; c < DP_FC_COUNT; c++)
		fm->lists[c].head = fm->lists[c].tail = DP_FLOW_NONE;
	if (suffix == '4') {
		/* The same sizing: slots the power of two rte_hash would take
		 * (at least two buckets, so a key's two differ). */
		uint32_t nb = rte_align32pow2(keys) / H4_SLOTS;
		if (nb < 2)
			nb = 2;
		fm->b4 = rte_malloc_socket("dp_flow_h4", sizeof(struct h4_bucket) * nb,
					   RTE_CACHE_LINE_SIZE, socket);
		if (!fm->b4)
			return -ENOMEM;
		memset(fm->b4, 0, sizeof(struct h4_bucket) * nb);
		for (uint32_t i = 0; i < nb; i++)
			memset(fm->b4[i].ent, 0xff, sizeof(fm->b4[i].ent));
		fm->mask4 = nb - 1;
		fm->bytes = heap_used(socket) - before +
			    (uint64_t)capacity * sizeof(struct dp_flow);
		return 0;
	}
	struct rte_hash_parameters hp = {
		.name = hname,
		.entries = keys,
		.key_len = key_len,
		.hash_func = dp_hash_rte,
		.socket_id = socket,
	};
	fm->hash = rte_hash_create(&hp);
	if (!fm->hash)
		return -ENOMEM;
	fm->bytes = heap_used(socket) - before + (uint64_t)capacity * sizeof(struct dp_flow);
	return 0;
}

int dp_flow_table_new(const char *name, uint32_t capacity, int socket, dp_flow_release_fn fn,
		      void *ctx, struct dp_flow_table **ret)
{
	if (capacity < 2 || capacity > (1u << 28))
		return -EINVAL;
	int r = dp_hash_init();
	if (r < 0)
		return r;
	/* The hash has 2 * capacity slots rounded up to a power of two, and
	 * cuckoo displacement starts to fail at about 98 % of them (no
	 * overflow table) and grows costly well before: near 97 % full most
	 * inserts search for room breadth-first over cold buckets, which
	 * halved the new-flow rate.  Hold 1/8 fewer flows than asked (the
	 * hash at most 87.5 % full), so inserts are cheap and do not fail
	 * before the table is full.  That also keeps the free-slot ring (2
	 * keys a flow + 1, rounded up) from doubling. */
	if (capacity >= 4096)
		capacity -= capacity / 8;
	uint32_t cap6 = capacity / 4 < 15 ? 15 : capacity / 4;
	struct dp_flow_table *t = rte_zmalloc_socket("dp_flow_table", sizeof(*t), 0, socket);
	if (!t)
		return -ENOMEM;
	t->capacity = capacity + cap6;
	t->flows = rte_zmalloc_socket("dp_flows", sizeof(struct dp_flow) * t->capacity,
				      RTE_CACHE_LINE_SIZE, socket);
	if (!t->flows || fam_init(&t->fam[0], name, '4', 0, capacity,
				  sizeof(struct dp_flow_key4), socket) < 0 ||
	    fam_init(&t->fam[1], name, '6', capacity, cap6, sizeof(struct dp_flow_key),
		     socket) < 0) {
		dp_flow_table_free(t);
		return -ENOMEM;
	}
	for (int fi = 0; fi < 2; fi++) {
		const struct fam *fm = &t->fam[fi];
		uint32_t end = fm->first + fm->capacity;
		for (uint32_t i = fm->first; i < end; i++) {
			t->flows[i].next = i + 1 < end ? i + 1 : DP_FLOW_NONE;
			t->flows[i].prev = DP_FLOW_NONE;
		}
	}
	for (unsigned c = 0; c < DP_FC_COUNT; c++)
		t->timeout_ms[c] = default_timeout_ms[c];
	t->release = fn;
	t->ctx = ctx;
	*ret = t;
	return 0;
}

void dp_flow_table_free(struct dp_flow_table *t)
{
	if (!t)
		return;
	rte_free(t->fam[0].b4);
	rte_hash_free(t->fam[1].hash);
	rte_free(t->flows);
	rte_free(t);
}

void dp_flow_memory(const struct dp_flow_table *t, uint64_t ret_bytes[2])
{
	ret_bytes[0] = t->fam[0].bytes + sizeof(*t);
	ret_bytes[1] = t->fam[1].bytes;
}

void dp_flow_set_warm(struct dp_flow_table *t, dp_flow_warm_fn fn)
{
	t->warm = fn;
}

void dp_flow_set_timeout(struct dp_flow_table *t, enum dp_flow_class c, uint64_t ms)
{
	if ((unsigned)c >= DP_FC_COUNT)
		return;
	t->timeout_ms[c] = ms;
	t->fam[0].lists[c].due = t->fam[1].lists[c].due = 0;
}

static void pack4(const struct dp_flow_key *k, struct dp_flow_key4 *ret)
{
	memcpy(ret->src, k->src, 4);
	memcpy(ret->dst, k->dst, 4);
	ret->sport = k->sport;
	ret->dport = k->dport;
	ret->proto = k->proto;
	ret->role = k->role;
	ret->pad = 0;
}

static void unpack4(const struct dp_flow_key4 *k, struct dp_flow_key *ret)
{
	memset(ret, 0, sizeof(*ret));
	memcpy(ret->src, k->src, 4);
	memcpy(ret->dst, k->dst, 4);
	ret->sport = k->sport;
	ret->dport = k->dport;
	ret->proto = k->proto;
	ret->family = 4;
	ret->role = k->role;
}

/* The hashes' function, inline: the keyed hash (hash.h) over the whole
 * key, as the IPv6 table is created with, so rte_hash's own calls agree
 * (and dp_flow_probe4's word-wise hash of an IPv4 key is this one). */
static inline uint32_t sig4(const struct dp_flow_key4 *k)
{
	return dp_hash_bytes(k, sizeof(*k));
}

static inline uint32_t sig6(const struct dp_flow_key *k)
{
	_Static_assert(sizeof(*k) <= 8 * DP_HASH_MAX_WORDS, "a key the hash takes whole");
	return dp_hash_bytes(k, sizeof(*k));
}

void dp_flow_probe_init(struct dp_flow_probe *ret, const struct dp_flow_key *k)
{
	ret->family = k->family;
	if (k->family == 4) {
		pack4(k, &ret->key.k4);
		ret->sig = sig4(&ret->key.k4);
	} else {
		ret->key.k = *k;
		ret->sig = sig6(k);
	}
}

void dp_flow_probe4(struct dp_flow_probe *ret, uint8_t role, uint8_t proto, const uint8_t src[4],
		    const uint8_t dst[4], uint16_t sport, uint16_t dport)
{
	struct dp_flow_key4 *k = &ret->key.k4;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* The key's two words made in registers, stored whole and hashed
	 * from there: hashing what was just stored a field at a time loads
	 * each word across several stores, which the CPU cannot forward
	 * (a stall of a dozen cycles a word). */
	uint32_t s4, d4;
	memcpy(&s4, src, 4);
	memcpy(&d4, dst, 4);
	uint64_t w0 = s4 | (uint64_t)d4 << 32;
	uint64_t w1 = sport | (uint64_t)dport << 16 | (uint64_t)proto << 32 | (uint64_t)role << 40;
	memcpy(k, &w0, 8);
	memcpy((uint8_t *)k + 8, &w1, 8);
	ret->sig = dp_hash_2w(w0, w1);
#else
	memcpy(k->src, src, 4);
	memcpy(k->dst, dst, 4);
	k->sport = sport;
	k->dport = dport;
	k->proto = proto;
	k->role = role;
	k->pad = 0;
	ret->sig = sig4(k);
#endif
	ret->family = 4;
}

static const void *probe_key(const struct dp_flow_probe *p)
{
	return p->family == 4 ? (const void *)&p->key.k4 : (const void *)&p->key.k;
}

static const struct fam *cfam_of(const struct dp_flow_table *t, uint8_t family)
{
	return &t->fam[family == 6];
}

static inline uint32_t unpack_data(void *data, unsigned *ret_dir)
{
	uintptr_t v = (uintptr_t)data;
	*ret_dir = (unsigned)(v & 1);
	return (uint32_t)(v >> 1);
}

uint32_t dp_flow_find(const struct dp_flow_table *t, const struct dp_flow_probe *p,
		      unsigned *ret_dir)
{
	if (p->family == 4) {
		uint32_t e = h4_find(t, &t->fam[0], &p->key.k4, p->sig);
		if (e == H4_EMPTY)
			return DP_FLOW_NONE;
		*ret_dir = e & 1;
		return e >> 1;
	}
	void *data;
	if (rte_hash_lookup_with_hash_data(cfam_of(t, p->family)->hash, probe_key(p), p->sig,
					   &data) < 0)
		return DP_FLOW_NONE;
	return unpack_data(data, ret_dir);
}

/* Both cache lines a flow may straddle. */
static inline void prefetch_flow(const struct dp_flow_table *t, uint32_t i)
{
	const char *f = (const char *)&t->flows[i];
	rte_prefetch0(f);
	rte_prefetch0(f + sizeof(struct dp_flow) - 1);
}

static inline void added_mark(struct dp_flow_table *t, uint32_t sig)
{
	t->added[sig / 64 % (ADDED_BITS / 64)] |= 1ull << (sig % 64);
	t->added_any = true;
}

static inline bool added_maybe(const struct dp_flow_table *t, uint32_t sig)
{
	return t->added[sig / 64 % (ADDED_BITS / 64)] & (1ull << (sig % 64));
}

void dp_flow_find_bulk(struct dp_flow_table *t, const struct dp_flow_probe *p, unsigned n,
		       uint64_t skip, uint32_t *ret_idx, uint8_t *ret_dir)
{
	if (t->added_any) {
		memset(t->added, 0, sizeof(t->added));
		t->added_any = false;
	}
	const void *keys[DP_FLOW_BULK_MAX];
	hash_sig_t sigs[DP_FLOW_BULK_MAX];
	uint8_t at6[DP_FLOW_BULK_MAX], at4[DP_FLOW_BULK_MAX];
	void *data[DP_FLOW_BULK_MAX];
	uint32_t bk[DP_FLOW_BULK_MAX][2];
	uint16_t m[DP_FLOW_BULK_MAX][2];
	unsigned cnt6 = 0, cnt4 = 0;
	const struct fam *f4 = &t->fam[0];
	/* IPv4, as rte_hash's bulk lookup does: both buckets of every key
	 * fetched first, then the hashes compared and the flows of those that
	 * match fetched (a hit reads its flow next anyway), then the keys. */
	for (unsigned i = 0; i < n; i++) {
		ret_idx[i] = DP_FLOW_NONE;
		ret_dir[i] = 0;
		if (skip & (1ull << i))
			continue;
		if (p[i].family == 6) {
			keys[cnt6] = probe_key(&p[i]);
			sigs[cnt6] = p[i].sig;
			at6[cnt6++] = (uint8_t)i;
			continue;
		}
		uint32_t b = p[i].sig & f4->mask4;
		bk[cnt4][0] = b;
		bk[cnt4][1] = h4_alt(b, p[i].sig, f4->mask4);
		rte_prefetch0(&f4->b4[bk[cnt4][0]]);
		rte_prefetch0(&f4->b4[bk[cnt4][1]]);
		at4[cnt4++] = (uint8_t)i;
	}
	for (unsigned j = 0; j < cnt4; j++) {
		uint32_t sig = p[at4[j]].sig;
		for (int w = 0; w < 2; w++) {
			const struct h4_bucket *b = &f4->b4[bk[j][w]];
			unsigned mm = h4_sigs(b, sig);
			m[j][w] = (uint16_t)mm;
			for (; mm; mm &= mm - 1) {
				uint32_t e = b->ent[__builtin_ctz(mm)];
				if (e != H4_EMPTY)
					prefetch_flow(t, e >> 1);
			}
		}
	}
	for (unsigned j = 0; j < cnt4; j++) {
		const struct dp_flow_key4 *k = &p[at4[j]].key.k4;
		uint32_t e = h4_match(t->flows, &f4->b4[bk[j][0]], m[j][0], k);
		if (e == H4_EMPTY)
			e = h4_match(t->flows, &f4->b4[bk[j][1]], m[j][1], k);
		if (e != H4_EMPTY) {
			ret_idx[at4[j]] = e >> 1;
			ret_dir[at4[j]] = (uint8_t)(e & 1);
		}
	}
	uint64_t hits = 0;
	if (!cnt6 ||
	    rte_hash_lookup_with_hash_bulk_data(t->fam[1].hash, keys, sigs, cnt6, &hits, data) <= 0)
		return;
	for (; hits; hits &= hits - 1) {
		unsigned j = (unsigned)__builtin_ctzll(hits), d;
		uint32_t idx = unpack_data(data[j], &d);
		prefetch_flow(t, idx);
		ret_idx[at6[j]] = idx;
		ret_dir[at6[j]] = (uint8_t)d;
	}
}

bool dp_flow_is_key(const struct dp_flow_table *t, uint32_t idx, unsigned d,
		    const struct dp_flow_probe *p)
{
	const struct dp_flow *f = &t->flows[idx];
	return p->family == 4 && f->family == 4 &&
	       !memcmp(&f->key.v4[d & 1], &p->key.k4, sizeof(p->key.k4));
}

uint32_t dp_flow_refind(const struct dp_flow_table *t, const struct dp_flow_probe *p,
			uint32_t idx, unsigned *dir)
{
	if (idx == DP_FLOW_NONE && !added_maybe(t, p->sig))
		return DP_FLOW_NONE; /* no key added since is this one */
	if (idx != DP_FLOW_NONE && dp_flow_is_key(t, idx, *dir, p))
		return idx;
	return dp_flow_find(t, p, dir);
}

void dp_flow_changes(const struct dp_flow_table *t, uint64_t *ret_ins, uint64_t *ret_rem)
{
	*ret_ins = t->stats.created;
	*ret_rem = t->stats.expired + t->stats.evicted + t->stats.removed;
}

uint32_t dp_flow_lookup(const struct dp_flow_table *t, const struct dp_flow_key *key,
			unsigned *ret_dir)
{
	struct dp_flow_probe p;
	dp_flow_probe_init(&p, key);
	return dp_flow_find(t, &p, ret_dir);
}

void dp_flow_key(const struct dp_flow_table *t, const struct dp_flow *f, unsigned d,
		 struct dp_flow_key *ret)
{
	if (f->family == 4) {
		unpack4(&f->key.v4[d], ret);
		return;
	}
	void *k;
	if (rte_hash_get_key_with_position(t->fam[1].hash, f->key.pos6[d], &k) == 0)
		memcpy(ret, k, sizeof(*ret));
	else
		memset(ret, 0, sizeof(*ret)); /* a free slot read by another lcore */
}

struct dp_flow *dp_flow_get(struct dp_flow_table *t, uint32_t idx)
{
	return &t->flows[idx];
}

uint32_t dp_flow_capacity(const struct dp_flow_table *t)
{
	return t->capacity;
}

uint32_t dp_flow_capacity4(const struct dp_flow_table *t)
{
	return t->fam[0].capacity;
}

const struct dp_flow *dp_flow_at(const struct dp_flow_table *t, uint32_t idx)
{
	if (idx >= t->capacity)
		return NULL;
	const struct dp_flow *f = &t->flows[idx];
	uint8_t fam = __atomic_load_n(&f->family, __ATOMIC_RELAXED);
	return fam == 4 || fam == 6 ? f : NULL;
}

static void flow_release(struct dp_flow_table *t, uint32_t i)
{
	struct dp_flow *f = &t->flows[i];
	struct fam *fm = fam_of(t, f->family);
	if (t->release)
		t->release(t->ctx, f);
	if (f->family == 4) {
		h4_del(fm, sig4(&f->key.v4[0]), i << 1);
		if (!(f->flags & DP_FLOW_UNHASHED1))
			h4_del(fm, sig4(&f->key.v4[1]), i << 1 | 1);
	} else {
		/* Copied out: deleting a key frees its key-store slot. */
		struct dp_flow_key k[2];
		dp_flow_key(t, f, 0, &k[0]);
		dp_flow_key(t, f, 1, &k[1]);
		rte_hash_del_key_with_hash(fm->hash, &k[0], sig6(&k[0]));
		rte_hash_del_key_with_hash(fm->hash, &k[1], sig6(&k[1]));
	}
	list_unlink(t, i);
	f->family = 0; /* free: dp_flow_at skips it */
	f->next = fm->free_head;
	fm->free_head = i;
	t->stats.active--;
}

void dp_flow_remove(struct dp_flow_table *t, uint32_t i)
{
	flow_release(t, i);
	t->stats.removed++;
}

static unsigned expire_fam(struct dp_flow_table *t, struct fam *fm, uint64_t now_ms,
			   unsigned budget)
{
	unsigned n = 0;
	for (unsigned c = 0; c < DP_FC_COUNT && n < budget; c++) {
		struct list *l = &fm->lists[c];
		if (now_ms < l->due)
			continue;
		while (n < budget) {
			uint32_t i = l->head;
			if (i == DP_FLOW_NONE)
				break;
			uint64_t idle = dp_flow_idle_ms(&t->flows[i], now_ms);
			if (idle < t->timeout_ms[c]) {
				l->due = now_ms + (t->timeout_ms[c] - idle);
				break;
			}
			flow_release(t, i);
			t->stats.expired++;
			n++;
		}
	}
	return n;
}

unsigned dp_flow_expire(struct dp_flow_table *t, uint64_t now_ms, unsigned budget)
{
	unsigned n = expire_fam(t, &t->fam[0], now_ms, budget);
	return n + expire_fam(t, &t->fam[1], now_ms, budget - n);
}

/* The least recently active flow of the most expendable class. */
static int evict_one(struct dp_flow_table *t, struct fam *fm)
{
	for (unsigned c = 0; c < DP_FC_COUNT; c++) {
		uint32_t i = fm->lists[c].head;
		if (i == DP_FLOW_NONE)
			continue;
		flow_release(t, i);
		t->stats.evicted++;
		/* The next victim, while the table stays full: the head of
		 * this class or of the next one that has flows (unless the flow
		 * being made is of a class before it, and then it is the victim,
		 * warm).  Its line came in at the previous eviction when it was
		 * next then: what its release reads is fetched now (warm), and
		 * the line of the one after it. */
		for (; c < DP_FC_COUNT; c++) {
			uint32_t nx = fm->lists[c].head;
			if (nx == DP_FLOW_NONE)
				continue;
			prefetch_flow(t, nx);
			if (t->warm)
				t->warm(t->ctx, &t->flows[nx]);
			if (t->flows[nx].next != DP_FLOW_NONE)
				prefetch_flow(t, t->flows[nx].next);
			break;
		}
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

/* Both keys into the family's hash (p1 NULL: key 0 only); on a cuckoo
 * dead end, evict and try again (the table is as good as full).
 * ret_pos: where the keys went, for IPv6 flows (NULL: not needed). */
static int add_keys(struct dp_flow_table *t, struct fam *fm, const struct dp_flow_probe *p0,
		    const struct dp_flow_probe *p1, uint32_t i, int32_t ret_pos[2])
{
	uintptr_t d0 = (uintptr_t)i << 1, d1 = d0 | 1;
	const void *k0 = probe_key(p0), *k1 = p1 ? probe_key(p1) : NULL;
	added_mark(t, p0->sig);
	if (p1)
		added_mark(t, p1->sig);
	for (int tries = 0;; tries++) {
		if (p0->family == 4) {
			if (h4_add(fm, p0->sig, (uint32_t)d0) == 0) {
				if (!p1 || h4_add(fm, p1->sig, (uint32_t)d1) == 0)
					return 0;
				h4_del(fm, p0->sig, (uint32_t)d0);
			}
		} else if (rte_hash_add_key_with_hash_data(fm->hash, k0, p0->sig, (void *)d0) == 0) {
			if (!p1)
				return 0;
			if (rte_hash_add_key_with_hash_data(fm->hash, k1, p1->sig, (void *)d1) == 0) {
				if (!ret_pos)
					return 0;
				/* (add_key_data does not say where.) */
				ret_pos[0] = rte_hash_lookup_with_hash(fm->hash, k0, p0->sig);
				ret_pos[1] = rte_hash_lookup_with_hash(fm->hash, k1, p1->sig);
				return 0;
			}
			rte_hash_del_key_with_hash(fm->hash, k0, p0->sig);
		}
		if (tries == EVICT_TRIES || evict_one(t, fm) < 0)
			return -ENOSPC;
	}
}

int dp_flow_insert(struct dp_flow_table *t, const struct dp_flow_key *k0,
		   const struct dp_flow_key *k1, uint8_t proto, uint64_t now_ms, uint32_t *ret_idx)
{
	unsigned d;
	if (k0->family != k1->family || (k0->family != 4 && k0->family != 6))
		return -EINVAL;
	struct dp_flow_probe p0;
	dp_flow_probe_init(&p0, k0);
	if (dp_flow_find(t, &p0, &d) != DP_FLOW_NONE)
		return -EEXIST;
	struct dp_flow_probe p1;
	dp_flow_probe_init(&p1, k1);
	return dp_flow_add(t, &p0, &p1, proto, now_ms, ret_idx);
}

static bool same_key(const struct dp_flow_probe *a, const struct dp_flow_probe *b)
{
	if (a->family == 4)
		return !memcmp(&a->key.k4, &b->key.k4, sizeof(a->key.k4));
	return !memcmp(&a->key.k, &b->key.k, sizeof(a->key.k));
}

int dp_flow_reserve(struct dp_flow_table *t, uint8_t family, uint64_t now_ms)
{
	if (family != 4 && family != 6)
		return -EINVAL;
	struct fam *fm = fam_of(t, family);
	if (fm->free_head != DP_FLOW_NONE)
		return 0;
	expire_fam(t, fm, now_ms, 8);
	if (fm->free_head == DP_FLOW_NONE && evict_one(t, fm) < 0)
		return -ENOSPC;
	return 0;
}

/* A new flow with key 0 p0 and key 1 p1, or (p1 NULL) k1 not hashed. */
static int add_flow(struct dp_flow_table *t, const struct dp_flow_probe *p0,
		    const struct dp_flow_probe *p1, const struct dp_flow_key4 *k1, uint8_t proto,
		    uint64_t now_ms, uint32_t *ret_idx)
{
	struct fam *fm = fam_of(t, p0->family);
	if (dp_flow_reserve(t, p0->family, now_ms) < 0)
		return -ENOSPC;
	uint32_t i = fm->free_head;
	struct dp_flow *f = &t->flows[i];
	/* Off the free list first: an eviction while adding the keys must
	 * not hand this slot out again. */
	fm->free_head = f->next;
	int32_t pos[2] = { -1, -1 };
	int r = add_keys(t, fm, p0, p1, i, p0->family == 4 ? NULL : pos);
	if (r < 0) {
		f->next = fm->free_head;
		fm->free_head = i;
		return r;
	}
	memset(f, 0, sizeof(*f));
	if (p0->family == 4) {
		f->key.v4[0] = p0->key.k4;
		f->key.v4[1] = p1 ? p1->key.k4 : *k1;
		if (!p1)
			f->flags = DP_FLOW_UNHASHED1;
	} else {
		f->key.pos6[0] = pos[0];
		f->key.pos6[1] = pos[1];
	}
	f->family = p0->family;
	f->proto = proto;
	f->last_ms = (uint32_t)now_ms;
	f->cls = initial_class(proto);
	f->moved = (uint16_t)(now_ms / DP_FLOW_TICK_MS);
	f->tcp = proto == IPPROTO_TCP ? DP_TCP_SYN_SENT : DP_TCP_NONE;
	f->nat_map = f->dev = DP_FLOW_NONE;
	list_append(t, i);
	t->stats.created++;
	t->stats.active++;
	*ret_idx = i;
	return 0;
}

int dp_flow_add(struct dp_flow_table *t, const struct dp_flow_probe *p0,
		const struct dp_flow_probe *p1, uint8_t proto, uint64_t now_ms, uint32_t *ret_idx)
{
	unsigned d;
	if (p0->family != p1->family || (p0->family != 4 && p0->family != 6))
		return -EINVAL;
	/* (This also warms p1's bucket for its add below.) */
	if (dp_flow_find(t, p1, &d) != DP_FLOW_NONE || same_key(p0, p1))
		return -EEXIST;
	return add_flow(t, p0, p1, NULL, proto, now_ms, ret_idx);
}

int dp_flow_add_unhashed(struct dp_flow_table *t, const struct dp_flow_probe *p0,
			 const struct dp_flow_key4 *k1, uint8_t proto, uint64_t now_ms,
			 uint32_t *ret_idx)
{
	if (p0->family != 4)
		return -EINVAL;
	return add_flow(t, p0, NULL, k1, proto, now_ms, ret_idx);
}

int dp_flow_hash_key1(struct dp_flow_table *t, uint32_t idx)
{
	struct dp_flow *f = &t->flows[idx];
	if (f->family != 4 || !(f->flags & DP_FLOW_UNHASHED1))
		return 0;
	uint32_t sig = sig4(&f->key.v4[1]);
	if (h4_add(&t->fam[0], sig, idx << 1 | 1) < 0)
		return -ENOSPC;
	added_mark(t, sig);
	f->flags &= (uint8_t)~DP_FLOW_UNHASHED1;
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
	uint8_t proto = f->proto;
	if (proto == IPPROTO_TCP)
		f->tcp = tcp_step(f, dir, tcp_flags);
	uint8_t cls = class_of(f, proto);
	if ((int32_t)((uint32_t)now_ms - f->last_ms) > 0)
		f->last_ms = (uint32_t)now_ms;
	/* Keep each class list in order of activity (to a tick): to the tail. */
	uint16_t tick = (uint16_t)(now_ms / DP_FLOW_TICK_MS);
	if (cls != f->cls ||
	    (tick != f->moved && fam_of(t, f->family)->lists[f->cls].tail != i)) {
		list_unlink(t, i);
		f->cls = cls & 7;
		list_append(t, i);
		f->moved = tick;
	}
}

void dp_flow_stats(const struct dp_flow_table *t, struct dp_flow_stats *ret)
{
	*ret = t->stats;
}
