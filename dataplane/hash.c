/* SPDX-License-Identifier: MIT */
/* The tables' keyed hash and its secret (see hash.h). */
#include <errno.h>
#include <sys/random.h>

#include "hash.h"

uint64_t dp_hash_key[2 * DP_HASH_MAX_WORDS];

static bool keyed;

/* Each half its own four bytes of the secret: NH needs them independent. */
static void spread(const uint8_t key[DP_HASH_KEY_BYTES])
{
	for (unsigned i = 0; i < 2 * DP_HASH_MAX_WORDS; i++) {
		uint32_t v = 0;
		for (unsigned b = 0; b < 4; b++)
			v |= (uint32_t)key[4 * i + b] << (8 * b);
		dp_hash_key[i] = v;
	}
	keyed = true;
}

int dp_hash_init(void)
{
	uint8_t key[DP_HASH_KEY_BYTES];
	size_t got = 0;
	if (keyed)
		return 0;
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	spread(key);
	return 0;
}

void dp_hash_set_key(const uint8_t key[DP_HASH_KEY_BYTES])
{
	spread(key);
}

bool dp_hash_keyed(void)
{
	return keyed;
}

uint32_t dp_hash_rte(const void *key, uint32_t len, uint32_t init_val)
{
	(void)init_val;
	return dp_hash_bytes(key, len);
}
