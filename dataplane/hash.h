/* SPDX-License-Identifier: MIT */
/*
 * The keyed hash of the fast path's tables: flows, NAT mappings, domains
 * and the workers' steering.  Whoever sends packets chooses their keys, so
 * an unkeyed hash lets a device (or, through replies, a host on the
 * internet) pick tuples that all land in one bucket: with rte_hash's eight
 * slots a bucket and two buckets a key, the seventeenth such flow finds no
 * room and evicts a working one, and every lookup walks the crowded
 * buckets.  A CRC does not help even with a secret initial value: it is
 * linear, so crc(s, x) ^ crc(s, y) == crc(0, x ^ y) and the colliding sets
 * are the same for every seed.
 *
 * So the key words go through NH (the universal hash of UMAC, RFC 4418):
 * each 64-bit word's two halves, each plus a secret 32-bit key half, are
 * multiplied, and the products summed mod 2^64.  For a key chosen
 * without seeing the secret, two inputs of one length give one sum with a
 * probability near 2^-32.  The sum then goes through a full-avalanche
 * mix (a bijection, so the collision bound holds) and its upper 32 bits
 * are the hash.  Without the mix, the upper half of a product moves by
 * (secret half) / 2^32 per step of the other half: keys that differ in
 * one port only, counted up (a device's connections to one server, the
 * server's replies to one NAT port), had hashes a few apart under about
 * one secret in six, filled a few neighbouring buckets and evicted
 * working flows after a few thousand (a 5 000-flow burst in the lab).
 * With the mix, the bucket index (rte_hash takes the hash's low bits)
 * depends on every input bit under every secret.  The
 * secret comes from getrandom() once per process (dp_hash_init), so each
 * start of gw-dataplane numbers its buckets differently.
 *
 * Every table must hash through here, both in the _with_hash calls (the
 * inline functions) and in rte_hash's own (dp_hash_rte as the table's
 * hash_func), so that the two agree.  No DPDK here.
 */
#ifndef GW_DATAPLANE_HASH_H
#define GW_DATAPLANE_HASH_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* 64-bit words a key may have: the IPv6 flow key's 40 bytes, the domain
 * table's 20 (rounded up). */
#define DP_HASH_MAX_WORDS 6

/* The secret's bytes: four for each half of each word. */
#define DP_HASH_KEY_BYTES (8 * DP_HASH_MAX_WORDS)

/* The secret: two 32-bit halves a word (kept as 64-bit values so the
 * adds below need no casts). */
extern uint64_t dp_hash_key[2 * DP_HASH_MAX_WORDS];

/* Draws the secret from getrandom() the first time (it waits until the
 * kernel's pool is ready, as early in a boot as that may be); later calls
 * do nothing.  0 or -errno.  Tables call it when they are made. */
int dp_hash_init(void);
/* Tests: a chosen secret. */
void dp_hash_set_key(const uint8_t key[DP_HASH_KEY_BYTES]);
bool dp_hash_keyed(void);

/* A full-avalanche mix of a 64-bit word (murmur3's finaliser). */
static inline uint64_t dp_hash_mix64(uint64_t w)
{
	w ^= w >> 33;
	w *= 0xff51afd7ed558ccdULL;
	w ^= w >> 33;
	w *= 0xc4ceb9fe1a85ec53ULL;
	w ^= w >> 33;
	return w;
}

static inline uint64_t dp_hash_nh(uint64_t w, unsigned i)
{
	uint64_t lo = (uint32_t)(w + dp_hash_key[2 * i]);
	uint64_t hi = (uint32_t)((w >> 32) + dp_hash_key[2 * i + 1]);
	return lo * hi;
}

/* Two words: an IPv4 flow key as dp_flow_probe4 builds it in registers. */
static inline uint32_t dp_hash_2w(uint64_t w0, uint64_t w1)
{
	return (uint32_t)(dp_hash_mix64(dp_hash_nh(w0, 0) + dp_hash_nh(w1, 1)) >> 32);
}

/* len bytes (at most 8 * DP_HASH_MAX_WORDS), read as 64-bit words, the
 * last one zero-padded. */
static inline uint32_t dp_hash_bytes(const void *key, uint32_t len)
{
	const uint8_t *p = key;
	uint64_t h = 0;
	unsigned i = 0;
	for (; len >= 8 && i < DP_HASH_MAX_WORDS; len -= 8, p += 8, i++) {
		uint64_t w;
		memcpy(&w, p, 8);
		h += dp_hash_nh(w, i);
	}
	if (len && i < DP_HASH_MAX_WORDS) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h += dp_hash_nh(w, i);
	}
	return (uint32_t)(dp_hash_mix64(h) >> 32);
}

/* Which worker a device's packets go to: len bytes (a MAC, an IPv6
 * address) under the secret, every input bit reaching every output bit.
 * Mixed word by word: with the products' high halves it used first,
 * devices whose MACs differ in their last byte, as one vendor's do, often
 * all went to one worker. */
static inline uint32_t dp_hash_steer(const void *key, uint32_t len)
{
	const uint8_t *p = key;
	uint64_t h = dp_hash_key[1];
	for (unsigned i = 0; len; i++) {
		uint64_t w = 0;
		uint32_t n = len < 8 ? len : 8;
		memcpy(&w, p, n);
		h = dp_hash_mix64(h ^ w ^ dp_hash_key[(2 + i) % (2 * DP_HASH_MAX_WORDS)]);
		p += n;
		len -= n;
	}
	return (uint32_t)(h >> 32);
}

/* rte_hash's hash_func (init_val is not used: the secret is the seed). */
uint32_t dp_hash_rte(const void *key, uint32_t len, uint32_t init_val);

#endif
