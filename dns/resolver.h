/* SPDX-License-Identifier: MIT */
/*
 * gw-dns's resolver: what it does with a client's query and with an
 * upstream's answer, with no I/O of its own.  The I/O layer (server.c, or
 * a test, or a fuzzer) hands it bytes and the time, and it answers through
 * struct gwdns_io_ops.  Every query gets exactly one reply or a counted
 * drop; every upstream datagram is an answer to a pending query or a
 * counted drop, and is never cached or forwarded to a client unless it
 * matched the query in source, ID and question.
 *
 * Order of checks on a query: too short or a response (drop), the
 * client's rate (drop), a household address (else REFUSED), a
 * configuration (else REFUSED), parse (FORMERR), opcode (NOTIMP), one
 * question of class IN and no zone transfer (FORMERR, REFUSED), EDNS
 * version 0 (BADVERS); then local names, the cache, and upstream.
 */
#ifndef GW_DNS_RESOLVER_H
#define GW_DNS_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msg.h"
#include "stats.h"

#define GWDNS_UPSTREAM_TRIES 3   /* tries of one query, across the upstreams, before SERVFAIL */
#define GWDNS_EDNS_SIZE      1232 /* the EDNS0 buffer gw-dns offers and asks for */
#define GWDNS_WAITERS_MAX    32   /* clients waiting on one upstream query */
#define GWDNS_RATE_SLOTS     4096 /* clients whose rate is tracked */

struct gwdns_resolver;
struct gwdns_pending;

struct gwdns_client {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int fd;        /* UDP: the socket the query came on */
	uint64_t conn; /* TCP: the connection's id; 0 for UDP */
};

struct gwdns_io_ops {
	/* An answer for a client.  Over TCP the I/O layer adds the length. */
	void (*reply)(void *io, const struct gwdns_client *c, const uint8_t *wire, size_t len);
	/*
	 * Sends a query for p to up (UDP from a fresh socket on a random
	 * port, or TCP); the I/O layer later calls gwdns_resolver_upstream_input
	 * or _error for p, unless cancelled first.  0 or -errno.
	 */
	int (*upstream_send)(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
			     const uint8_t *wire, size_t len);
	/* p's socket is no longer wanted (answered, timed out, or retried). */
	void (*upstream_cancel)(void *io, struct gwdns_pending *p);
	/* An event worth a log line ("rebind", name), or NULL. */
	void (*event)(void *io, const char *event, const char *detail);
	/*
	 * Sends LEARN (dns/proto.h) for the answer held under hold_id; the
	 * I/O layer later calls gwdns_resolver_learned with hold_id.  NULL, or
	 * -errno: the answer is not released (SERVFAIL).
	 */
	int (*learn)(void *io, uint64_t hold_id, const struct gwdns_learn *l,
		     const struct gwdns_learn_addr *addrs);
	/* A device got the block answer for name; rule is the deciding rule's name. NULL, or a log line. */
	void (*blocked)(void *io, const char *device, const char *rule, const char *name);
};

int gwdns_resolver_new(const struct gwdns_io_ops *ops, void *io, struct gwdns_resolver **ret);
void gwdns_resolver_free(struct gwdns_resolver *r);

/* Takes c over (also on failure).  Keeps the zone's records; 0 or -errno. */
int gwdns_resolver_configure(struct gwdns_resolver *r, struct gwdns_conf *c);
/* Replaces the household's records; -ENOENT before any configuration. */
int gwdns_resolver_set_zone(struct gwdns_resolver *r, const struct gwdns_zrec *recs, size_t n);

void gwdns_resolver_query(struct gwdns_resolver *r, const struct gwdns_client *c,
			  const uint8_t *wire, size_t len, uint64_t now_ms);
void gwdns_resolver_upstream_input(struct gwdns_resolver *r, struct gwdns_pending *p,
				   const struct sockaddr *from, socklen_t fromlen,
				   const uint8_t *wire, size_t len, uint64_t now_ms);
void gwdns_resolver_upstream_error(struct gwdns_resolver *r, struct gwdns_pending *p, int err,
				   uint64_t now_ms);
/* Times out pending queries; call it every GWDNS_TICK_MS or so. */
void gwdns_resolver_tick(struct gwdns_resolver *r, uint64_t now_ms);
#define GWDNS_TICK_MS 50

/*
 * Loads the policy's compiled image (its domain lists decide which answers
 * are held for LEARN); NULL/0 for none.  -EINVAL when it does not load
 * (the previous one stays).
 */
int gwdns_resolver_set_policy(struct gwdns_resolver *r, const void *image, size_t len);

/* Replaces the address -> device (MAC) map (CLIENTS).  Copied; 0 or -ENOMEM. */
int gwdns_resolver_set_clients(struct gwdns_resolver *r, const struct gwdns_client_map *v, size_t n);

/* gwd's reply to a LEARN: status 0 and failed 0 release the answer. */
void gwdns_resolver_learned(struct gwdns_resolver *r, uint64_t hold_id, int status,
			    uint32_t failed, uint64_t now_ms);

/* The fast path (dns/fast.h) on (default) or off: for the differential tests. */
void gwdns_resolver_set_fast(struct gwdns_resolver *r, int on);

/* Drops a TCP client's waits (its connection closed). */
void gwdns_resolver_forget_conn(struct gwdns_resolver *r, uint64_t conn);

void gwdns_resolver_counters(const struct gwdns_resolver *r, uint64_t out[GWDNS_C_COUNT]);
/* Counts one event of the I/O layer's own (tcp.accept, tcp.drop, control.error). */
void gwdns_resolver_count(struct gwdns_resolver *r, enum gwdns_counter_id id);
/* The configured zone ("home.arpa"), or NULL before the first CONFIG. */
const char *gwdns_resolver_zone(const struct gwdns_resolver *r);

/* The I/O layer's own pointer for p (its socket). */
void gwdns_pending_set_io(struct gwdns_pending *p, void *io);
void *gwdns_pending_io(const struct gwdns_pending *p);

#endif
