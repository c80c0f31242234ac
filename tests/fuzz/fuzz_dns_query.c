/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one datagram from a household client to gw-dns
 * (dns/resolver.c, through ldns), against a configured resolver with a
 * zone.  Every input gets at most one reply; a reply parses, is a
 * response, carries the query's ID and fits the client's UDP size; a
 * query sent upstream parses too.  Pending queries are timed out after
 * every input, so the state stays small; the resolvers are freed at exit.
 *
 * The fast path's differential test (dns/fast.h): each input goes twice
 * to a resolver with the fast path and twice to one without it; the
 * replies must be the same bytes, the second time too (when the first
 * resolver answers from its fast table).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "msg.h"
#include "resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	int n;
	size_t len;
	uint8_t w[65536];
};

static int replies;
static uint64_t now = 1000000;
static struct gwdns_resolver *res, *slow;
static struct out out_fast, out_slow;

static void f_reply(void *io, const struct gwdns_client *c, const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;
	struct out *o = io;

	o->n++;
	o->len = len;
	memcpy(o->w, w, len);
	replies++;
	if (len < 12 || len > 1232 || !(w[2] & 0x80))
		abort();
	if (ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK)
		abort();
	ldns_pkt_free(p);
}

static int f_send(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
		  const uint8_t *w, size_t len)
{
	ldns_pkt *q = NULL;

	if (ldns_wire2pkt(&q, w, len) != LDNS_STATUS_OK || ldns_pkt_qr(q))
		abort();
	ldns_pkt_free(q);
	gwdns_pending_set_io(p, &replies);
	return 0;
}

static void f_cancel(void *io, struct gwdns_pending *p)
{
}

static const struct gwdns_io_ops ops = {
	.reply = f_reply,
	.upstream_send = f_send,
	.upstream_cancel = f_cancel,
};

static void cleanup(void)
{
	gwdns_resolver_free(res);
	gwdns_resolver_free(slow);
}

static void setup(void)
{
	struct gwdns_conf c;
	struct gwdns_zrec recs[2] = {
		{ .name = "laptop.home.arpa", .family = 4, .addr = { 10, 0, 0, 10 } },
		{ .name = "tv.new.home.arpa", .family = 6, .addr = { 0xfd, 0, [15] = 1 } },
	};

	memset(&c, 0, sizeof(c));
	c.flags = GWDNS_CONF_ENFORCE | GWDNS_CONF_REBIND;
	c.cache_bytes = 1 << 16;
	c.ttl_max = 86400;
	c.neg_ttl_max = 900;
	c.rate_qps = 1000000;
	c.rate_burst = 1000000;
	c.max_outstanding = 64;
	c.timeout_ms = 100;
	c.zone_ttl = 60;
	strcpy(c.zone, "home.arpa");
	c.n_upstreams = 1;
	c.upstreams[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 32, .port = 53, .addr = { 192, 0, 2, 1 } };
	c.n_clients = 1;
	c.clients[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 8, .addr = { 10 } };
	{
		struct gwdns_conf c2 = c;

		if (gwdns_resolver_new(&ops, &out_fast, &res) < 0 || gwdns_resolver_configure(res, &c) < 0 ||
		    gwdns_resolver_set_zone(res, recs, 2) < 0)
			abort();
		if (gwdns_resolver_new(&ops, &out_slow, &slow) < 0 || gwdns_resolver_configure(slow, &c2) < 0 ||
		    gwdns_resolver_set_zone(slow, recs, 2) < 0)
			abort();
		gwdns_resolver_set_fast(slow, 0);
	}
	atexit(cleanup);
}

/* The same input to both resolvers: the same replies. */
static void both(const struct gwdns_client *cl, const uint8_t *data, size_t size)
{
	out_fast.n = out_slow.n = 0;
	gwdns_resolver_query(res, cl, data, size, now);
	gwdns_resolver_query(slow, cl, data, size, now);
	if (out_fast.n != out_slow.n)
		abort();
	if (out_fast.n && (out_fast.len != out_slow.len || memcmp(out_fast.w, out_slow.w, out_fast.len) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gwdns_client cl;
	struct sockaddr_in *s = (struct sockaddr_in *)&cl.addr;

	if (!res)
		setup();
	memset(&cl, 0, sizeof(cl));
	s->sin_family = AF_INET;
	s->sin_port = htons(40000);
	s->sin_addr.s_addr = htonl(0x0a000005);
	cl.addrlen = sizeof(*s);
	replies = 0;
	both(&cl, data, size);
	if (replies > 2)
		abort();
	both(&cl, data, size);
	/* Whatever went upstream times out now (3 tries), with one SERVFAIL each at most. */
	for (int i = 0; i < 3; i++) {
		now += 1000;
		gwdns_resolver_tick(res, now);
		gwdns_resolver_tick(slow, now);
	}
	if (replies > 6)
		abort();
	return 0;
}
