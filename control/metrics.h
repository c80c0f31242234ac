/* SPDX-License-Identifier: MIT */
/*
 * gwd's metrics (docs/metrics.md): Prometheus text format (version 0.0.4)
 * over HTTP on a loopback address (gwd.conf's `metrics`), from libevent's
 * evhttp on gwd's loop.  GET /metrics renders what gwd holds at that
 * moment: per-device packets and bytes by direction (the flow collector),
 * per-rule packets and bytes (observe.h), each engine's packets, drops
 * and punts by reason (its counters op), live flows, generations and
 * apply durations; with the DNS service, gw-dns's counters (a STATS
 * request per scrape, shared by the scrapes meanwhile, awaited at most
 * 1 s: then gw_dns_up 0).  Anything else is 404; methods other than GET and HEAD
 * are refused.
 */
#ifndef GW_CONTROL_METRICS_H
#define GW_CONTROL_METRICS_H

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "daemon.h"

struct gwd_metrics;

/* Listens on cfg->metrics_addr:metrics_port; *ret NULL (and 0) when the
 * config sets no metrics.  -errno with a reason in err. */
int gwd_metrics_new(struct event_base *base, struct gwd *d, const struct gwd_config *cfg,
		    struct gwd_metrics **ret, char *err, size_t errlen);
void gwd_metrics_free(struct gwd_metrics *m);

/* The page itself, appended to out (for the server and the tests):
 * without the DNS service's part, */
int gwd_metrics_render(struct gwd *d, struct evbuffer *out);
/* and with it when gwd runs the DNS service: gw_dns_up, and gw-dns's
 * counters v (n of them, from gwd_dns_stats; NULL: it did not answer). */
struct gwdns_counter;
int gwd_metrics_render_dns(struct gwd *d, const struct gwdns_counter *v, size_t n,
			   struct evbuffer *out);
/* The family index a gw-dns counter's name (dns/stats.h) goes to, or -1
 * for none (it would be gw_dns_other_total): a test holds every counter
 * gw-dns has to a family of its own. */
int gwd_metrics_dns_family(const char *name);

#endif
