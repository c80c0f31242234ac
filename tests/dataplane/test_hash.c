/* SPDX-License-Identifier: MIT */
/*
 * The tables' keyed hash (dataplane/hash.h) against a device that picks
 * its flows to collide.  CRC-32C is linear over GF(2), so the source
 * addresses and ports whose flow keys have one CRC (with any initial
 * value) are a solution space of the device's own choosing; this test
 * solves for 64 of them, checks that they do collide under CRC, and
 * asks that the fast path's flow hash spread them over buckets and its
 * table hold them all without evicting anything.  Also: each process
 * draws its own secret, and the secret changes the hash.
 * On a real EAL (--no-huge, its own --file-prefix); skips (77) where EAL
 * cannot start (fails under GW_TEST_STRICT=1).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <rte_eal.h>
#include <rte_hash_crc.h>

#include "flow.h"
#include "gwtest.h"
#include "hash.h"

#define NCOLL 64

/* The secret a process of its own drew (main, before anything here). */
static uint64_t child_key[2 * DP_HASH_MAX_WORDS];
static bool child_ok;
#define FREE_BITS 48 /* 32 of the source address, 16 of the source port */

/* An IPv4 flow key's two words as the flow table packs them (flow.h):
 * source and destination addresses, then ports, protocol, role. */
static void words(const uint8_t src[4], uint16_t sport, uint64_t *w0, uint64_t *w1)
{
	static const uint8_t dst[4] = { 198, 51, 100, 7 };
	struct dp_flow_probe p;
	dp_flow_probe4(&p, 0, IPPROTO_TCP, src, dst, sport, 443);
	memcpy(w0, &p.key.k4, 8);
	memcpy(w1, (const uint8_t *)&p.key.k4 + 8, 8);
}

static uint32_t crc_of(const uint8_t src[4], uint16_t sport, uint32_t init)
{
	uint64_t w0, w1;
	words(src, sport, &w0, &w1);
	return rte_hash_crc_8byte(w1, rte_hash_crc_8byte(w0, init));
}

/* The vector's 48 bits as a source address and port, around a base. */
static void apply(uint64_t v, uint8_t src[4], uint16_t *sport)
{
	static const uint8_t base[4] = { 192, 168, 1, 10 };
	uint32_t a = (uint32_t)v;
	for (int i = 0; i < 4; i++)
		src[i] = (uint8_t)(base[i] ^ (a >> (8 * i)));
	*sport = (uint16_t)(40000 ^ (uint16_t)(v >> 32));
}

/* The CRC's change when the free bits change by v: linear in v. */
static uint32_t delta(uint64_t v)
{
	uint8_t s0[4], s1[4];
	uint16_t p0, p1;
	apply(0, s0, &p0);
	apply(v, s1, &p1);
	return crc_of(s0, p0, 0) ^ crc_of(s1, p1, 0);
}

/* NCOLL vectors of the kernel of delta (Gaussian elimination over GF(2):
 * each free bit's image, reduced; a bit whose image reduces to 0 with
 * the bits it was combined with is a kernel vector). */
static unsigned kernel(uint64_t out[NCOLL])
{
	uint32_t img[FREE_BITS];
	uint64_t comb[FREE_BITS];
	unsigned n = 0, basis = 0;
	uint64_t ker[FREE_BITS];
	for (unsigned b = 0; b < FREE_BITS; b++) {
		uint32_t x = delta(1ull << b);
		uint64_t c = 1ull << b;
		for (unsigned i = 0; i < basis; i++) {
			uint32_t top = 1u << (31 - __builtin_clz(img[i]));
			if (x & top) {
				x ^= img[i];
				c ^= comb[i];
			}
		}
		if (x) {
			/* Keep the basis with distinct leading bits, reduced. */
			uint32_t top = 1u << (31 - __builtin_clz(x));
			for (unsigned i = 0; i < basis; i++) {
				if (img[i] & top) {
					img[i] ^= x;
					comb[i] ^= c;
				}
			}
			img[basis] = x;
			comb[basis++] = c;
		} else {
			ker[n++] = c;
		}
	}
	/* Combinations of the first six kernel vectors: 64 distinct ones. */
	assert_true(n >= 6);
	for (unsigned m = 0; m < NCOLL; m++) {
		uint64_t v = 0;
		for (unsigned i = 0; i < 6; i++)
			if (m & (1u << i))
				v ^= ker[i];
		out[m] = v;
	}
	return n;
}

static void test_crc_collisions(void **state)
{
	(void)state;
	uint64_t v[NCOLL];
	unsigned dim = kernel(v);
	uint8_t src[NCOLL][4];
	uint16_t sport[NCOLL];
	for (unsigned i = 0; i < NCOLL; i++)
		apply(v[i], src[i], &sport[i]);
	/* The attack is real: one CRC-32C for all, whatever its initial
	 * value (a "seeded" CRC would not help). */
	for (uint32_t init = 0; init < 3; init++) {
		uint32_t c0 = crc_of(src[0], sport[0], init * 0x9e3779b9u);
		for (unsigned i = 1; i < NCOLL; i++)
			assert_int_equal(crc_of(src[i], sport[i], init * 0x9e3779b9u), c0);
	}
	/* The flow hash spreads them. */
	uint32_t sig[NCOLL];
	unsigned distinct = 0, buckets = 0;
	for (unsigned i = 0; i < NCOLL; i++) {
		uint64_t w0, w1;
		words(src[i], sport[i], &w0, &w1);
		struct dp_flow_probe p;
		static const uint8_t dst[4] = { 198, 51, 100, 7 };
		dp_flow_probe4(&p, 0, IPPROTO_TCP, src[i], dst, sport[i], 443);
		sig[i] = p.sig;
		bool seen = false, seen_b = false;
		for (unsigned j = 0; j < i; j++) {
			seen |= sig[j] == sig[i];
			seen_b |= (sig[j] & 1023) == (sig[i] & 1023);
		}
		distinct += !seen;
		buckets += !seen_b;
	}
	print_message("%u-dimensional CRC kernel; 64 colliding keys: %u distinct hashes, "
		      "%u of 1024 buckets\n", dim, distinct, buckets);
	assert_true(distinct >= NCOLL - 1);
	assert_true(buckets >= 48); /* 64 balls in 1024 bins: about 62 */

	/* And the table holds them all: nothing evicted, every one found. */
	struct dp_flow_table *t;
	assert_int_equal(dp_flow_table_new("hash_coll", 4096, 0, NULL, NULL, &t), 0);
	for (unsigned i = 0; i < NCOLL; i++) {
		struct dp_flow_key k0 = { .sport = sport[i], .dport = 443, .proto = IPPROTO_TCP,
					  .family = 4, .role = 0 };
		memcpy(k0.src, src[i], 4);
		static const uint8_t dst[4] = { 198, 51, 100, 7 };
		memcpy(k0.dst, dst, 4);
		struct dp_flow_key k1 = k0;
		memcpy(k1.src, dst, 4);
		memcpy(k1.dst, src[i], 4);
		k1.sport = 443;
		k1.dport = sport[i];
		k1.role = 1;
		uint32_t idx;
		assert_int_equal(dp_flow_insert(t, &k0, &k1, IPPROTO_TCP, 0, &idx), 0);
	}
	struct dp_flow_stats st;
	dp_flow_stats(t, &st);
	assert_int_equal(st.evicted, 0);
	assert_int_equal(st.active, NCOLL);
	dp_flow_table_free(t);
}

static void test_secret(void **state)
{
	(void)state;
	assert_int_equal(dp_hash_init(), 0);
	assert_true(dp_hash_keyed());
	uint64_t mine[2 * DP_HASH_MAX_WORDS];
	memcpy(mine, dp_hash_key, sizeof(mine));
	assert_int_equal(dp_hash_init(), 0); /* once a process */
	assert_memory_equal(mine, dp_hash_key, sizeof(mine));
	/* Another process (another start of gw-dataplane) drew another. */
	assert_true(child_ok);
	assert_memory_not_equal(mine, child_key, sizeof(mine));

	/* The secret is the hash's: the same key hashes otherwise under
	 * another secret. */
	const uint8_t src[4] = { 192, 168, 1, 10 }, dst[4] = { 198, 51, 100, 7 };
	struct dp_flow_probe a, b;
	dp_flow_probe4(&a, 0, IPPROTO_UDP, src, dst, 5353, 53);
	uint8_t other[DP_HASH_KEY_BYTES];
	for (unsigned i = 0; i < sizeof(other); i++)
		other[i] = (uint8_t)(i * 37 + 1);
	dp_hash_set_key(other);
	dp_flow_probe4(&b, 0, IPPROTO_UDP, src, dst, 5353, 53);
	assert_int_not_equal(a.sig, b.sig);
	/* And it is the one rte_hash uses for the table's own calls. */
	assert_int_equal(dp_hash_rte(&b.key.k4, sizeof(b.key.k4), 0), b.sig);
	memcpy(dp_hash_key, mine, sizeof(mine));
}

/* Steering spreads one vendor's devices (MACs that differ in their last
 * byte only) over the workers under every secret: with two workers, 24
 * such devices all on one would happen once in 2^23 secrets if the
 * steering hash were random; the product's high half it used before put
 * them all on one worker under about one secret in twenty. */
static void test_steer_spread(void **state)
{
	(void)state;
	uint64_t mine[2 * DP_HASH_MAX_WORDS];
	memcpy(mine, dp_hash_key, sizeof(mine));
	unsigned lopsided = 0;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (unsigned k = 0; k < 200; k++) {
		uint8_t secret[DP_HASH_KEY_BYTES];
		for (unsigned i = 0; i < sizeof(secret); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			secret[i] = (uint8_t)(x >> 56);
		}
		dp_hash_set_key(secret);
		unsigned on[2] = { 0, 0 }, on6[2] = { 0, 0 };
		for (unsigned d = 0; d < 24; d++) {
			const uint8_t mac[6] = { 2, 0, 0, 0, 1, (uint8_t)d };
			uint8_t ip6[16] = { 0xfd, 0, 0, 1 };
			ip6[15] = (uint8_t)(0x10 + d);
			on[dp_hash_steer(mac, 6) % 2]++;
			on6[dp_hash_steer(ip6, 16) % 2]++;
		}
		if (!on[0] || !on[1] || !on6[0] || !on6[1])
			lopsided++;
	}
	memcpy(dp_hash_key, mine, sizeof(mine));
	assert_int_equal(lopsided, 0);
}

/* A device's connections to one server, one port counted up each (and
 * the server's replies to one NAT port): the flow table holds them all
 * under every secret.  With the products' high half as the hash (no
 * final mix), such keys had hashes a few apart under about one secret
 * in six and crowded a few buckets: thousands of them evicted each other
 * (a 5 000-flow UDP burst in the lab lost most of its flows). */
static void test_sequential_ports(void **state)
{
	(void)state;
	uint64_t mine[2 * DP_HASH_MAX_WORDS];
	memcpy(mine, dp_hash_key, sizeof(mine));
	static const uint8_t dev[4] = { 192, 168, 1, 10 }, srv[4] = { 203, 0, 113, 80 },
			     wan[4] = { 192, 0, 2, 2 };
	enum { FLOWS = 5000, SECRETS = 24 };
	uint64_t x = 0x243f6a8885a308d3ULL;
	unsigned bad = 0;
	for (unsigned k = 0; k < SECRETS; k++) {
		uint8_t secret[DP_HASH_KEY_BYTES];
		for (unsigned i = 0; i < sizeof(secret); i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			secret[i] = (uint8_t)(x >> 56);
		}
		dp_hash_set_key(secret);
		struct dp_flow_table *t;
		assert_int_equal(dp_flow_table_new("hash_seq", 16384, 0, NULL, NULL, &t), 0);
		for (unsigned i = 0; i < FLOWS; i++) {
			/* Ports as the packet carries them (network order). */
			uint16_t port = htons((uint16_t)(20000 + i)), nat = htons(40000);
			struct dp_flow_key k0 = { .sport = nat, .dport = port, .proto = IPPROTO_UDP,
						  .family = 4, .role = 0 };
			memcpy(k0.src, dev, 4);
			memcpy(k0.dst, srv, 4);
			struct dp_flow_key k1 = { .sport = port, .dport = nat, .proto = IPPROTO_UDP,
						  .family = 4, .role = 1 };
			memcpy(k1.src, srv, 4);
			memcpy(k1.dst, wan, 4);
			uint32_t idx;
			assert_int_equal(dp_flow_insert(t, &k0, &k1, IPPROTO_UDP, 0, &idx), 0);
		}
		struct dp_flow_stats st;
		dp_flow_stats(t, &st);
		if (st.evicted || st.active != FLOWS) {
			print_message("secret %u: %lu evicted, %u active of %u flows\n", k,
				      (unsigned long)st.evicted, (unsigned)st.active, (unsigned)FLOWS);
			bad++;
		}
		dp_flow_table_free(t);
	}
	memcpy(dp_hash_key, mine, sizeof(mine));
	assert_int_equal(bad, 0);
}

static void draw_in_child(void)
{
	int fd[2];
	if (pipe(fd) != 0)
		return;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		int r = dp_hash_init();
		ssize_t w = write(fd[1], dp_hash_key, sizeof(dp_hash_key));
		_exit(r == 0 && w == (ssize_t)sizeof(dp_hash_key) ? 0 : 1);
	}
	close(fd[1]);
	ssize_t n = pid > 0 ? read(fd[0], child_key, sizeof(child_key)) : -1;
	close(fd[0]);
	int st = 0;
	child_ok = pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
		   WEXITSTATUS(st) == 0 && n == (ssize_t)sizeof(child_key);
}

int main(void)
{
	char prefix[64];
	draw_in_child();
	snprintf(prefix, sizeof(prefix), "--file-prefix=gwdp-hash-%d", (int)getpid());
	char *eal[] = { "test_dp_hash", "--no-huge", "-m", "128", "--no-pci", "-l", "0",
			"--log-level", "lib.eal:error", prefix, NULL };
	if (rte_eal_init(9, eal) < 0) {
		return gwtest_cannot_run("EAL cannot start here");
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_collisions),
		cmocka_unit_test(test_secret),
		cmocka_unit_test(test_steer_spread),
		cmocka_unit_test(test_sequential_ports),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rte_eal_cleanup();
	gwtest_remove_dpdk_runtime(prefix + strlen("--file-prefix="));
	return r;
}
