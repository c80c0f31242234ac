/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's counters: one per outcome a query, an upstream answer or a
 * connection can have, so every drop is counted under a named reason.
 * STATS replies carry them all, by these names, in this order.
 */
#ifndef GW_DNS_STATS_H
#define GW_DNS_STATS_H

#include <stdint.h>

#define GWDNS_COUNTERS(X) \
	X(QUERY_UDP, "query.udp") \
	X(QUERY_TCP, "query.tcp") \
	X(ANSWER_LOCAL, "answer.local") \
	X(ANSWER_CACHE, "answer.cache") \
	X(ANSWER_FORWARD, "answer.forward") \
	X(ANSWER_CANARY, "answer.canary") \
	X(ANSWER_TRUNCATED, "answer.truncated") \
	X(REFUSED_CLIENT, "refused.client") \
	X(REFUSED_NOCONFIG, "refused.noconfig") \
	X(REFUSED_QUERY, "refused.query") \
	X(FORMERR, "formerr") \
	X(NOTIMP, "notimp") \
	X(DROP_MALFORMED, "drop.malformed") \
	X(DROP_RATELIMIT, "drop.ratelimit") \
	X(DROP_RESPONSE, "drop.response") \
	X(SERVFAIL_TIMEOUT, "servfail.timeout") \
	X(SERVFAIL_UPSTREAM, "servfail.upstream") \
	X(SERVFAIL_OVERLOAD, "servfail.overload") \
	X(SERVFAIL_REBIND, "servfail.rebind") \
	X(SERVFAIL_ENGINE, "servfail.engine") \
	X(SERVFAIL_HOLD, "servfail.hold") \
	X(HOLD, "hold") \
	X(HOLD_RELEASED, "hold.released") \
	X(LEARN_SENT, "learn.sent") \
	X(POLICY_LOADED, "policy.loaded") \
	X(BLOCKED_DEVICE, "blocked.device") \
	X(UPSTREAM_SENT, "upstream.sent") \
	X(UPSTREAM_TCP, "upstream.tcp") \
	X(UPSTREAM_ANSWER, "upstream.answer") \
	X(UPSTREAM_ERROR, "upstream.error") \
	X(UPSTREAM_RCODE, "upstream.rcode") \
	X(UPSTREAM_DROP_MALFORMED, "upstream.drop.malformed") \
	X(UPSTREAM_DROP_ID, "upstream.drop.id") \
	X(UPSTREAM_DROP_SOURCE, "upstream.drop.source") \
	X(UPSTREAM_DROP_QUESTION, "upstream.drop.question") \
	X(UPSTREAM_DROP_FLAGS, "upstream.drop.flags") \
	X(CACHE_HIT, "cache.hit") \
	X(CACHE_MISS, "cache.miss") \
	X(CACHE_INSERT, "cache.insert") \
	X(CACHE_EVICT, "cache.evict") \
	X(CACHE_BYTES, "cache.bytes") \
	X(CACHE_ENTRIES, "cache.entries") \
	X(PENDING, "upstream.pending") \
	X(TCP_ACCEPT, "tcp.accept") \
	X(TCP_DROP, "tcp.drop") \
	X(CONTROL_ERROR, "control.error")

enum gwdns_counter_id {
#define GWDNS_X(id, name) GWDNS_C_##id,
	GWDNS_COUNTERS(GWDNS_X)
#undef GWDNS_X
	GWDNS_C_COUNT
};

/* The counter's name ("query.udp"), or NULL past the last. */
const char *gwdns_counter_name(unsigned id);

#endif
