/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's fast path: the common query shape parsed by hand, so that an
 * answer gw-dns has already built with ldns for the same question (a
 * local name, a cached answer) is sent again without ldns.  Issue 15
 * allows this only with its own fuzzer and a differential test against
 * ldns: fuzz_dns_query runs every input through a resolver with and one
 * without the fast path and requires the same bytes, and test_resolver's
 * test_fast_same compares cached answers with TTLs counting down.
 *
 * The shape: a 12-byte header with QR 0, opcode QUERY, TC 0, rcode 0, one
 * question, no answer or authority records, and either no additional
 * record or one OPT (root owner, version 0, extended rcode 0, no
 * options); the question's name in plain labels (no compression), class
 * IN; nothing after.  Anything else goes to ldns.
 */
#ifndef GW_DNS_FAST_H
#define GW_DNS_FAST_H

#include <stddef.h>
#include <stdint.h>

struct gwdns_fastq {
	uint16_t id;
	uint8_t rd, cd;     /* the query's RD and CD bits */
	uint8_t edns;       /* an OPT record came */
	uint16_t udp_size;  /* its size field */
	uint16_t qtype;
	uint8_t qname_len;  /* wire bytes of the name, the root's 0 included */
	const uint8_t *qname;
};

/* 0 when w (len bytes) has the common shape; -EINVAL otherwise. */
int gwdns_fast_parse(const uint8_t *w, size_t len, struct gwdns_fastq *ret);

/*
 * The offsets of the TTL fields of the answer and authority records of a
 * response wire that ldns wrote (names compressed or not); at most max.
 * -EINVAL when it does not walk (or has more than max such records).
 */
int gwdns_fast_ttl_offsets(const uint8_t *w, size_t len, uint16_t *offs, size_t max,
			   size_t *ret_n);

#endif
