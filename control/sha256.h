/* SPDX-License-Identifier: MIT */
/* SHA-256 (FIPS 180-4), for the content hash of each generation. */
#ifndef GW_CONTROL_SHA256_H
#define GW_CONTROL_SHA256_H

#include <stddef.h>
#include <stdint.h>

void gwd_sha256(const void *data, size_t len, uint8_t out[32]);
/* "sha256:" and 64 lowercase hex digits, NUL-terminated (72 bytes). */
void gwd_sha256_hex(const void *data, size_t len, char out[72]);

#endif
