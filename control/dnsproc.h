/* SPDX-License-Identifier: MIT */
/*
 * gwd's side of the DNS service (docs/dns.md): it opens the port-53
 * sockets on gwd.conf's dns_listen addresses (root's job), starts gw-dns
 * with them and one end of a socketpair, restarts it when it dies, and
 * speaks dns/proto.h to it: CONFIG, ZONE and POLICY out, LEARN in (each
 * LEARN goes through gwd_learn, learn.h, before its reply releases the
 * held answer).
 *
 * Restarts: at once after the first exit, then after 1, 2, 4 ... 30 s
 * while it keeps dying within 60 s of its start.  The sockets stay open in
 * gwd across restarts, so the port never goes to anyone else.
 */
#ifndef GW_CONTROL_DNSPROC_H
#define GW_CONTROL_DNSPROC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct event_base;
struct gwd;
struct gwd_config;
struct pol_ir;
struct gwd_dns;

/* One name of the household's zone and one of its addresses. */
struct gwd_dns_record {
	char name[128]; /* relative to the zone: "laptop", "android-5f2a.new" */
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
};

/* Starts the service (cfg->dns set); err says why not.  0 or -errno. */
int gwd_dns_new(struct event_base *base, const struct gwd_config *cfg, struct gwd *d,
		struct gwd_dns **ret, char *err, size_t errlen);
/* Stops gw-dns (closing its socket ends it) and frees everything. */
void gwd_dns_free(struct gwd_dns *s);

/* The current generation changed: its image (the policy's domain lists) and zone. */
void gwd_dns_policy(struct gwd_dns *s, const void *image, size_t size, const struct pol_ir *ir);

/*
 * The household's names: replaces every record (the identity registry
 * calls this whenever a device's name or addresses change).  Copied.
 */
int gwd_dns_set_records(struct gwd_dns *s, const struct gwd_dns_record *v, size_t n);

/* Which device uses which address: (MAC, address) pairs, replaced whole (the registry's call). */
struct gwd_dns_client {
	uint8_t mac[6];
	uint8_t family;
	uint8_t addr[16];
};
int gwd_dns_set_clients(struct gwd_dns *s, const struct gwd_dns_client *v, size_t n);

/*
 * gw-dns's counters (dns/stats.h), asked with STATS: cb gets them once,
 * as gw-dns names them (names NUL-terminated), or n = 0 and err (-errno)
 * when no answer comes: gw-dns refused, sent a malformed reply, died or
 * was stopped, or gwd_dns_stats_cancel was called (then cb is not
 * called).  One request at a time: -EBUSY while one is out, -ENOTCONN
 * when gw-dns is not running (cb is not called then).
 */
struct gwdns_counter;
typedef void (*gwd_dns_stats_fn)(const struct gwdns_counter *v, size_t n, int err, void *arg);
int gwd_dns_stats(struct gwd_dns *s, gwd_dns_stats_fn cb, void *arg);
/*
 * A STATS reply's body from gw-dns (untrusted: checked whole): struct
 * gwdns_reply, then with status 0 the head and exactly count (at most
 * 1024) counters, each name NUL-terminated.  *ret_v points into body.
 * 0; gw-dns's own -errno (status); -EBADMSG for anything else, and then
 * *ret_v and *ret_n are untouched.
 */
int gwd_dns_stats_reply(const uint8_t *body, size_t len, const struct gwdns_counter **ret_v,
			size_t *ret_n);
void gwd_dns_stats_cancel(struct gwd_dns *s);

/* {"state": "running"|"restarting"|"stopped", "pid", "restarts", "last_exit", "records"} */
json_t *gwd_dns_status(const struct gwd_dns *s);

#endif
