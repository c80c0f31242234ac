/* SPDX-License-Identifier: MIT */
/*
 * Internet checksums: the full one (RFC 1071) and incremental updates
 * (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')), on 16-bit words in network
 * byte order as they sit in the packet.  No DPDK here.
 */
#ifndef GW_DATAPLANE_CKSUM_H
#define GW_DATAPLANE_CKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One's complement sum of len bytes at p, added to sum, not folded. */
static inline uint32_t dp_csum_partial(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;
	while (len > 1) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static inline uint16_t dp_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The checksum to store, host order (write it big-endian). */
static inline uint16_t dp_csum(const void *p, size_t len)
{
	return dp_csum_fold(dp_csum_partial(p, len, 0));
}

static inline uint16_t dp_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t dp_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void dp_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* RFC 1624: the checksum field at csum (big-endian in the packet) after one
 * 16-bit word changed from old to new (host order values). */
static inline void dp_csum_update16(uint8_t *csum, uint16_t old, uint16_t new)
{
	uint32_t sum = (uint16_t)~dp_get16(csum);
	sum += (uint16_t)~old;
	sum += new;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	dp_put16(csum, (uint16_t)~sum);
}

/* The same for n bytes (n even) replaced at once: an address. */
static inline void dp_csum_update(uint8_t *csum, const uint8_t *old, const uint8_t *new,
				  size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		dp_csum_update16(csum, dp_get16(old + i), dp_get16(new + i));
}

/* UDP over IPv4 may carry no checksum (0); an updated 0 is sent as 0xffff. */
static inline void dp_udp_csum_update(uint8_t *csum, const uint8_t *old, const uint8_t *new,
				      size_t n)
{
	if (dp_get16(csum) == 0)
		return;
	dp_csum_update(csum, old, new, n);
	if (dp_get16(csum) == 0)
		dp_put16(csum, 0xffff);
}

#endif
