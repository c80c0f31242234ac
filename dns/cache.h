/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's cache of forwarded answers, keyed on (name, type, class) with
 * the name in lower case.  Bounded in bytes: each entry costs its records'
 * wire size plus a fixed overhead for ldns's objects (GWDNS_CACHE_RR_COST
 * per record, GWDNS_CACHE_ENTRY_COST per entry), and when an insert would
 * go past the bound the least recently used entries go first.  An entry
 * lives as long as its shortest TTL (bounded by the configuration's
 * maxima) and its records' TTLs count down on every hit.
 *
 * Positive entries hold the answer section (the CNAME chain and the
 * records asked for); negative ones (NXDOMAIN, NODATA) hold the SOA that
 * came in the authority section, its TTL bounded by its minimum field as
 * RFC 2308 says.  No SOA: not cached.
 */
#ifndef GW_DNS_CACHE_H
#define GW_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#define GWDNS_CACHE_RR_COST    96
#define GWDNS_CACHE_ENTRY_COST 160

struct gwdns_cache;

struct gwdns_cache_stats {
	uint64_t bytes, entries, inserts, evictions;
};

int gwdns_cache_new(size_t max_bytes, uint32_t seed, struct gwdns_cache **ret);
void gwdns_cache_free(struct gwdns_cache *c);

/*
 * Stores an answer for (qname, qtype, qclass) received at now_ms: rcode
 * NOERROR with a non-empty answer list, or NXDOMAIN/NOERROR with an empty
 * one and a SOA in authority.  The lists are copied.  ttl_max bounds
 * positive entries, neg_ttl_max negative ones.  An entry whose TTL is 0,
 * or that costs more than a quarter of the cache, is not stored (0).
 */
int gwdns_cache_put(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype, uint16_t qclass,
		    uint8_t rcode, const ldns_rr_list *answer, const ldns_rr_list *authority,
		    uint32_t ttl_max, uint32_t neg_ttl_max, uint64_t now_ms);

/*
 * The answer for (qname, qtype, qclass) at now_ms: fills resp's rcode and
 * sections with copies whose TTLs have counted down; returns 1, or 0 on a
 * miss (expired entries are removed), or -ENOMEM.
 */
int gwdns_cache_get(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype, uint16_t qclass,
		    uint64_t now_ms, ldns_pkt *resp);
/* As gwdns_cache_get, and on a hit when the entry was stored and when it expires. */
int gwdns_cache_get_times(struct gwdns_cache *c, const ldns_rdf *qname, uint16_t qtype,
			  uint16_t qclass, uint64_t now_ms, ldns_pkt *resp, uint64_t *ret_stored,
			  uint64_t *ret_expire);

void gwdns_cache_flush(struct gwdns_cache *c);
void gwdns_cache_stats(const struct gwdns_cache *c, struct gwdns_cache_stats *ret);

#endif
