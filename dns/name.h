/* SPDX-License-Identifier: MIT */
/*
 * DNS names as gw-dns keys them: uncompressed wire format (length-prefixed
 * labels ending with the root's zero byte), ASCII letters in lower case,
 * so that one memcmp decides equality as DNS does (RFC 4343).
 */
#ifndef GW_DNS_NAME_H
#define GW_DNS_NAME_H

#include <stddef.h>
#include <stdint.h>

#define GWDNS_WIRE_MAX 255

/* A dotted name ("laptop.home.arpa", "" for the root; no escapes) into wire in lower case: its length, or -EINVAL. */
int gwdns_name_to_wire(const char *dotted, uint8_t out[GWDNS_WIRE_MAX]);

/* wire (len bytes, a well-formed name) lowered into out; returns len. */
size_t gwdns_wire_lower(const uint8_t *wire, size_t len, uint8_t out[GWDNS_WIRE_MAX]);

/* The name for addr's PTR record (in-addr.arpa or ip6.arpa) in wire form; its length. */
size_t gwdns_reverse_wire(uint8_t family, const uint8_t addr[16], uint8_t out[GWDNS_WIRE_MAX]);

/* The reverse zone covering the first bits of addr (rounded down to an octet or nibble), dotted; 0 or -EINVAL when none (bits too short). */
int gwdns_reverse_zone(uint8_t family, const uint8_t addr[16], unsigned bits, char out[128]);

/* 1 if sub (wire) is parent or below it, at a label boundary. */
int gwdns_wire_under(const uint8_t *sub, size_t sublen, const uint8_t *parent, size_t plen);

/* A 32-bit hash of len bytes. */
uint32_t gwdns_hash(const uint8_t *p, size_t len, uint32_t seed);

#endif
