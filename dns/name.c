/* SPDX-License-Identifier: MIT */
/* Wire-format names for the zone's and the cache's keys (see name.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "name.h"

static uint8_t lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

int gwdns_name_to_wire(const char *dotted, uint8_t out[GWDNS_WIRE_MAX])
{
	size_t n = strlen(dotted), o = 0, start = 0, i;

	if (n > 0 && dotted[n - 1] == '.')
		n--;
	if (n == 0) {
		out[0] = 0;
		return 1;
	}
	if (n > 253)
		return -EINVAL;
	for (i = 0; i <= n; i++) {
		if (i == n || dotted[i] == '.') {
			size_t l = i - start, k;

			if (l == 0 || l > 63)
				return -EINVAL;
			out[o++] = (uint8_t)l;
			for (k = start; k < i; k++)
				out[o++] = lower((uint8_t)dotted[k]);
			start = i + 1;
		}
	}
	out[o++] = 0;
	return (int)o;
}

size_t gwdns_wire_lower(const uint8_t *wire, size_t len, uint8_t out[GWDNS_WIRE_MAX])
{
	size_t i = 0;

	if (len > GWDNS_WIRE_MAX)
		len = GWDNS_WIRE_MAX;
	/* Length bytes are at most 63, so lowering them changes nothing. */
	for (i = 0; i < len; i++)
		out[i] = lower(wire[i]);
	return len;
}

size_t gwdns_reverse_wire(uint8_t family, const uint8_t addr[16], uint8_t out[GWDNS_WIRE_MAX])
{
	static const char hex[] = "0123456789abcdef";
	static const uint8_t in_addr[] = "\7in-addr\4arpa";
	static const uint8_t ip6[] = "\3ip6\4arpa";
	size_t o = 0;
	int i;

	if (family == 4) {
		for (i = 3; i >= 0; i--) {
			char b[4];
			int l = snprintf(b, sizeof(b), "%u", addr[i]);

			out[o++] = (uint8_t)l;
			memcpy(out + o, b, (size_t)l);
			o += (size_t)l;
		}
		memcpy(out + o, in_addr, sizeof(in_addr));
		return o + sizeof(in_addr);
	}
	for (i = 15; i >= 0; i--) {
		out[o++] = 1;
		out[o++] = (uint8_t)hex[addr[i] & 0xf];
		out[o++] = 1;
		out[o++] = (uint8_t)hex[addr[i] >> 4];
	}
	memcpy(out + o, ip6, sizeof(ip6));
	return o + sizeof(ip6);
}

int gwdns_reverse_zone(uint8_t family, const uint8_t addr[16], unsigned bits, char out[128])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	if (family == 4) {
		unsigned octets = bits / 8;

		if (octets == 0 || bits > 32)
			return -EINVAL;
		for (i = (int)octets - 1; i >= 0; i--)
			o += (size_t)snprintf(out + o, 128 - o, "%u.", addr[i]);
		snprintf(out + o, 128 - o, "in-addr.arpa");
		return 0;
	}
	if (family != 6 || bits / 4 == 0 || bits > 128)
		return -EINVAL;
	for (i = (int)(bits / 4) - 1; i >= 0; i--) {
		uint8_t b = addr[i / 2];

		out[o++] = hex[(i % 2) ? (b & 0xf) : (b >> 4)];
		out[o++] = '.';
	}
	snprintf(out + o, 128 - o, "ip6.arpa");
	return 0;
}

int gwdns_wire_under(const uint8_t *sub, size_t sublen, const uint8_t *parent, size_t plen)
{
	size_t p = 0;

	if (plen > sublen)
		return 0;
	while (p < sublen) {
		if (sublen - p == plen)
			return memcmp(sub + p, parent, plen) == 0;
		if (sub[p] == 0)
			return 0;
		p += (size_t)sub[p] + 1;
	}
	return 0;
}

uint32_t gwdns_hash(const uint8_t *p, size_t len, uint32_t seed)
{
	/* FNV-1a with a per-process seed mixed in, then a final avalanche. */
	uint32_t h = 2166136261u ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}
