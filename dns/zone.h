/* SPDX-License-Identifier: MIT */
/*
 * What gw-dns answers itself, never asking upstream: the household's zone
 * (A, AAAA per device name, SOA and NS at the apex), PTR in the reverse
 * zones of the household's prefixes and of the private and special ranges
 * of RFC 6303, the special names of RFC 6761 and RFC 7686 (localhost,
 * invalid, local, test, onion), resolver.arpa (RFC 9462), and, when
 * enforcement is on, the bypass canaries (use-application-dns.net,
 * mask.icloud.com, mask-h2.icloud.com) as NXDOMAIN.
 *
 * A zone is built whole from a configuration and the household's records,
 * and is immutable afterwards: a new ZONE builds a new one.
 */
#ifndef GW_DNS_ZONE_H
#define GW_DNS_ZONE_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "msg.h"

struct gwdns_zone;

enum gwdns_local {
	GWDNS_LOCAL_NONE = 0,  /* not ours: forward */
	GWDNS_LOCAL_ANSWER,    /* answered from the zone's data */
	GWDNS_LOCAL_CANARY,    /* a bypass canary: NXDOMAIN */
};

int gwdns_zone_new(const struct gwdns_conf *c, const struct gwdns_zrec *recs, size_t n,
		   uint32_t serial, struct gwdns_zone **ret);
void gwdns_zone_free(struct gwdns_zone *z);

/*
 * If qname (as the client wrote it) is local, writes the answer into resp
 * (rcode, AA, the answer, authority and additional sections) and returns
 * its enum gwdns_local; else GWDNS_LOCAL_NONE and resp is untouched.
 * -ENOMEM when building the answer failed.
 */
int gwdns_zone_answer(const struct gwdns_zone *z, const ldns_rdf *qname, ldns_rr_type qtype,
		      ldns_pkt *resp);

/* 1 if addr is in a household prefix (a client range) of z's configuration. */
int gwdns_zone_is_household(const struct gwdns_zone *z, uint8_t family, const uint8_t addr[16]);

/* Records the zone holds (A, AAAA and PTR), for tests and status. */
size_t gwdns_zone_records(const struct gwdns_zone *z);

#endif
