/* SPDX-License-Identifier: MIT */
/* SHA-256 through OpenSSL's libcrypto (which uses the CPU's SHA
 * instructions where it has them). */
#include "sha256.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gwd_sha256(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	/* Fails only when libcrypto cannot allocate a context: no hash is
	 * better than a wrong one. */
	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32) {
		fprintf(stderr, "gwd: SHA-256 failed (libcrypto)\n");
		abort();
	}
}

void gwd_sha256_hex(const void *data, size_t len, char out[72])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t h[32];
	gwd_sha256(data, len, h);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[h[i] >> 4];
		out[8 + 2 * i] = hex[h[i] & 15];
	}
	out[71] = '\0';
}
