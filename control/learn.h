/* SPDX-License-Identifier: MIT */
/*
 * The learned-domain path: how the addresses a DNS answer gave a name
 * reach gwd's table (domains.h) and every enforcement engine.  One entry
 * point, gwd_learn(), called by the API's `domains.learn` (docs/api.md)
 * and by the DNS service's gwd side for every answer it hands a device.
 *
 * One call, on gwd's event loop (not thread-safe; it returns when done):
 *   1. each (name, address) pair goes into gwd's table with the TTL
 *      (learning a known pair renews it; the table keeps at most 65536
 *      pairs, the one that expires first leaves);
 *   2. the running generation's domain sets of the name are found
 *      (pol_domain_sets_of: exact entries and `*.` entries);
 *   3. every engine that keeps domain sets (set_domains) gets every
 *      address of the name with the union of the sets of every learned
 *      name that has that address, expiring with the longest TTL left.
 *      An engine not running the current generation, or one that refuses,
 *      is reported in the result; it gets the pairs again with the next
 *      generation or resync.  Pairs are kept even when no set names them:
 *      a later generation may list the name.
 * The call is logged as one line: event=domains_learn name=... addrs=N
 * ttl=T sets=0x... via=api uid=U | via=dns client=ADDR.
 */
#ifndef GW_CONTROL_LEARN_H
#define GW_CONTROL_LEARN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon.h"

#define GWD_LEARN_MAX_ADDRS 64     /* addresses per call */
#define GWD_LEARN_MAX_TTL 604800   /* seconds: a week */
#define GWD_LEARN_MAX_NAME 253     /* a DNS name's length without the final dot */

/* One address of the answer. */
struct gwd_learn_addr {
	uint8_t family;   /* 4 or 6 */
	uint8_t addr[16]; /* IPv4 in [0..3], the rest ignored */
};

/* Who asked, for the log line. */
struct gwd_learn_who {
	const char *via;         /* what called: "api", "dns" (a plain word) */
	uint32_t uid;            /* via "api": the peer's uid */
	uint8_t client_family;   /* via "dns": the asking client's address (4 or 6), */
	uint8_t client[16];      /* or 0 when there is none */
};

/* What one engine did with the addresses. */
struct gwd_learn_engine {
	const char *name;  /* the engine's (static) */
	bool ok;
	char error[256];   /* !ok: why, e.g. "not running the current generation" */
};

struct gwd_learn_result {
	uint64_t sets;     /* bit s: the running generation's domain set s */
	/* Only engines that keep domain sets, in gwd's engine order; none
	 * when the name has no live address (nothing to hand). */
	size_t nengines;
	struct gwd_learn_engine engines[GWD_MAX_ENGINES];
	size_t nfailed;    /* engines[] with !ok: 0 means every one has them */
	size_t learned;    /* pairs in gwd's table after the call */
};

/*
 * name: a DNS name, any case, an optional final dot, 1..253 bytes.
 * addrs: 1..GWD_LEARN_MAX_ADDRS addresses.  ttl_s: 1..GWD_LEARN_MAX_TTL.
 * who: may be NULL (logged as via=unknown).
 * Returns 0 with *ret filled (engines' refusals are in it, not errors of
 * the call); -EINVAL for an argument out of those bounds (nothing learned);
 * -ENOMEM (pairs learned before it stay, as a later call renews them).
 */
int gwd_learn(struct gwd *d, const char *name, const struct gwd_learn_addr *addrs,
	      size_t naddrs, uint32_t ttl_s, const struct gwd_learn_who *who,
	      struct gwd_learn_result *ret);

#endif
