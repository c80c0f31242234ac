/* SPDX-License-Identifier: MIT */
/*
 * Checking and decoding the messages of dns/proto.h, and encoding them
 * (gwd's side and the tests use the encoders).  No I/O, no logging: the
 * unit tests and fuzz_dns_proto run it as it is.
 */
#ifndef GW_DNS_MSG_H
#define GW_DNS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define GWDNS_DEFAULT_CACHE (4u << 20)

/* A CONFIG, checked, with its defaults filled in. */
struct gwdns_conf {
	uint32_t flags;
	uint32_t cache_bytes, ttl_max, neg_ttl_max;
	uint32_t rate_qps, rate_burst, max_outstanding, timeout_ms, zone_ttl;
	uint32_t block_mode;
	char zone[GWDNS_NAME_MAX]; /* lower case, no trailing dot */
	struct gwdns_prefix upstreams[GWDNS_UPSTREAM_MAX];
	struct gwdns_prefix clients[GWDNS_PREFIX_MAX];
	struct gwdns_prefix self[GWDNS_PREFIX_MAX];
	unsigned n_upstreams, n_clients, n_self, n_allow;
	char (*allow)[GWDNS_NAME_MAX]; /* lower case, no trailing dot; malloc'd */
};

/* A ZONE's record, checked: name is the full name, lower case, no dot at the end. */
struct gwdns_zrec {
	char name[GWDNS_NAME_MAX];
	uint8_t family;
	uint8_t addr[16];
};

/*
 * The header at buf (len bytes available, at least sizeof(struct
 * gwdns_hdr)): 0 if it frames a message, else the -errno of proto.h's
 * "Errors" (after which the stream cannot be read on).
 */
int gwdns_msg_check_hdr(const struct gwdns_hdr *h);

/* CONFIG's body into *ret (its allow list malloc'd: gwdns_conf_clear). */
int gwdns_conf_decode(const uint8_t *body, size_t len, struct gwdns_conf *ret);
void gwdns_conf_clear(struct gwdns_conf *c);

/* ZONE's body under zone (a decoded conf's zone); *ret malloc'd, NULL when empty. */
int gwdns_zone_decode(const uint8_t *body, size_t len, const char *zone,
		      struct gwdns_zrec **ret, size_t *ret_n);

/*
 * name as a DNS name: labels of 1-63 bytes of letters, digits, '-' and '_'
 * joined by single dots, 253 bytes at most, no trailing dot; written in
 * lower case to out (GWDNS_NAME_MAX bytes).  "" is the root, allowed only
 * when allow_root.
 */
int gwdns_name_normalize(const char *name, int allow_root, char out[GWDNS_NAME_MAX]);

/*
 * LEARN's body: *ret and addrs (GWDNS_LEARN_ADDRS entries of room) filled
 * when the name is a normalized name, the TTL in bounds, 1..GWDNS_LEARN_ADDRS
 * addresses of family 4 or 6 and the length exact; else -EINVAL.
 */
int gwdns_learn_decode(const uint8_t *body, size_t len, struct gwdns_learn *ret,
		       struct gwdns_learn_addr *addrs);

/* CLIENTS's body: *ret malloc'd (NULL when empty); families 4/6, unicast MACs; else -EINVAL. */
int gwdns_clients_decode(const uint8_t *body, size_t len, struct gwdns_client_map **ret,
			 size_t *ret_n);

/* Writes a header for a message of type and length to h. */
void gwdns_msg_hdr(struct gwdns_hdr *h, uint16_t type, uint32_t length, uint64_t id);

#endif
