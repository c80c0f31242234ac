/* SPDX-License-Identifier: MIT */
/*
 * The resolver (dns/resolver.c) driven directly, with a recording I/O
 * layer: what a client gets, what goes upstream, and above all what a
 * hostile upstream cannot do (answers from the wrong source, with the
 * wrong ID or question, compression loops, cut records, records of other
 * names, private addresses): each is dropped, counted, and changes no
 * cache entry; the real answer still gets through.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "cache.h"
#include "msg.h"
#include "policy.h"
#include "resolver.h"

struct fake {
	uint8_t reply[65536];
	size_t reply_len;
	int replies;
	struct gwdns_pending *p;
	uint8_t up[4096];
	size_t up_len;
	int sent, tcp, cancels;
	int fail_send;
	int learns;
	uint64_t hold_id;
	struct gwdns_learn learn;
	struct gwdns_learn_addr addrs[GWDNS_LEARN_ADDRS];
};

static void f_reply(void *io, const struct gwdns_client *c, const uint8_t *w, size_t len)
{
	struct fake *f = io;

	memcpy(f->reply, w, len);
	f->reply_len = len;
	f->replies++;
}

static int f_send(void *io, struct gwdns_pending *p, const struct gwdns_prefix *up, int tcp,
		  const uint8_t *w, size_t len)
{
	struct fake *f = io;

	if (f->fail_send)
		return -ENETUNREACH;
	f->p = p;
	memcpy(f->up, w, len);
	f->up_len = len;
	f->sent++;
	f->tcp = tcp;
	gwdns_pending_set_io(p, f);
	return 0;
}

static void f_cancel(void *io, struct gwdns_pending *p)
{
	struct fake *f = io;

	f->cancels++;
	if (f->p == p)
		f->p = NULL;
}

static int f_learn(void *io, uint64_t hold_id, const struct gwdns_learn *l,
		   const struct gwdns_learn_addr *addrs)
{
	struct fake *f = io;

	f->learns++;
	f->hold_id = hold_id;
	f->learn = *l;
	memcpy(f->addrs, addrs, l->naddrs * sizeof(*addrs));
	return 0;
}

static const struct gwdns_io_ops ops = {
	.reply = f_reply,
	.upstream_send = f_send,
	.upstream_cancel = f_cancel,
	.learn = f_learn,
};

/* A policy whose list `social` holds *.social.example. */
static const char policy_text[] =
	"device kid mac 02:00:00:00:00:01\n"
	"device adult mac 02:00:00:00:00:02\n"
	"list social domains { *.social.example }\n"
	"list games domains { *.games.example }\n"
	"rule no-social block device kid to list social\n"
	"rule no-web-games block device kid to list games proto tcp port 443\n"
	"default allow\n"
	"default new block\n";

static void load_policy(struct gwdns_resolver *r)
{
	struct pol_unit *u = NULL;
	const void *img;
	size_t size;

	assert_int_equal(pol_compile("t.gw", policy_text, strlen(policy_text), POL_F_NO_FILES, &u), 0);
	assert_int_equal(pol_unit_errors(u), 0);
	assert_int_equal(pol_unit_image(u, &img, &size), 0);
	assert_int_equal(gwdns_resolver_set_policy(r, img, size), 0);
	pol_unit_free(u);
}

struct ctx {
	struct fake f;
	struct gwdns_resolver *r;
	uint64_t now;
};

static struct gwdns_client client(const char *addr)
{
	struct gwdns_client c;
	struct sockaddr_in *s = (struct sockaddr_in *)&c.addr;

	memset(&c, 0, sizeof(c));
	s->sin_family = AF_INET;
	s->sin_port = htons(5353);
	inet_pton(AF_INET, addr, &s->sin_addr);
	c.addrlen = sizeof(*s);
	return c;
}

static struct sockaddr_in upstream_sa(const char *addr, uint16_t port)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_port = htons(port);
	inet_pton(AF_INET, addr, &s.sin_addr);
	return s;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct gwdns_conf conf;
	struct gwdns_zrec rec = { .name = "laptop.home.arpa", .family = 4, .addr = { 10, 0, 0, 10 } };

	memset(&conf, 0, sizeof(conf));
	conf.flags = GWDNS_CONF_ENFORCE | GWDNS_CONF_REBIND;
	conf.cache_bytes = 1 << 20;
	conf.ttl_max = 86400;
	conf.neg_ttl_max = 900;
	conf.rate_qps = 10;
	conf.rate_burst = 20;
	conf.max_outstanding = 4;
	conf.timeout_ms = 500;
	conf.zone_ttl = 60;
	strcpy(conf.zone, "home.arpa");
	conf.n_upstreams = 1;
	conf.upstreams[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 32, .port = 53,
						   .addr = { 192, 0, 2, 53 } };
	conf.n_clients = 1;
	conf.clients[0] = (struct gwdns_prefix){ .family = 4, .prefix_len = 24, .addr = { 10, 0, 0, 0 } };
	assert_int_equal(gwdns_resolver_new(&ops, &c->f, &c->r), 0);
	assert_int_equal(gwdns_resolver_configure(c->r, &conf), 0);
	assert_int_equal(gwdns_resolver_set_zone(c->r, &rec, 1), 0);
	c->now = 1000000;
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	gwdns_resolver_free(c->r);
	free(c);
	return 0;
}

static uint64_t ctr(struct ctx *c, enum gwdns_counter_id id)
{
	uint64_t v[GWDNS_C_COUNT];

	gwdns_resolver_counters(c->r, v);
	return v[id];
}

/* A client's query for name/type from addr with id. */
static void ask(struct ctx *c, const char *from, const char *name, ldns_rr_type type, uint16_t id)
{
	ldns_pkt *q = ldns_pkt_query_new(ldns_dname_new_frm_str(name), type, LDNS_RR_CLASS_IN, LDNS_RD);
	struct gwdns_client cl = client(from);
	uint8_t *w;
	size_t len;

	ldns_pkt_set_id(q, id);
	assert_int_equal(ldns_pkt2wire(&w, q, &len), LDNS_STATUS_OK);
	gwdns_resolver_query(c->r, &cl, w, len, c->now);
	free(w);
	ldns_pkt_free(q);
}

static ldns_pkt *last_reply(struct ctx *c)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, c->f.reply, c->f.reply_len), LDNS_STATUS_OK);
	return p;
}

/* The upstream's answer to the last query sent, with the given answer records (text). */
static ldns_pkt *upstream_answer(struct ctx *c, ldns_pkt_rcode rcode, const char *const *rrs)
{
	ldns_pkt *q = NULL, *a;
	size_t i;

	assert_int_equal(ldns_wire2pkt(&q, c->f.up, c->f.up_len), LDNS_STATUS_OK);
	a = ldns_pkt_clone(q);
	ldns_pkt_free(q);
	ldns_pkt_set_qr(a, true);
	ldns_pkt_set_ra(a, true);
	ldns_pkt_set_rcode(a, rcode);
	for (i = 0; rrs && rrs[i]; i++) {
		ldns_rr *rr = NULL;
		int sect = strncmp(rrs[i], "AUTH ", 5) == 0;

		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i] + (sect ? 5 : 0), 0, NULL, NULL),
				 LDNS_STATUS_OK);
		ldns_pkt_push_rr(a, sect ? LDNS_SECTION_AUTHORITY : LDNS_SECTION_ANSWER, rr);
	}
	return a;
}

static void deliver(struct ctx *c, ldns_pkt *a, const char *src, uint16_t port)
{
	struct sockaddr_in s = upstream_sa(src, port);
	uint8_t *w;
	size_t len;

	assert_int_equal(ldns_pkt2wire(&w, a, &len), LDNS_STATUS_OK);
	gwdns_resolver_upstream_input(c->r, c->f.p, (struct sockaddr *)&s, sizeof(s), w, len, c->now);
	free(w);
}

static void deliver_raw(struct ctx *c, const uint8_t *w, size_t len)
{
	struct sockaddr_in s = upstream_sa("192.0.2.53", 53);

	gwdns_resolver_upstream_input(c->r, c->f.p, (struct sockaddr *)&s, sizeof(s), w, len, c->now);
}

static const char *const site_a[] = { "site.example. 300 IN A 198.51.100.1", NULL };

static void test_local(void **state)
{
	struct ctx *c = *state;
	ldns_pkt *p;

	ask(c, "10.0.0.5", "laptop.home.arpa.", LDNS_RR_TYPE_A, 7);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_id(p), 7);
	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	ask(c, "10.0.0.5", "nobody.home.arpa.", LDNS_RR_TYPE_A, 8);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(p);
	assert_int_equal(c->f.sent, 0);
}

static void test_refused(void **state)
{
	struct ctx *c = *state;
	ldns_pkt *p;

	ask(c, "203.0.113.9", "laptop.home.arpa.", LDNS_RR_TYPE_A, 9);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_REFUSED_CLIENT), 1);
}

static void test_forward_and_cache(void **state)
{
	struct ctx *c = *state;
	ldns_pkt *a, *p;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 100);
	assert_int_equal(c->f.sent, 1);
	assert_int_equal(c->f.replies, 0);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, site_a);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(c->f.replies, 1);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_id(p), 100);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);

	c->now += 10000;
	ask(c, "10.0.0.6", "SITE.example.", LDNS_RR_TYPE_A, 101);
	assert_int_equal(c->f.sent, 1);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_id(p), 101);
	assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(p), 0)), 290);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_HIT), 1);
}

/* Each hostile answer is dropped and counted; the pending query still takes the real one. */
static void test_hostile_upstream(void **state)
{
	struct ctx *c = *state;
	static const char *const wrong_name[] = { "other.example. 300 IN A 198.51.100.9", NULL };
	ldns_pkt *a;
	uint8_t *w;
	size_t len;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
	assert_non_null(c->f.p);

	/* From another address, and from the right address's other port. */
	a = upstream_answer(c, LDNS_RCODE_NOERROR, site_a);
	deliver(c, a, "192.0.2.54", 53);
	deliver(c, a, "192.0.2.53", 5300);
	assert_int_equal(ctr(c, GWDNS_C_UPSTREAM_DROP_SOURCE), 2);

	/* Another ID. */
	ldns_pkt_set_id(a, (uint16_t)(ldns_pkt_id(a) + 1));
	deliver(c, a, "192.0.2.53", 53);
	assert_int_equal(ctr(c, GWDNS_C_UPSTREAM_DROP_ID), 1);
	ldns_pkt_free(a);

	/* The right ID for another question. */
	a = upstream_answer(c, LDNS_RCODE_NOERROR, wrong_name);
	{
		ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(a), 0);
		ldns_rdf *was = ldns_rr_owner(qr);

		ldns_rr_set_owner(qr, ldns_dname_new_frm_str("other.example."));
		ldns_rdf_deep_free(was);
	}
	deliver(c, a, "192.0.2.53", 53);
	assert_int_equal(ctr(c, GWDNS_C_UPSTREAM_DROP_QUESTION), 1);
	ldns_pkt_free(a);

	/* A compression loop, and a record cut short, with the right ID. */
	a = upstream_answer(c, LDNS_RCODE_NOERROR, site_a);
	assert_int_equal(ldns_pkt2wire(&w, a, &len), LDNS_STATUS_OK);
	ldns_pkt_free(a);
	{
		uint8_t loop[512];

		memcpy(loop, w, len);
		/* The question's name becomes a pointer to itself. */
		loop[12] = 0xc0;
		loop[13] = 12;
		deliver_raw(c, loop, len);
		deliver_raw(c, w, len - 3);
		deliver_raw(c, w, 11);
	}
	assert_int_equal(ctr(c, GWDNS_C_UPSTREAM_DROP_MALFORMED), 3);
	/* Not a response. */
	w[2] &= 0x7f;
	deliver_raw(c, w, len);
	assert_int_equal(ctr(c, GWDNS_C_UPSTREAM_DROP_FLAGS), 1);
	w[2] |= 0x80;

	assert_int_equal(c->f.replies, 0);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_INSERT), 0);
	deliver_raw(c, w, len);
	free(w);
	assert_int_equal(c->f.replies, 1);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_INSERT), 1);
}

/* Records of other names in an answer reach neither the client nor the cache. */
static void test_scrub(void **state)
{
	struct ctx *c = *state;
	static const char *const poisoned[] = {
		"site.example. 300 IN A 198.51.100.1",
		"bank.example. 300 IN A 203.0.113.66",
		"site.example. 300 IN MX 10 mail.example.",
		NULL,
	};
	ldns_pkt *a, *p;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, poisoned);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	ask(c, "10.0.0.5", "bank.example.", LDNS_RR_TYPE_A, 2);
	assert_int_equal(c->f.sent, 2); /* not from the cache */
}

static void test_tc_retries_tcp(void **state)
{
	struct ctx *c = *state;
	ldns_pkt *a;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, NULL);
	ldns_pkt_set_tc(a, true);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(c->f.sent, 2);
	assert_int_equal(c->f.tcp, 1);
	assert_int_equal(c->f.replies, 0);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, site_a);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(c->f.replies, 1);
}

static void test_rebind(void **state)
{
	struct ctx *c = *state;
	static const char *const private[] = { "site.example. 300 IN A 192.168.0.1", NULL };
	static const char *const lan[] = { "site.example. 300 IN A 10.0.0.77", NULL };
	ldns_pkt *a, *p;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, private);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 2);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, lan);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(ctr(c, GWDNS_C_SERVFAIL_REBIND), 2);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_INSERT), 0);
}

static void test_timeout(void **state)
{
	struct ctx *c = *state;
	ldns_pkt *p;
	int i;

	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
	for (i = 0; i < 3; i++) {
		c->now += 499;
		gwdns_resolver_tick(c->r, c->now);
		assert_int_equal(c->f.replies, 0);
		c->now += 1;
		gwdns_resolver_tick(c->r, c->now);
	}
	assert_int_equal(c->f.sent, 3);
	assert_int_equal(c->f.replies, 1);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_SERVFAIL_TIMEOUT), 1);
	assert_int_equal(ctr(c, GWDNS_C_PENDING), 0);
}

static void test_outstanding_cap(void **state)
{
	struct ctx *c = *state;
	char name[64];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "n%d.example.", i);
		ask(c, "10.0.0.5", name, LDNS_RR_TYPE_A, (uint16_t)i);
	}
	/* The same name again joins the pending query. */
	ask(c, "10.0.0.6", "n0.example.", LDNS_RR_TYPE_A, 99);
	assert_int_equal(c->f.sent, 4);
	assert_int_equal(ctr(c, GWDNS_C_SERVFAIL_OVERLOAD), 1);
	assert_int_equal(ctr(c, GWDNS_C_PENDING), 4);
}

static void test_ratelimit(void **state)
{
	struct ctx *c = *state;
	int i;

	for (i = 0; i < 25; i++)
		ask(c, "10.0.0.5", "laptop.home.arpa.", LDNS_RR_TYPE_A, (uint16_t)i);
	assert_int_equal(c->f.replies, 20);
	assert_int_equal(ctr(c, GWDNS_C_DROP_RATELIMIT), 5);
	ask(c, "10.0.0.6", "laptop.home.arpa.", LDNS_RR_TYPE_A, 1);
	assert_int_equal(c->f.replies, 21); /* another client is not held back */
	c->now += 1000;
	for (i = 0; i < 10; i++)
		ask(c, "10.0.0.5", "laptop.home.arpa.", LDNS_RR_TYPE_A, (uint16_t)i);
	assert_int_equal(c->f.replies, 31);
}

static void test_malformed_queries(void **state)
{
	struct ctx *c = *state;
	struct gwdns_client cl = client("10.0.0.5");
	uint8_t short_q[5] = { 1, 2, 3, 4, 5 };
	uint8_t resp[12] = { 0, 1, 0x80, 0, 0, 1 };
	uint8_t loop[] = { 0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
	ldns_pkt *p;

	gwdns_resolver_query(c->r, &cl, short_q, sizeof(short_q), c->now);
	gwdns_resolver_query(c->r, &cl, resp, sizeof(resp), c->now);
	assert_int_equal(c->f.replies, 0);
	assert_int_equal(ctr(c, GWDNS_C_DROP_MALFORMED), 1);
	assert_int_equal(ctr(c, GWDNS_C_DROP_RESPONSE), 1);
	gwdns_resolver_query(c->r, &cl, loop, sizeof(loop), c->now);
	assert_int_equal(c->f.replies, 1);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_id(p), 9);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_FORMERR);
	ldns_pkt_free(p);
	assert_int_equal(c->f.sent, 0);
}

/* The cache stays within its bytes, least recently used first out. */
static void test_cache_lru(void **state)
{
	struct gwdns_cache *cache;
	struct gwdns_cache_stats st;
	ldns_rdf *keep = ldns_dname_new_frm_str("keep.example.");
	int i;

	(void)state;
	assert_int_equal(gwdns_cache_new(8192, 1, &cache), 0);
	for (i = 0; i < 200; i++) {
		char text[128];
		ldns_rr *rr = NULL;
		ldns_rr_list *l = ldns_rr_list_new();
		ldns_rdf *name;
		ldns_pkt *resp = ldns_pkt_new();

		snprintf(text, sizeof(text), "n%d.example. 60 IN A 198.51.100.%d", i, i % 250);
		ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL);
		ldns_rr_list_push_rr(l, rr);
		name = ldns_rdf_clone(ldns_rr_owner(rr));
		if (i == 0) {
			ldns_rdf_deep_free(name);
			name = ldns_rdf_clone(keep);
		}
		assert_int_equal(gwdns_cache_put(cache, name, 1, 1, 0, l, NULL, 86400, 900, 1000), 0);
		/* keep.example. is asked every time: it stays. */
		assert_int_equal(gwdns_cache_get(cache, keep, 1, 1, 2000, resp), 1);
		gwdns_cache_stats(cache, &st);
		assert_true(st.bytes <= 8192);
		ldns_rdf_deep_free(name);
		ldns_rr_list_deep_free(l);
		ldns_pkt_free(resp);
	}
	gwdns_cache_stats(cache, &st);
	assert_true(st.evictions > 100);
	{
		ldns_pkt *resp = ldns_pkt_new();

		/* Expired at 60 s. */
		assert_int_equal(gwdns_cache_get(cache, keep, 1, 1, 1000 + 60000, resp), 0);
		ldns_pkt_free(resp);
	}
	ldns_rdf_deep_free(keep);
	gwdns_cache_free(cache);
}

/* An answer for a listed name waits for gwd; it leaves when gwd has it, and not before. */
static void test_hold_release(void **state)
{
	struct ctx *c = *state;
	static const char *const chain[] = {
		"www.social.example. 10 IN CNAME edge.cdn.example.",
		"edge.cdn.example. 300 IN A 198.51.100.7",
		NULL,
	};
	ldns_pkt *a;

	load_policy(c->r);
	ask(c, "10.0.0.5", "WWW.Social.Example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, chain);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(c->f.learns, 1);
	assert_int_equal(c->f.replies, 0);
	assert_string_equal(c->f.learn.name, "www.social.example");
	assert_int_equal(c->f.learn.sets, 1);
	assert_int_equal(c->f.learn.ttl, 30); /* 10 s, bounded below */
	assert_int_equal(c->f.learn.naddrs, 1);
	assert_int_equal(c->f.addrs[0].addr[3], 7);
	assert_int_equal(c->f.learn.client_family, 4);
	/* A second client asking meanwhile waits too; the cache has nothing yet. */
	ask(c, "10.0.0.6", "www.social.example.", LDNS_RR_TYPE_A, 2);
	assert_int_equal(c->f.replies, 0);
	assert_int_equal(c->f.sent, 1);
	gwdns_resolver_learned(c->r, c->f.hold_id, 0, 0, c->now);
	assert_int_equal(c->f.replies, 2);
	assert_int_equal(ctr(c, GWDNS_C_HOLD_RELEASED), 1);
	/* Unlisted names are not held. */
	ask(c, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 3);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, site_a);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	assert_int_equal(c->f.learns, 1);
	assert_int_equal(c->f.replies, 3);
}

static void test_hold_engine_fails(void **state)
{
	struct ctx *c = *state;
	static const char *const rr[] = { "a.social.example. 300 IN A 198.51.100.8", NULL };
	ldns_pkt *a, *p;

	load_policy(c->r);
	ask(c, "10.0.0.5", "a.social.example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, rr);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	gwdns_resolver_learned(c->r, c->f.hold_id, 0, 1, c->now);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_SERVFAIL_ENGINE), 1);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_INSERT), 0);

	/* No reply from gwd at all: SERVFAIL after GWDNS_HOLD_MS. */
	ask(c, "10.0.0.5", "a.social.example.", LDNS_RR_TYPE_A, 2);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, rr);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	c->now += GWDNS_HOLD_MS - 1;
	gwdns_resolver_tick(c->r, c->now);
	assert_int_equal(c->f.replies, 1);
	c->now += 1;
	gwdns_resolver_tick(c->r, c->now);
	assert_int_equal(c->f.replies, 2);
	assert_int_equal(ctr(c, GWDNS_C_SERVFAIL_HOLD), 1);
	/* A late reply finds nothing to release. */
	gwdns_resolver_learned(c->r, c->f.hold_id, 0, 0, c->now);
	assert_int_equal(c->f.replies, 2);
}

/* The kid gets NXDOMAIN for a name its policy blocks whole; the adult and a name blocked only on some ports do not. */
static void test_device_policy(void **state)
{
	struct ctx *c = *state;
	static const char *const social[] = { "www.social.example. 300 IN A 198.51.100.7", NULL };
	static const char *const games[] = { "play.games.example. 300 IN A 198.51.100.9", NULL };
	struct gwdns_client_map map[2] = {
		{ .family = 4, .mac = { 2, 0, 0, 0, 0, 1 }, .addr = { 10, 0, 0, 5 } },
		{ .family = 4, .mac = { 2, 0, 0, 0, 0, 2 }, .addr = { 10, 0, 0, 6 } },
	};
	ldns_pkt *a, *p;

	load_policy(c->r);
	assert_int_equal(gwdns_resolver_set_clients(c->r, map, 2), 0);
	ask(c, "10.0.0.5", "www.social.example.", LDNS_RR_TYPE_A, 1);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, social);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	gwdns_resolver_learned(c->r, c->f.hold_id, 0, 0, c->now);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_BLOCKED_DEVICE), 1);
	/* The adult, from the cache. */
	ask(c, "10.0.0.6", "www.social.example.", LDNS_RR_TYPE_A, 2);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
	/* The kid again, from the cache: still blocked. */
	ask(c, "10.0.0.5", "www.social.example.", LDNS_RR_TYPE_A, 3);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	/* Blocked on one port only: DNS is left alone. */
	ask(c, "10.0.0.5", "play.games.example.", LDNS_RR_TYPE_A, 4);
	a = upstream_answer(c, LDNS_RCODE_NOERROR, games);
	deliver(c, a, "192.0.2.53", 53);
	ldns_pkt_free(a);
	gwdns_resolver_learned(c->r, c->f.hold_id, 0, 0, c->now);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	/* An address the map does not know is not judged here (default new block notwithstanding). */
	ask(c, "10.0.0.7", "www.social.example.", LDNS_RR_TYPE_A, 5);
	p = last_reply(c);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	assert_int_equal(ctr(c, GWDNS_C_BLOCKED_DEVICE), 2);
}

/*
 * The fast path against ldns's: the same cached answers, byte for byte,
 * with TTLs counting down, and the same block answers once a policy and
 * the clients' devices are there.
 */
static void test_fast_same(void **state)
{
	struct ctx *c = *state, *x2;
	static const char *const social[] = { "www.social.example. 300 IN A 198.51.100.7", NULL };
	struct gwdns_client_map map[1] = {
		{ .family = 4, .mac = { 2, 0, 0, 0, 0, 1 }, .addr = { 10, 0, 0, 5 } },
	};
	const char *names[3] = { "site.example.", "www.social.example.", "laptop.home.arpa." };
	int step, k;

	/* A second resolver like the first, without the fast path. */
	{
		void *st = NULL;

		setup(&st);
		x2 = st;
	}
#define s2 (*x2)
	gwdns_resolver_set_fast(s2.r, 0);
	for (step = 0; step < 2; step++) {
		struct ctx *x = step ? &s2 : c;
		ldns_pkt *a;

		ask(x, "10.0.0.5", "site.example.", LDNS_RR_TYPE_A, 1);
		a = upstream_answer(x, LDNS_RCODE_NOERROR, site_a);
		deliver(x, a, "192.0.2.53", 53);
		ldns_pkt_free(a);
		ask(x, "10.0.0.5", "www.social.example.", LDNS_RR_TYPE_A, 2);
		a = upstream_answer(x, LDNS_RCODE_NOERROR, social);
		deliver(x, a, "192.0.2.53", 53);
		ldns_pkt_free(a);
	}
	for (step = 0; step < 6; step++) {
		if (step == 3) {
			/* From here a policy blocks the social name for 10.0.0.5's device. */
			load_policy(c->r);
			load_policy(s2.r);
			assert_int_equal(gwdns_resolver_set_clients(c->r, map, 1), 0);
			assert_int_equal(gwdns_resolver_set_clients(s2.r, map, 1), 0);
		}
		c->now += 1700;
		s2.now = c->now;
		for (k = 0; k < 3; k++) {
			ask(c, "10.0.0.5", names[k], LDNS_RR_TYPE_A, (uint16_t)(step * 10 + k));
			ask(&s2, "10.0.0.5", names[k], LDNS_RR_TYPE_A, (uint16_t)(step * 10 + k));
			assert_int_equal(c->f.reply_len, s2.f.reply_len);
			assert_memory_equal(c->f.reply, s2.f.reply, c->f.reply_len);
		}
	}
	assert_int_equal(ctr(c, GWDNS_C_BLOCKED_DEVICE), 3);
	assert_int_equal(ctr(c, GWDNS_C_CACHE_HIT), ctr(&s2, GWDNS_C_CACHE_HIT));
#undef s2
	{
		void *st = x2;

		teardown(&st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_local, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_and_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_upstream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrub, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tc_retries_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outstanding_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_queries, setup, teardown),
		cmocka_unit_test(test_cache_lru),
		cmocka_unit_test_setup_teardown(test_hold_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_engine_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fast_same, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
