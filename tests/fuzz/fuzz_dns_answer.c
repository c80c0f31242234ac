/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: an upstream's answer as gw-dns takes it
 * (dns/resolver.c: matching, ldns's parse, the scrub, rebinding, the
 * cache).  Input: byte 0 picks the question (name and type), the rest is
 * the answer, its ID set to the pending query's so it gets past the first
 * check, from the upstream's address.  Then the same question is asked
 * again.  Whatever the answer held, a client never gets a record whose
 * owner is not the question's name or a CNAME target of the chain, nor an
 * address of a private range (rebinding protection is on), and at most
 * one reply per query.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "msg.h"
#include "resolver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replies;
static uint16_t sent_id;
static int sent;

static int private4(const uint8_t *a)
{
	return a[0] == 10 || a[0] == 127 || a[0] == 0 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
	       (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 100 && (a[1] & 0xc0) == 64);
}

static void check_reply(const uint8_t *w, size_t len)
{
	ldns_pkt *p = NULL;
	ldns_rr_list *ans;
	const ldns_rdf *allowed[16];
	size_t nallowed = 0, i, k;

	if (ldns_wire2pkt(&p, w, len) != LDNS_STATUS_OK || ldns_rr_list_rr_count(ldns_pkt_question(p)) != 1)
		abort();
	allowed[nallowed++] = ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0));
	ans = ldns_pkt_answer(p);
	for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);
		int ok = 0;

		for (k = 0; k < nallowed && !ok; k++)
			ok = ldns_dname_compare(ldns_rr_owner(rr), allowed[k]) == 0;
		if (!ok)
			abort();
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && nallowed < 16 && ldns_rr_rdf(rr, 0))
			allowed[nallowed++] = ldns_rr_rdf(rr, 0);
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rr_rdf(rr, 0) &&
		    ldns_rdf_size(ldns_rr_rdf(rr, 0)) == 4 && private4(ldns_rdf_data(ldns_rr_rdf(rr, 0))))
			abort();
	}
	ldns_pkt_free(p);
}

static void f_reply(void *io, const struct gwdns_client *c, const uint8_t *w, size_t len)
{
	replies++;
	check_reply(w, len);
}

static int f_send(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
		  const uint8_t *w, size_t len)
{
	sent_id = (uint16_t)(w[0] << 8 | w[1]);
	sent++;
	*(struct gwdns_pending **)io = p;
	gwdns_pending_set_io(p, io);
	return 0;
}

static void f_cancel(void *io, struct gwdns_pending *p)
{
	if (*(struct gwdns_pending **)io == p)
		*(struct gwdns_pending **)io = NULL;
}

static const struct gwdns_io_ops ops = {
	.reply = f_reply,
	.upstream_send = f_send,
	.upstream_cancel = f_cancel,
};

static void ask(struct gwdns_resolver *r, const char *name, ldns_rr_type type, uint64_t now)
{
	ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
	struct gwdns_client cl;
	struct sockaddr_in *s = (struct sockaddr_in *)&cl.addr;
	uint8_t *w;
	size_t len;

	memset(&cl, 0, sizeof(cl));
	s->sin_family = AF_INET;
	s->sin_port = htons(40000);
	s->sin_addr.s_addr = htonl(0x0a000005);
	cl.addrlen = sizeof(*s);
	ldns_pkt_set_edns_udp_size(q, 1232);
	if (ldns_pkt2wire(&w, q, &len) != LDNS_STATUS_OK)
		abort();
	gwdns_resolver_query(r, &cl, w, len, now);
	free(w);
	ldns_pkt_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "www.example.com.", "a.b.example.", "example.", "x.test.example." };
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME,
					      LDNS_RR_TYPE_MX, LDNS_RR_TYPE_TXT, LDNS_RR_TYPE_SOA,
					      LDNS_RR_TYPE_PTR, LDNS_RR_TYPE_NS };
	struct gwdns_resolver *r;
	struct gwdns_pending *pending = NULL;
	struct gwdns_conf c;
	struct sockaddr_in up;
	uint8_t buf[65536];
	const char *name;
	ldns_rr_type type;

	if (size < 1 || size > sizeof(buf) + 1)
		return 0;
	name = names[data[0] & 3];
	type = types[(data[0] >> 2) & 7];
	memset(&c, 0, sizeof(c));
	c.flags = GWDNS_CONF_REBIND;
	c.cache_bytes = 1 << 16;
	c.ttl_max = 86400;
	c.neg_ttl_max = 900;
	c.rate_qps = 1000;
	c.rate_burst = 1000;
	c.max_outstanding = 4;
	c.timeout_ms = 100;
	c.zone_ttl = 60;
	strcpy(c.zone, "home.arpa");
	c.n_upstreams = 1;
	c.upstreams[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 32, .port = 53, .addr = { 192, 0, 2, 1 } };
	c.n_clients = 1;
	c.clients[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 8, .addr = { 10 } };
	if (gwdns_resolver_new(&ops, &pending, &r) < 0)
		return 0;
	if (gwdns_resolver_configure(r, &c) < 0)
		goto out;
	replies = sent = 0;
	ask(r, name, type, 1000);
	if (sent != 1 || !pending)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (size - 1 >= 2) {
		buf[0] = (uint8_t)(sent_id >> 8);
		buf[1] = (uint8_t)sent_id;
	}
	memset(&up, 0, sizeof(up));
	up.sin_family = AF_INET;
	up.sin_port = htons(53);
	up.sin_addr.s_addr = htonl(0xc0000201);
	gwdns_resolver_upstream_input(r, pending, (struct sockaddr *)&up, sizeof(up), buf, size - 1, 1000);
	if (replies > 1)
		abort();
	/* Again: from the cache, or upstream once more. */
	replies = 0;
	ask(r, name, type, 2000);
	if (replies > 1)
		abort();
out:
	gwdns_resolver_free(r);
	return 0;
}
