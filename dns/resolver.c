/* SPDX-License-Identifier: MIT */
/*
 * The resolver (resolver.h): client queries in, answers out, upstream
 * queries through the I/O layer's ops.  Owns the configuration, the local
 * zone, the cache, the clients' rate buckets and the pending upstream
 * queries; touches no socket and no clock of its own.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <ldns/ldns.h>

#include "cache.h"
#include "eval.h"
#include "fast.h"
#include "image.h"
#include "name.h"
#include "resolver.h"
#include "zone.h"

/* What a reply needs of the query it answers. */
struct qinfo {
	struct gwdns_client client;
	uint16_t id;
	uint8_t rd, cd, edns;
	uint16_t udp_size; /* the client's EDNS buffer; 0 without EDNS */
	uint16_t qtype, qclass;
	ldns_rdf *qname; /* as the client wrote it */
	uint8_t fast;    /* the query has the fast path's shape (fast.h) */
};

struct gwdns_pending {
	struct gwdns_pending *next, *hnext;
	void *io;
	uint8_t key[GWDNS_WIRE_MAX];
	uint8_t keylen;
	uint16_t qtype, qclass;
	uint16_t id;        /* of the query upstream: random per try */
	uint8_t tcp;        /* this try is over TCP (after TC) */
	unsigned tries;     /* sent so far */
	unsigned upstream;  /* index of this try's upstream */
	uint64_t deadline_ms;
	ldns_rdf *qname;    /* as the first client wrote it: sent upstream so */
	/* Held for gwd (LEARN): the answer waits here until every LEARN is answered. */
	uint64_t hold_id;   /* 0: not held */
	uint64_t hold_deadline_ms;
	unsigned learn_left;
	uint8_t rcode;
	ldns_rr_list *answer, *auth;
	size_t nwait;
	struct qinfo wait[GWDNS_WAITERS_MAX];
};

struct rate_slot {
	uint8_t family;
	uint8_t addr[16];
	uint64_t last_ms;
	uint32_t milli_tokens; /* tokens x 1000 */
};

struct gwdns_resolver {
	const struct gwdns_io_ops *ops;
	void *io;
	int configured;
	struct gwdns_conf conf;
	struct gwdns_zone *zone;
	struct gwdns_zrec *recs; /* the last ZONE, kept to rebuild the zone on CONFIG */
	size_t nrecs;
	uint32_t serial;
	struct gwdns_cache *cache;
	struct gwdns_pending *pending; /* list, newest first */
	struct gwdns_pending **phash;
	size_t nphash, npending;
	struct rate_slot *rate;
	struct pol_ir *ir;       /* the policy's image (POLICY), or NULL */
	struct fast_entry *fast; /* FAST_SLOTS answers ldns built, sent again without it */
	uint32_t fast_gen;       /* bumped by every change of what answers depend on */
	int fast_off;
	uint8_t fbuf[65536];     /* a fast answer being sent */
	struct gwdns_client_map *clients; /* open addressing, nclients_cap slots (family 0: empty) */
	size_t nclients_cap;
	time_t when_s;           /* the second `when` was computed for */
	struct pol_when when;
	uint64_t next_hold;
	uint32_t seed;
	uint8_t rnd[256];
	size_t rnd_left;
	uint64_t ctr[GWDNS_C_COUNT];
};

#define PHASH 1024

/*
 * The fast path's table (fast.h): answers built once with ldns, keyed by
 * the question's exact bytes, its type and whether it had EDNS; two ways
 * a set, a new answer takes the way not used last.  A local answer lives until the
 * configuration, zone, policy or clients change (fast_gen); a cached one
 * as long as its cache entry, its TTLs counting down from the entry's
 * storing time as the cache's do.
 */
#define FAST_SETS  4096
#define FAST_WAYS  2
#define FAST_SLOTS (FAST_SETS * FAST_WAYS)
#define FAST_TTLS  16
#define FAST_ADDRS 8

struct fast_entry {
	uint8_t used, cache;  /* cache: from the cache (TTLs count down, the policy judges) */
	uint8_t edns, naddr;  /* naddr > FAST_ADDRS: too many to judge here */
	uint8_t counter;      /* enum gwdns_counter_id of the answer */
	uint8_t qname_len;
	uint8_t hot;          /* of a set's first way: it answered last */
	uint16_t qtype, len;
	uint32_t gen;
	uint8_t qname[GWDNS_WIRE_MAX];
	uint64_t stored_ms, expire_ms;
	uint64_t sets;        /* the chain's domain sets (cache entries, with a policy) */
	uint16_t nttl;
	uint16_t ttl_off[FAST_TTLS];
	uint32_t ttl0[FAST_TTLS]; /* the TTLs as stored in the cache */
	struct {
		uint8_t family;
		uint8_t addr[16];
	} addrs[FAST_ADDRS];
	uint8_t *wire;
};

/* ---------------------------------------------------------------- helpers */

static void random_bytes(struct gwdns_resolver *r, void *out, size_t n)
{
	uint8_t *o = out;

	while (n > 0) {
		size_t k;

		if (r->rnd_left == 0) {
			ssize_t got = getrandom(r->rnd, sizeof(r->rnd), 0);

			if (got != (ssize_t)sizeof(r->rnd)) {
				/* getrandom on Linux does not fail for 256 bytes once seeded. */
				abort();
			}
			r->rnd_left = sizeof(r->rnd);
		}
		k = n < r->rnd_left ? n : r->rnd_left;
		memcpy(o, r->rnd + sizeof(r->rnd) - r->rnd_left, k);
		r->rnd_left -= k;
		o += k;
		n -= k;
	}
}

static void count(struct gwdns_resolver *r, enum gwdns_counter_id id)
{
	r->ctr[id]++;
}

/* family and address of a socket address (a v4-mapped v6 address as v4); 0 or -EAFNOSUPPORT. */
static int sa_addr(const struct sockaddr *sa, socklen_t len, uint8_t *family, uint8_t addr[16],
		   uint16_t *port)
{
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;

		*family = 4;
		memcpy(addr, &s->sin_addr, 4);
		*port = ntohs(s->sin_port);
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
			*family = 4;
			memcpy(addr, s->sin6_addr.s6_addr + 12, 4);
		} else {
			*family = 6;
			memcpy(addr, &s->sin6_addr, 16);
		}
		*port = ntohs(s->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static int prefix_match(const struct gwdns_prefix *p, uint8_t family, const uint8_t *addr)
{
	unsigned bits = p->prefix_len, full = bits / 8, rest = bits % 8;

	if (p->family != family || memcmp(p->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((p->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

/*
 * Addresses a public name must not point at (RFC 1918, RFC 6598, loopback,
 * link-local, "this network", ULA, the unspecified and v4-mapped forms of
 * those) or any of the household's prefixes.
 */
static int private_addr(const struct gwdns_conf *c, uint8_t family, const uint8_t *a)
{
	unsigned i;

	for (i = 0; i < c->n_clients; i++)
		if (prefix_match(&c->clients[i], family, a))
			return 1;
	if (family == 4)
		return a[0] == 10 || a[0] == 127 || a[0] == 0 ||
		       (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
		       (a[0] == 169 && a[1] == 254) || (a[0] == 100 && (a[1] & 0xc0) == 64);
	{
		static const uint8_t zero[16];
		static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

		if (memcmp(a, zero, 15) == 0 && (a[15] == 0 || a[15] == 1))
			return 1;
		if ((a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
			return 1;
		if (memcmp(a, v4mapped, 12) == 0)
			return private_addr(c, 4, a + 12);
	}
	return 0;
}

static int rebind_allowed(const struct gwdns_conf *c, const ldns_rdf *name)
{
	uint8_t w[GWDNS_WIRE_MAX], key[GWDNS_WIRE_MAX];
	size_t len;
	unsigned i;

	if (ldns_rdf_size(name) > GWDNS_WIRE_MAX)
		return 0;
	len = gwdns_wire_lower(ldns_rdf_data(name), ldns_rdf_size(name), key);
	for (i = 0; i < c->n_allow; i++) {
		int wl = gwdns_name_to_wire(c->allow[i], w);

		if (wl > 0 && gwdns_wire_under(key, len, w, (size_t)wl))
			return 1;
	}
	return 0;
}

static void event_name(struct gwdns_resolver *r, const char *event, const ldns_rdf *name)
{
	char *s;

	if (!r->ops->event)
		return;
	s = ldns_rdf2str(name);
	r->ops->event(r->io, event, s ? s : "?");
	free(s);
}

/* ---------------------------------------------------------------- rate */

/* 1 if the client may ask now (one token taken), 0 if over its rate. */
static int rate_take(struct gwdns_resolver *r, uint8_t family, const uint8_t addr[16], uint64_t now)
{
	uint32_t h = gwdns_hash(addr, 16, r->seed ^ family);
	struct rate_slot *set = &r->rate[(h & (GWDNS_RATE_SLOTS / 4 - 1)) * 4], *s = NULL;
	uint64_t burst = (uint64_t)r->conf.rate_burst * 1000, t;
	int i;

	for (i = 0; i < 4; i++)
		if (set[i].family == family && memcmp(set[i].addr, addr, 16) == 0) {
			s = &set[i];
			break;
		}
	if (!s) {
		/* A new client takes the slot of the set's longest idle one. */
		s = &set[0];
		for (i = 1; i < 4; i++)
			if (set[i].last_ms < s->last_ms)
				s = &set[i];
		s->family = family;
		memcpy(s->addr, addr, 16);
		s->last_ms = now;
		s->milli_tokens = (uint32_t)(burst < UINT32_MAX ? burst : UINT32_MAX);
	}
	t = s->milli_tokens + (now > s->last_ms ? now - s->last_ms : 0) * r->conf.rate_qps;
	if (t > burst)
		t = burst;
	if (now > s->last_ms)
		s->last_ms = now;
	if (t < 1000) {
		s->milli_tokens = (uint32_t)t;
		return 0;
	}
	s->milli_tokens = (uint32_t)(t - 1000);
	return 1;
}

/* ---------------------------------------------------------------- replies */

static void qinfo_clear(struct qinfo *q)
{
	ldns_rdf_deep_free(q->qname);
	q->qname = NULL;
}

/* A response packet carrying q's header and question; NULL on ENOMEM. */
static ldns_pkt *response_for(const struct qinfo *q)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *qrr;

	if (!p)
		return NULL;
	ldns_pkt_set_id(p, q->id);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_opcode(p, LDNS_PACKET_QUERY);
	ldns_pkt_set_rd(p, q->rd);
	ldns_pkt_set_cd(p, q->cd);
	ldns_pkt_set_ra(p, true);
	if (q->qname) {
		qrr = ldns_rr_new();
		if (!qrr)
			goto fail;
		ldns_rr_set_question(qrr, true);
		ldns_rr_set_owner(qrr, ldns_rdf_clone(q->qname));
		ldns_rr_set_type(qrr, q->qtype);
		ldns_rr_set_class(qrr, q->qclass);
		if (!ldns_rr_owner(qrr) || !ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, qrr)) {
			ldns_rr_free(qrr);
			goto fail;
		}
	}
	if (q->edns)
		ldns_pkt_set_edns_udp_size(p, GWDNS_EDNS_SIZE);
	return p;
fail:
	ldns_pkt_free(p);
	return NULL;
}

/*
 * Sends resp to q's client, truncated (TC, question only) when it does not
 * fit UDP.  keep: when not NULL and the answer went whole, *keep takes the
 * wire (the caller frees it); else NULL.
 */
static void send_response_keep(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp,
			       uint8_t **keep, size_t *keep_len)
{
	uint8_t *wire = NULL;
	size_t len = 0, limit;

	if (keep)
		*keep = NULL;
	if (ldns_pkt2wire(&wire, resp, &len) != LDNS_STATUS_OK)
		return;
	limit = q->edns ? (q->udp_size < 512 ? 512 : q->udp_size) : 512;
	if (limit > GWDNS_EDNS_SIZE)
		limit = GWDNS_EDNS_SIZE;
	if (q->client.conn == 0 && len > limit) {
		ldns_pkt *tc = response_for(q);

		free(wire);
		wire = NULL;
		if (!tc)
			return;
		ldns_pkt_set_tc(tc, true);
		ldns_pkt_set_aa(tc, ldns_pkt_aa(resp));
		ldns_pkt_set_rcode(tc, ldns_pkt_get_rcode(resp));
		count(r, GWDNS_C_ANSWER_TRUNCATED);
		if (ldns_pkt2wire(&wire, tc, &len) != LDNS_STATUS_OK) {
			ldns_pkt_free(tc);
			return;
		}
		ldns_pkt_free(tc);
		keep = NULL;
	}
	r->ops->reply(r->io, &q->client, wire, len);
	if (keep) {
		*keep = wire;
		*keep_len = len;
		return;
	}
	free(wire);
}

static void send_response(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp)
{
	send_response_keep(r, q, resp, NULL, NULL);
}

static void reply_rcode(struct gwdns_resolver *r, const struct qinfo *q, uint8_t rcode)
{
	ldns_pkt *p = response_for(q);

	if (!p)
		return;
	ldns_pkt_set_rcode(p, rcode);
	send_response(r, q, p);
	ldns_pkt_free(p);
}

/* A reply with only a header (and q's id): for queries that do not parse. */
static void reply_header_only(struct gwdns_resolver *r, const struct gwdns_client *c,
			      const uint8_t *wire, uint8_t rcode)
{
	uint8_t h[12] = { 0 };

	h[0] = wire[0];
	h[1] = wire[1];
	h[2] = 0x80 | (wire[2] & 0x79); /* QR, the opcode and RD as asked */
	h[3] = 0x80 | (rcode & 0x0f);   /* RA */
	r->ops->reply(r->io, c, h, sizeof(h));
}

/* ---------------------------------------------------------------- pending */

static size_t pkey_hash(const struct gwdns_resolver *r, const uint8_t *key, size_t len, uint16_t qtype)
{
	return gwdns_hash(key, len, r->seed ^ 0x5bd1e995u ^ qtype) & (r->nphash - 1);
}

static struct gwdns_pending *pending_find(struct gwdns_resolver *r, const uint8_t *key, size_t len,
					  uint16_t qtype, uint16_t qclass)
{
	struct gwdns_pending *p = r->phash[pkey_hash(r, key, len, qtype)];

	for (; p; p = p->hnext)
		if (p->keylen == len && p->qtype == qtype && p->qclass == qclass &&
		    memcmp(p->key, key, len) == 0)
			return p;
	return NULL;
}

static void pending_free(struct gwdns_resolver *r, struct gwdns_pending *p)
{
	struct gwdns_pending **pp;
	size_t i;

	if (p->io)
		r->ops->upstream_cancel(r->io, p);
	for (pp = &r->phash[pkey_hash(r, p->key, p->keylen, p->qtype)]; *pp; pp = &(*pp)->hnext)
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	for (pp = &r->pending; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	for (i = 0; i < p->nwait; i++)
		qinfo_clear(&p->wait[i]);
	ldns_rdf_deep_free(p->qname);
	ldns_rr_list_deep_free(p->answer);
	ldns_rr_list_deep_free(p->auth);
	free(p);
	r->npending--;
}

static void pending_fail(struct gwdns_resolver *r, struct gwdns_pending *p, enum gwdns_counter_id why)
{
	size_t i;

	for (i = 0; i < p->nwait; i++) {
		count(r, why);
		reply_rcode(r, &p->wait[i], LDNS_RCODE_SERVFAIL);
	}
	pending_free(r, p);
}

/* Sends p's next try (a new ID, the next upstream); 0, or -errno when no try is left. */
static int pending_send(struct gwdns_resolver *r, struct gwdns_pending *p, int tcp, uint64_t now)
{
	ldns_pkt *q;
	uint8_t *wire = NULL;
	size_t len = 0;
	int err = -EIO;

	while (p->tries < GWDNS_UPSTREAM_TRIES && r->conf.n_upstreams > 0) {
		if (p->io) {
			r->ops->upstream_cancel(r->io, p);
			p->io = NULL;
		}
		if (!tcp)
			p->upstream = (p->upstream + (p->tries > 0)) % r->conf.n_upstreams;
		p->tries++;
		p->tcp = (uint8_t)tcp;
		random_bytes(r, &p->id, sizeof(p->id));
		q = ldns_pkt_query_new(ldns_rdf_clone(p->qname), p->qtype, p->qclass, LDNS_RD);
		if (!q)
			return -ENOMEM;
		ldns_pkt_set_id(q, p->id);
		ldns_pkt_set_edns_udp_size(q, GWDNS_EDNS_SIZE);
		if (ldns_pkt2wire(&wire, q, &len) != LDNS_STATUS_OK) {
			ldns_pkt_free(q);
			return -ENOMEM;
		}
		ldns_pkt_free(q);
		err = r->ops->upstream_send(r->io, p, &r->conf.upstreams[p->upstream], tcp, wire, len);
		free(wire);
		wire = NULL;
		if (err == 0) {
			p->deadline_ms = now + r->conf.timeout_ms;
			count(r, tcp ? GWDNS_C_UPSTREAM_TCP : GWDNS_C_UPSTREAM_SENT);
			return 0;
		}
		count(r, GWDNS_C_UPSTREAM_ERROR);
		tcp = 0;
	}
	return err;
}

static void forward(struct gwdns_resolver *r, struct qinfo *q, const uint8_t *key, size_t len,
		    uint64_t now)
{
	struct gwdns_pending *p = pending_find(r, key, len, q->qtype, q->qclass);
	size_t h;

	if (p) {
		if (p->nwait == GWDNS_WAITERS_MAX) {
			count(r, GWDNS_C_SERVFAIL_OVERLOAD);
			reply_rcode(r, q, LDNS_RCODE_SERVFAIL);
			qinfo_clear(q);
			return;
		}
		p->wait[p->nwait++] = *q; /* takes q's qname */
		q->qname = NULL;
		return;
	}
	if (r->conf.n_upstreams == 0) {
		count(r, GWDNS_C_SERVFAIL_UPSTREAM);
		reply_rcode(r, q, LDNS_RCODE_SERVFAIL);
		qinfo_clear(q);
		return;
	}
	if (r->npending >= r->conf.max_outstanding) {
		count(r, GWDNS_C_SERVFAIL_OVERLOAD);
		reply_rcode(r, q, LDNS_RCODE_SERVFAIL);
		qinfo_clear(q);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->qname = ldns_rdf_clone(q->qname))) {
		free(p);
		count(r, GWDNS_C_SERVFAIL_OVERLOAD);
		reply_rcode(r, q, LDNS_RCODE_SERVFAIL);
		qinfo_clear(q);
		return;
	}
	memcpy(p->key, key, len);
	p->keylen = (uint8_t)len;
	p->qtype = q->qtype;
	p->qclass = q->qclass;
	random_bytes(r, &p->upstream, sizeof(p->upstream));
	p->upstream %= r->conf.n_upstreams;
	p->wait[0] = *q;
	p->nwait = 1;
	q->qname = NULL;
	h = pkey_hash(r, key, len, p->qtype);
	p->hnext = r->phash[h];
	r->phash[h] = p;
	p->next = r->pending;
	r->pending = p;
	r->npending++;
	if (pending_send(r, p, 0, now) < 0)
		pending_fail(r, p, GWDNS_C_SERVFAIL_UPSTREAM);
}

/* ---------------------------------------------------------------- queries */

static void answer_client(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp);
static void answer_client_cached(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp,
				 uint64_t stored, uint64_t expire, uint64_t now);
static void fast_store(struct gwdns_resolver *r, const struct qinfo *q, uint8_t *wire, size_t len,
		       enum gwdns_counter_id counter, int cache, uint64_t stored, uint64_t expire,
		       const ldns_rr_list *answer, uint64_t now);
static int fast_answer(struct gwdns_resolver *r, const struct gwdns_client *c,
		       const struct gwdns_fastq *fq, uint64_t now);

void gwdns_resolver_query(struct gwdns_resolver *r, const struct gwdns_client *c,
			  const uint8_t *wire, size_t len, uint64_t now)
{
	uint8_t family, addr[16], key[GWDNS_WIRE_MAX];
	uint16_t port;
	ldns_pkt *query = NULL, *resp = NULL;
	ldns_rr *qrr;
	struct qinfo q;
	struct gwdns_fastq fq;
	size_t klen;
	uint64_t stored, expire;
	int local, fast;

	memset(&q, 0, sizeof(q));
	count(r, c->conn ? GWDNS_C_QUERY_TCP : GWDNS_C_QUERY_UDP);
	if (len < 12) {
		count(r, GWDNS_C_DROP_MALFORMED);
		return;
	}
	if (wire[2] & 0x80) {
		/* A response sent to the server port: never answered (no loops). */
		count(r, GWDNS_C_DROP_RESPONSE);
		return;
	}
	if (sa_addr((const struct sockaddr *)&c->addr, c->addrlen, &family, addr, &port) < 0) {
		count(r, GWDNS_C_DROP_MALFORMED);
		return;
	}
	if (r->configured && !rate_take(r, family, addr, now)) {
		count(r, GWDNS_C_DROP_RATELIMIT);
		return;
	}
	if (!r->configured) {
		count(r, GWDNS_C_REFUSED_NOCONFIG);
		reply_header_only(r, c, wire, LDNS_RCODE_REFUSED);
		return;
	}
	if (!gwdns_zone_is_household(r->zone, family, addr)) {
		count(r, GWDNS_C_REFUSED_CLIENT);
		reply_header_only(r, c, wire, LDNS_RCODE_REFUSED);
		return;
	}
	if (((wire[2] >> 3) & 0xf) != LDNS_PACKET_QUERY) {
		count(r, GWDNS_C_NOTIMP);
		reply_header_only(r, c, wire, LDNS_RCODE_NOTIMPL);
		return;
	}
	fast = gwdns_fast_parse(wire, len, &fq) == 0;
	if (fast && fast_answer(r, c, &fq, now))
		return;
	if (ldns_wire2pkt(&query, wire, len) != LDNS_STATUS_OK) {
		count(r, GWDNS_C_FORMERR);
		reply_header_only(r, c, wire, LDNS_RCODE_FORMERR);
		return;
	}
	q.client = *c;
	q.fast = (uint8_t)fast;
	q.id = ldns_pkt_id(query);
	q.rd = ldns_pkt_rd(query);
	q.cd = ldns_pkt_cd(query);
	if (ldns_pkt_qdcount(query) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(query)) != 1) {
		count(r, GWDNS_C_FORMERR);
		reply_rcode(r, &q, LDNS_RCODE_FORMERR);
		goto out;
	}
	qrr = ldns_rr_list_rr(ldns_pkt_question(query), 0);
	q.qtype = (uint16_t)ldns_rr_get_type(qrr);
	q.qclass = (uint16_t)ldns_rr_get_class(qrr);
	q.qname = ldns_rdf_clone(ldns_rr_owner(qrr));
	if (!q.qname)
		goto out;
	q.edns = ldns_pkt_edns(query);
	q.udp_size = q.edns ? ldns_pkt_edns_udp_size(query) : 0;
	if (q.qtype == LDNS_RR_TYPE_OPT || q.qtype == LDNS_RR_TYPE_TSIG) {
		count(r, GWDNS_C_FORMERR);
		reply_rcode(r, &q, LDNS_RCODE_FORMERR);
		goto out;
	}
	if (q.qclass != LDNS_RR_CLASS_IN || q.qtype == LDNS_RR_TYPE_AXFR ||
	    q.qtype == LDNS_RR_TYPE_IXFR) {
		count(r, GWDNS_C_REFUSED_QUERY);
		reply_rcode(r, &q, LDNS_RCODE_REFUSED);
		goto out;
	}
	if (q.edns && ldns_pkt_edns_version(query) != 0) {
		/* BADVERS (16): extended rcode 1, header rcode 0 (RFC 6891). */
		resp = response_for(&q);
		if (resp) {
			ldns_pkt_set_edns_extended_rcode(resp, 1);
			count(r, GWDNS_C_FORMERR);
			send_response(r, &q, resp);
		}
		goto out;
	}

	resp = response_for(&q);
	if (!resp)
		goto out;
	local = gwdns_zone_answer(r->zone, q.qname, q.qtype, resp);
	if (local > 0) {
		enum gwdns_counter_id id = local == GWDNS_LOCAL_CANARY ? GWDNS_C_ANSWER_CANARY :
									 GWDNS_C_ANSWER_LOCAL;
		uint8_t *keep;
		size_t keep_len;

		count(r, id);
		send_response_keep(r, &q, resp, &keep, &keep_len);
		if (keep)
			fast_store(r, &q, keep, keep_len, id, 0, 0, 0, NULL, now);
		goto out;
	}
	if (local < 0)
		goto out;
	if (gwdns_cache_get_times(r->cache, q.qname, q.qtype, q.qclass, now, resp, &stored,
				  &expire) > 0) {
		count(r, GWDNS_C_CACHE_HIT);
		count(r, GWDNS_C_ANSWER_CACHE);
		answer_client_cached(r, &q, resp, stored, expire, now);
		goto out;
	}
	count(r, GWDNS_C_CACHE_MISS);
	klen = gwdns_wire_lower(ldns_rdf_data(q.qname), ldns_rdf_size(q.qname), key);
	forward(r, &q, key, klen, now);
out:
	qinfo_clear(&q);
	ldns_pkt_free(resp);
	ldns_pkt_free(query);
}

/* ---------------------------------------------------------------- answers */

/*
 * The answer section that belongs to the question: the CNAME chain from
 * qname and the records of qtype at its end; everything else an upstream
 * put there (records of other names, of other types) is dropped.  Every
 * name of the chain goes to *names (borrowed pointers into answer).
 */
static ldns_rr_list *scrub_answer(const ldns_rr_list *answer, const ldns_rdf *qname,
				  uint16_t qtype, const ldns_rdf **names, size_t *nnames)
{
	ldns_rr_list *out = ldns_rr_list_new();
	const ldns_rdf *cur = qname;
	size_t hops, i;

	if (!out)
		return NULL;
	*nnames = 0;
	names[(*nnames)++] = qname;
	for (hops = 0; hops < 8; hops++) {
		const ldns_rdf *next = NULL;

		for (i = 0; answer && i < ldns_rr_list_rr_count(answer); i++) {
			ldns_rr *rr = ldns_rr_list_rr(answer, i);
			ldns_rr_type t = ldns_rr_get_type(rr);
			ldns_rr *copy;

			if (ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
			    ldns_dname_compare(ldns_rr_owner(rr), cur) != 0)
				continue;
			if (t == qtype || (t == LDNS_RR_TYPE_CNAME && qtype != LDNS_RR_TYPE_CNAME &&
					   next == NULL && ldns_rr_rd_count(rr) == 1)) {
				if (t == LDNS_RR_TYPE_CNAME && t != qtype)
					next = ldns_rr_rdf(rr, 0);
				copy = ldns_rr_clone(rr);
				if (!copy || !ldns_rr_list_push_rr(out, copy)) {
					ldns_rr_free(copy);
					ldns_rr_list_deep_free(out);
					return NULL;
				}
			}
		}
		if (!next)
			break;
		/* A CNAME and records of qtype at one name cannot both be: the chain goes on. */
		cur = next;
		if (*nnames < 9)
			names[(*nnames)++] = cur;
	}
	return out;
}

/* A negative answer's SOA: one whose owner is the last name of the chain or above it. */
static ldns_rr_list *scrub_authority(const ldns_rr_list *auth, const ldns_rdf *last)
{
	ldns_rr_list *out = ldns_rr_list_new();
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; auth && i < ldns_rr_list_rr_count(auth); i++) {
		ldns_rr *rr = ldns_rr_list_rr(auth, i), *copy;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7)
			continue;
		if (ldns_dname_compare(ldns_rr_owner(rr), last) != 0 &&
		    !ldns_dname_is_subdomain(last, ldns_rr_owner(rr)))
			continue;
		copy = ldns_rr_clone(rr);
		if (!copy || !ldns_rr_list_push_rr(out, copy)) {
			ldns_rr_free(copy);
			ldns_rr_list_deep_free(out);
			return NULL;
		}
		break;
	}
	return out;
}

/* 1 if the answer points a name at a private or LAN address the configuration does not allow. */
static int rebinding(const struct gwdns_resolver *r, const ldns_rr_list *answer,
		     const ldns_rdf **names, size_t nnames)
{
	size_t i;

	if (!(r->conf.flags & GWDNS_CONF_REBIND))
		return 0;
	for (i = 0; i < ldns_rr_list_rr_count(answer); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);
		const ldns_rdf *d = ldns_rr_rdf(rr, 0);
		size_t k;
		int allowed = 0;

		if (!d)
			continue;
		if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_A && ldns_rdf_size(d) == 4) {
			if (!private_addr(&r->conf, 4, ldns_rdf_data(d)))
				continue;
		} else if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA && ldns_rdf_size(d) == 16) {
			if (!private_addr(&r->conf, 6, ldns_rdf_data(d)))
				continue;
		} else {
			continue;
		}
		for (k = 0; k < nnames && !allowed; k++)
			allowed = rebind_allowed(&r->conf, names[k]);
		if (!allowed)
			return 1;
	}
	return 0;
}

static void push_list(ldns_pkt *resp, ldns_pkt_section s, const ldns_rr_list *l, int *ok)
{
	size_t i;

	for (i = 0; *ok && l && i < ldns_rr_list_rr_count(l); i++) {
		ldns_rr *c = ldns_rr_clone(ldns_rr_list_rr(l, i));

		if (!c || !ldns_pkt_push_rr(resp, s, c)) {
			ldns_rr_free(c);
			*ok = 0;
		}
	}
}

/* ---------------------------------------------------------------- device policy */

static size_t client_slot(const struct gwdns_resolver *r, uint8_t family, const uint8_t addr[16])
{
	return gwdns_hash(addr, 16, r->seed ^ 0x2545f491u ^ family) & (r->nclients_cap - 1);
}

int gwdns_resolver_set_clients(struct gwdns_resolver *r, const struct gwdns_client_map *v, size_t n)
{
	struct gwdns_client_map *t = NULL;
	size_t cap = 0, i;

	if (n) {
		cap = 16;
		while (cap < 2 * n)
			cap *= 2;
		t = calloc(cap, sizeof(*t));
		if (!t)
			return -ENOMEM;
	}
	free(r->clients);
	r->clients = t;
	r->nclients_cap = cap;
	r->fast_gen++;
	for (i = 0; i < n; i++) {
		uint8_t a[16] = { 0 };
		size_t k;

		memcpy(a, v[i].addr, v[i].family == 4 ? 4 : 16);
		k = client_slot(r, v[i].family, a);
		while (t[k].family && !(t[k].family == v[i].family && memcmp(t[k].addr, a, 16) == 0))
			k = (k + 1) & (cap - 1);
		t[k] = v[i];
		memcpy(t[k].addr, a, 16); /* the last entry of an address wins */
	}
	return 0;
}

/*
 * The device asking from c, as the policy knows it (POL_NONE: a MAC the
 * policy does not declare, a new device); -ENOENT when the map does not
 * know the address at all.
 */
static int client_device(const struct gwdns_resolver *r, const struct gwdns_client *c, uint32_t *ret)
{
	uint8_t family, addr[16];
	uint16_t port;
	size_t k;

	if (!r->clients || sa_addr((const struct sockaddr *)&c->addr, c->addrlen, &family, addr, &port) < 0)
		return -ENOENT;
	for (k = client_slot(r, family, addr); r->clients[k].family; k = (k + 1) & (r->nclients_cap - 1))
		if (r->clients[k].family == family && memcmp(r->clients[k].addr, addr, 16) == 0) {
			*ret = pol_device_by_mac(r->ir, r->clients[k].mac);
			return 0;
		}
	return -ENOENT;
}

#define NOT_BLOCKED 0xffffffffu

/*
 * Whether the policy blocks every connection of base's device to base's
 * destination (any protocol, any port): the deciding rule, or
 * POL_RULE_DEFAULT(_NEW), or NOT_BLOCKED.  Walks the rules in order: a
 * rule that matches everything decides; one that matches only some
 * protocols or ports decides nothing if it blocks (the rest goes on) and
 * everything if it allows (some connection gets through).
 */
static uint32_t blocks_all(const struct pol_ir *ir, const struct pol_facts *base)
{
	uint32_t i;

	for (i = 0; i < ir->nrules; i++) {
		const struct pol_rule *rule = &ir->rules[i];
		struct pol_facts f = *base;

		f.proto = (rule->protos & POL_PROTO_TCP) || !rule->protos ? IPPROTO_TCP :
			  (rule->protos & POL_PROTO_UDP) ? IPPROTO_UDP :
			  (f.family == 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6);
		f.dport = rule->port_count ? ir->ports[rule->port_first].lo : 443;
		if (pol_rule_match(ir, i, &f) != POL_MATCH)
			continue;
		if (rule->action == POL_ALLOW)
			return NOT_BLOCKED;
		if (rule->protos == 0 && rule->port_count == 0)
			return i;
	}
	if (base->device == POL_NONE)
		return ir->meta->default_new != POL_ALLOW ? POL_RULE_DEFAULT_NEW : NOT_BLOCKED;
	return ir->meta->default_action != POL_ALLOW ? POL_RULE_DEFAULT : NOT_BLOCKED;
}

/* The domain sets of qname and of every name in the answer's chain. */
static uint64_t chain_sets(const struct pol_ir *ir, const ldns_rdf *qname, const ldns_rr_list *answer)
{
	const ldns_rdf *last = NULL;
	uint64_t sets = 0;
	size_t i;
	char *s = ldns_rdf2str(qname);

	if (s) {
		sets |= pol_domain_sets_of(ir, s);
		free(s);
	}
	for (i = 0; answer && i < ldns_rr_list_rr_count(answer); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || !ldns_rr_rdf(rr, 0))
			continue;
		if (last && ldns_dname_compare(last, ldns_rr_rdf(rr, 0)) == 0)
			continue;
		last = ldns_rr_rdf(rr, 0);
		s = ldns_rdf2str(last);
		if (s) {
			sets |= pol_domain_sets_of(ir, s);
			free(s);
		}
	}
	return sets;
}

/*
 * The rule that blocks every connection from the client to every address
 * of the answer (NOT_BLOCKED when some connection may go).  An answer
 * without addresses is judged by a documentation address with its
 * names' domain sets: the name's lists decide.  A client whose address
 * the map (CLIENTS) does not know is not judged here: its packets still
 * are, by the engines.
 */
static uint32_t device_block(struct gwdns_resolver *r, const struct qinfo *q, const ldns_rr_list *answer,
			     uint32_t *ret_device)
{
	struct pol_facts f;
	time_t now = time(NULL);
	uint32_t rule = NOT_BLOCKED;
	size_t i, naddr = 0;

	if (!r->ir)
		return NOT_BLOCKED;
	if (now != r->when_s) {
		if (pol_when_at(r->ir, now, &r->when) == 0)
			r->when_s = now;
	}
	memset(&f, 0, sizeof(f));
	if (client_device(r, &q->client, &f.device) < 0)
		return NOT_BLOCKED;
	f.when = r->when;
	f.domain_sets = chain_sets(r->ir, q->qname, answer);
	*ret_device = f.device;
	for (i = 0; answer && i < ldns_rr_list_rr_count(answer); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(answer, i);
		const ldns_rdf *d = ldns_rr_rdf(rr, 0);
		uint32_t one;

		if (!d || (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A && ldns_rr_get_type(rr) != LDNS_RR_TYPE_AAAA))
			continue;
		f.family = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? 4 : 6;
		if (ldns_rdf_size(d) != (f.family == 4 ? 4u : 16u))
			continue;
		memset(f.dst, 0, sizeof(f.dst));
		memcpy(f.dst, ldns_rdf_data(d), ldns_rdf_size(d));
		naddr++;
		one = blocks_all(r->ir, &f);
		if (one == NOT_BLOCKED)
			return NOT_BLOCKED;
		if (rule == NOT_BLOCKED)
			rule = one;
	}
	if (naddr == 0) {
		f.family = 4;
		memset(f.dst, 0, sizeof(f.dst));
		f.dst[0] = 192, f.dst[2] = 2, f.dst[3] = 1;
		rule = blocks_all(r->ir, &f);
	}
	return rule;
}

/* The block answer for q (config's block_mode), counted and reported with the rule. */
static void send_blocked(struct gwdns_resolver *r, const struct qinfo *q, uint32_t rule, uint32_t device)
{
	ldns_pkt *resp = response_for(q);
	char *name;

	if (!resp)
		return;
	count(r, GWDNS_C_BLOCKED_DEVICE);
	if (r->conf.block_mode == GWDNS_BLOCK_NULL) {
		ldns_rr *rr = NULL;
		uint8_t zero[16] = { 0 };

		ldns_pkt_set_rcode(resp, LDNS_RCODE_NOERROR);
		if (q->qtype == LDNS_RR_TYPE_A || q->qtype == LDNS_RR_TYPE_AAAA) {
			rr = ldns_rr_new();
			if (rr) {
				ldns_rr_set_owner(rr, ldns_rdf_clone(q->qname));
				ldns_rr_set_type(rr, q->qtype);
				ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
				ldns_rr_set_ttl(rr, 10);
				ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(q->qtype == LDNS_RR_TYPE_A ?
						 LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
						 q->qtype == LDNS_RR_TYPE_A ? 4 : 16, zero));
				if (!ldns_pkt_push_rr(resp, LDNS_SECTION_ANSWER, rr))
					ldns_rr_free(rr);
			}
		}
	} else {
		ldns_pkt_set_rcode(resp, LDNS_RCODE_NXDOMAIN);
	}
	send_response(r, q, resp);
	ldns_pkt_free(resp);
	if (r->ops->blocked) {
		const char *dev = device == POL_NONE ? "new" :
				  pol_ir_str(r->ir, r->ir->devices[device].name);
		const char *rn = rule == POL_RULE_DEFAULT ? "default" :
				 rule == POL_RULE_DEFAULT_NEW ? "default-new" :
				 pol_ir_str(r->ir, r->ir->rules[rule].name);

		name = ldns_rdf2str(q->qname);
		r->ops->blocked(r->io, dev, rn, name ? name : "?");
		free(name);
	}
}

/* ---------------------------------------------------------------- fast path */

/* The first slot of the question's set. */
static size_t fast_set(const struct gwdns_resolver *r, const uint8_t *qname, size_t len,
		       uint16_t qtype, uint8_t edns)
{
	return (gwdns_hash(qname, len, r->seed ^ ((uint32_t)qtype << 1) ^ edns) & (FAST_SETS - 1)) *
	       FAST_WAYS;
}

static int fast_match(const struct fast_entry *e, const uint8_t *qname, size_t len, uint16_t qtype,
		      uint8_t edns)
{
	return e->used && e->qtype == qtype && e->edns == edns && e->qname_len == len &&
	       memcmp(e->qname, qname, len) == 0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Keeps wire (taken over) as q's answer for the fast path.  cache: it came
 * from the cache entry stored at stored_ms, expiring at expire_ms; answer
 * is then its answer section (the policy's addresses and names).
 */
static void fast_store(struct gwdns_resolver *r, const struct qinfo *q, uint8_t *wire, size_t len,
		       enum gwdns_counter_id counter, int cache, uint64_t stored, uint64_t expire,
		       const ldns_rr_list *answer, uint64_t now)
{
	struct fast_entry *e;
	size_t n = 0, i;
	uint16_t offs[FAST_TTLS];

	if (!q->fast || r->fast_off || ldns_rdf_size(q->qname) > GWDNS_WIRE_MAX || len > 65535 ||
	    (cache && gwdns_fast_ttl_offsets(wire, len, offs, FAST_TTLS, &n) < 0)) {
		free(wire);
		return;
	}
	{
		const uint8_t *qn = ldns_rdf_data(q->qname);
		size_t ql = ldns_rdf_size(q->qname), set = fast_set(r, qn, ql, q->qtype, q->edns), w;

		/* The same question's way, else a free or stale one, else the one not used last. */
		e = NULL;
		for (w = 0; w < FAST_WAYS && !e; w++)
			if (fast_match(&r->fast[set + w], qn, ql, q->qtype, q->edns))
				e = &r->fast[set + w];
		for (w = 0; w < FAST_WAYS && !e; w++)
			if (!r->fast[set + w].used || r->fast[set + w].gen != r->fast_gen)
				e = &r->fast[set + w];
		if (!e)
			e = &r->fast[set + (r->fast[set].hot ? 1 : 0)];
	}
	free(e->wire);
	memset(e, 0, sizeof(*e));
	e->used = 1;
	e->cache = (uint8_t)cache;
	e->edns = q->edns;
	e->counter = (uint8_t)counter;
	e->qtype = q->qtype;
	e->qname_len = (uint8_t)ldns_rdf_size(q->qname);
	memcpy(e->qname, ldns_rdf_data(q->qname), e->qname_len);
	e->gen = r->fast_gen;
	e->wire = wire;
	e->len = (uint16_t)len;
	e->stored_ms = stored;
	e->expire_ms = cache ? expire : UINT64_MAX;
	if (cache) {
		uint32_t elapsed = (uint32_t)((now - stored) / 1000);

		e->nttl = (uint16_t)n;
		for (i = 0; i < n; i++) {
			e->ttl_off[i] = offs[i];
			e->ttl0[i] = get32(wire + offs[i]) + elapsed;
		}
		if (r->ir)
			e->sets = chain_sets(r->ir, q->qname, answer);
		for (i = 0; answer && i < ldns_rr_list_rr_count(answer); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(answer, i);
			const ldns_rdf *d = ldns_rr_rdf(rr, 0);
			uint8_t fam = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? 4 :
				      ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA ? 6 : 0;

			if (!fam || !d || ldns_rdf_size(d) != (fam == 4 ? 4u : 16u))
				continue;
			if (e->naddr < FAST_ADDRS) {
				e->addrs[e->naddr].family = fam;
				memset(e->addrs[e->naddr].addr, 0, 16);
				memcpy(e->addrs[e->naddr].addr, ldns_rdf_data(d), ldns_rdf_size(d));
			}
			if (e->naddr <= FAST_ADDRS)
				e->naddr++;
		}
	}
}

/* 1 when the policy would block e's answer for client c (the slow path then sends the block answer). */
static int fast_blocked(struct gwdns_resolver *r, const struct fast_entry *e, const struct gwdns_client *c)
{
	struct pol_facts f;
	time_t now = time(NULL);
	size_t i;

	if (!r->ir || (e->wire[3] & 0x0f) != LDNS_RCODE_NOERROR)
		return 0;
	memset(&f, 0, sizeof(f));
	if (client_device(r, c, &f.device) < 0)
		return 0;
	if (e->naddr > FAST_ADDRS)
		return 1; /* too many to judge here: ldns's path decides */
	if (now != r->when_s && pol_when_at(r->ir, now, &r->when) == 0)
		r->when_s = now;
	f.when = r->when;
	f.domain_sets = e->sets;
	for (i = 0; i < e->naddr; i++) {
		f.family = e->addrs[i].family;
		memcpy(f.dst, e->addrs[i].addr, 16);
		if (blocks_all(r->ir, &f) == NOT_BLOCKED)
			return 0;
	}
	if (e->naddr == 0) {
		f.family = 4;
		f.dst[0] = 192, f.dst[2] = 2, f.dst[3] = 1;
		return blocks_all(r->ir, &f) != NOT_BLOCKED;
	}
	return 1;
}

/* Answers fq from the fast table: 1 when sent, 0 when ldns's path must. */
static int fast_answer(struct gwdns_resolver *r, const struct gwdns_client *c,
		       const struct gwdns_fastq *fq, uint64_t now)
{
	struct fast_entry *e;
	size_t limit, i;

	if (r->fast_off)
		return 0;
	{
		size_t set = fast_set(r, fq->qname, fq->qname_len, fq->qtype, fq->edns), w;

		e = NULL;
		for (w = 0; w < FAST_WAYS && !e; w++)
			if (fast_match(&r->fast[set + w], fq->qname, fq->qname_len, fq->qtype, fq->edns)) {
				e = &r->fast[set + w];
				r->fast[set].hot = w == 0;
			}
	}
	if (!e || e->gen != r->fast_gen)
		return 0;
	if (now >= e->expire_ms)
		return 0;
	limit = fq->edns ? (fq->udp_size < 512 ? 512 : fq->udp_size) : 512;
	if (limit > GWDNS_EDNS_SIZE)
		limit = GWDNS_EDNS_SIZE;
	if (c->conn == 0 && e->len > limit)
		return 0;
	if (e->cache && fast_blocked(r, e, c))
		return 0;
	memcpy(r->fbuf, e->wire, e->len);
	r->fbuf[0] = (uint8_t)(fq->id >> 8);
	r->fbuf[1] = (uint8_t)fq->id;
	r->fbuf[2] = (uint8_t)((r->fbuf[2] & ~0x01) | fq->rd);
	r->fbuf[3] = (uint8_t)((r->fbuf[3] & ~0x10) | (fq->cd << 4));
	if (e->cache) {
		uint32_t elapsed = (uint32_t)((now - e->stored_ms) / 1000);

		for (i = 0; i < e->nttl; i++)
			put32(r->fbuf + e->ttl_off[i], e->ttl0[i] > elapsed ? e->ttl0[i] - elapsed : 0);
		count(r, GWDNS_C_CACHE_HIT);
	}
	count(r, (enum gwdns_counter_id)e->counter);
	r->ops->reply(r->io, c, r->fbuf, e->len);
	return 1;
}

void gwdns_resolver_set_fast(struct gwdns_resolver *r, int on)
{
	r->fast_off = !on;
}

/*
 * Sends resp to q's client unless the policy blocks the name for that
 * device.  stored/expire: resp came from the cache entry with these times
 * (the fast path may keep it); 0/0 otherwise.
 */
static void answer_client_cached(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp,
				 uint64_t stored, uint64_t expire, uint64_t now)
{
	uint32_t device = POL_NONE, rule;
	uint8_t *keep = NULL;
	size_t klen = 0;

	if (ldns_pkt_get_rcode(resp) == LDNS_RCODE_NOERROR &&
	    (rule = device_block(r, q, ldns_pkt_answer(resp), &device)) != NOT_BLOCKED) {
		send_blocked(r, q, rule, device);
		return;
	}
	if (!expire) {
		send_response(r, q, resp);
		return;
	}
	send_response_keep(r, q, resp, &keep, &klen);
	if (keep)
		fast_store(r, q, keep, klen, GWDNS_C_ANSWER_CACHE, 1, stored, expire,
			   ldns_pkt_answer(resp), now);
}

static void answer_client(struct gwdns_resolver *r, const struct qinfo *q, ldns_pkt *resp)
{
	answer_client_cached(r, q, resp, 0, 0, 0);
}

/* p's answer (p->rcode, p->answer, p->auth) into the cache and to every waiter; frees p. */
static void release(struct gwdns_resolver *r, struct gwdns_pending *p, uint64_t now)
{
	int negative = p->rcode == LDNS_RCODE_NXDOMAIN;
	size_t i;

	if (!negative) {
		negative = 1;
		for (i = 0; i < ldns_rr_list_rr_count(p->answer); i++)
			if (ldns_rr_get_type(ldns_rr_list_rr(p->answer, i)) == p->qtype)
				negative = 0;
	}
	if (negative && p->rcode == LDNS_RCODE_NOERROR && ldns_rr_list_rr_count(p->answer) > 0) {
		/* A chain that ends in no data: cached as a positive entry of its CNAMEs. */
		gwdns_cache_put(r->cache, p->qname, p->qtype, p->qclass, p->rcode, p->answer, NULL,
				r->conf.ttl_max, r->conf.neg_ttl_max, now);
	} else {
		gwdns_cache_put(r->cache, p->qname, p->qtype, p->qclass, p->rcode,
				negative ? NULL : p->answer, p->auth, r->conf.ttl_max,
				r->conf.neg_ttl_max, now);
	}
	for (i = 0; i < p->nwait; i++) {
		ldns_pkt *resp = response_for(&p->wait[i]);
		int ok = resp != NULL;

		if (!ok)
			continue;
		ldns_pkt_set_rcode(resp, p->rcode);
		push_list(resp, LDNS_SECTION_ANSWER, p->answer, &ok);
		push_list(resp, LDNS_SECTION_AUTHORITY, p->auth, &ok);
		if (ok) {
			count(r, GWDNS_C_ANSWER_FORWARD);
			answer_client(r, &p->wait[i], resp);
		}
		ldns_pkt_free(resp);
	}
	pending_free(r, p);
}

/* A name as the policy and gwd take it: lower case, no trailing dot; -EINVAL if it is not plain. */
static int plain_name(const ldns_rdf *name, char out[GWDNS_NAME_MAX])
{
	char *s = ldns_rdf2str(name);
	int rc;

	if (!s)
		return -ENOMEM;
	rc = gwdns_name_normalize(s, 0, out);
	free(s);
	return rc;
}

/*
 * Sends LEARN for every name of the chain the policy lists, with the
 * answer's addresses: 1 when the answer is now held, 0 when nothing needs
 * gwd (no policy, no listed name, no address), -errno when a listed name
 * cannot be handed over (the answer must not leave).
 */
static int hold_for_learn(struct gwdns_resolver *r, struct gwdns_pending *p, const ldns_rdf **names,
			  size_t nnames, uint64_t now)
{
	struct gwdns_learn_addr addrs[GWDNS_LEARN_ADDRS];
	struct gwdns_learn l;
	uint32_t ttl = UINT32_MAX;
	size_t naddrs = 0, i;
	int rc;

	if (!r->ir || !r->ops->learn)
		return 0;
	for (i = 0; i < ldns_rr_list_rr_count(p->answer); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(p->answer, i);
		const ldns_rdf *d = ldns_rr_rdf(rr, 0);
		uint8_t fam = ldns_rr_get_type(rr) == LDNS_RR_TYPE_A ? 4 :
			      ldns_rr_get_type(rr) == LDNS_RR_TYPE_AAAA ? 6 : 0;

		if (ldns_rr_ttl(rr) < ttl)
			ttl = ldns_rr_ttl(rr);
		if (!fam || !d || ldns_rdf_size(d) != (fam == 4 ? 4u : 16u))
			continue;
		if (naddrs == GWDNS_LEARN_ADDRS)
			return -E2BIG; /* more than gwd takes at once: not released half-learned */
		memset(&addrs[naddrs], 0, sizeof(addrs[0]));
		addrs[naddrs].family = fam;
		memcpy(addrs[naddrs].addr, ldns_rdf_data(d), ldns_rdf_size(d));
		naddrs++;
	}
	if (naddrs == 0)
		return 0;
	if (ttl < GWDNS_LEARN_TTL_MIN)
		ttl = GWDNS_LEARN_TTL_MIN;
	if (ttl > GWDNS_LEARN_TTL_MAX)
		ttl = GWDNS_LEARN_TTL_MAX;

	for (i = 0; i < nnames; i++) {
		char *s = ldns_rdf2str(names[i]);
		uint64_t sets;

		if (!s)
			return -ENOMEM;
		sets = pol_domain_sets_of(r->ir, s);
		free(s);
		if (!sets)
			continue;
		memset(&l, 0, sizeof(l));
		if ((rc = plain_name(names[i], l.name)) < 0)
			return rc;
		l.sets = sets;
		l.ttl = ttl;
		l.naddrs = (uint16_t)naddrs;
		{
			uint8_t fam;
			uint16_t port;
			const struct gwdns_client *c = &p->wait[0].client;

			if (sa_addr((const struct sockaddr *)&c->addr, c->addrlen, &fam, l.client, &port) == 0)
				l.client_family = fam;
		}
		if (!p->hold_id)
			p->hold_id = ++r->next_hold;
		if ((rc = r->ops->learn(r->io, p->hold_id, &l, addrs)) < 0)
			return rc;
		count(r, GWDNS_C_LEARN_SENT);
		p->learn_left++;
	}
	if (!p->learn_left)
		return 0;
	p->hold_deadline_ms = now + GWDNS_HOLD_MS;
	return 1;
}

void gwdns_resolver_learned(struct gwdns_resolver *r, uint64_t hold_id, int status, uint32_t failed,
			    uint64_t now)
{
	struct gwdns_pending *p;

	for (p = r->pending; p; p = p->next)
		if (p->hold_id == hold_id)
			break;
	if (!p)
		return; /* timed out already */
	if (status < 0 || failed > 0) {
		pending_fail(r, p, GWDNS_C_SERVFAIL_ENGINE);
		return;
	}
	if (--p->learn_left == 0) {
		count(r, GWDNS_C_HOLD_RELEASED);
		release(r, p, now);
	}
}

int gwdns_resolver_set_policy(struct gwdns_resolver *r, const void *image, size_t len)
{
	struct pol_ir *ir = NULL;
	char err[256];

	if (len > 0 && pol_image_load(image, len, &ir, err, sizeof(err)) < 0)
		return -EINVAL;
	pol_ir_free(r->ir);
	r->ir = ir;
	r->fast_gen++;
	if (ir)
		count(r, GWDNS_C_POLICY_LOADED);
	return 0;
}

void gwdns_resolver_upstream_input(struct gwdns_resolver *r, struct gwdns_pending *p,
				   const struct sockaddr *from, socklen_t fromlen,
				   const uint8_t *wire, size_t len, uint64_t now)
{
	const struct gwdns_prefix *up = &r->conf.upstreams[p->upstream];
	uint8_t family, addr[16];
	uint16_t port;
	ldns_pkt *ans = NULL;
	ldns_rr *qrr;
	ldns_rr_list *answer = NULL, *auth = NULL;
	const ldns_rdf *names[9];
	size_t nnames = 0, i;
	uint8_t rcode;
	int negative;

	if (p->hold_id)
		return; /* answered already; its socket is gone (the I/O layer raced) */
	/* The source first: what does not come from the upstream asked is not looked at. */
	if (sa_addr(from, fromlen, &family, addr, &port) < 0 || family != up->family ||
	    memcmp(addr, up->addr, family == 4 ? 4 : 16) != 0 || port != up->port) {
		count(r, GWDNS_C_UPSTREAM_DROP_SOURCE);
		return;
	}
	if (len < 12) {
		count(r, GWDNS_C_UPSTREAM_DROP_MALFORMED);
		return;
	}
	if ((uint16_t)(wire[0] << 8 | wire[1]) != p->id) {
		count(r, GWDNS_C_UPSTREAM_DROP_ID);
		return;
	}
	if (ldns_wire2pkt(&ans, wire, len) != LDNS_STATUS_OK) {
		count(r, GWDNS_C_UPSTREAM_DROP_MALFORMED);
		return;
	}
	if (!ldns_pkt_qr(ans) || ldns_pkt_get_opcode(ans) != LDNS_PACKET_QUERY) {
		count(r, GWDNS_C_UPSTREAM_DROP_FLAGS);
		goto out;
	}
	if (ldns_rr_list_rr_count(ldns_pkt_question(ans)) != 1) {
		count(r, GWDNS_C_UPSTREAM_DROP_QUESTION);
		goto out;
	}
	qrr = ldns_rr_list_rr(ldns_pkt_question(ans), 0);
	if (ldns_rr_get_type(qrr) != p->qtype || ldns_rr_get_class(qrr) != p->qclass ||
	    ldns_dname_compare(ldns_rr_owner(qrr), p->qname) != 0) {
		count(r, GWDNS_C_UPSTREAM_DROP_QUESTION);
		goto out;
	}

	/* A matching answer: this try is over. */
	if (ldns_pkt_tc(ans)) {
		if (!p->tcp) {
			p->tries--; /* the TCP retry of the same upstream is the same try */
			if (pending_send(r, p, 1, now) < 0)
				pending_fail(r, p, GWDNS_C_SERVFAIL_UPSTREAM);
			goto out;
		}
		count(r, GWDNS_C_UPSTREAM_DROP_FLAGS);
		goto retry;
	}
	rcode = ldns_pkt_get_rcode(ans);
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		count(r, GWDNS_C_UPSTREAM_RCODE);
		goto retry;
	}
	count(r, GWDNS_C_UPSTREAM_ANSWER);

	answer = scrub_answer(ldns_pkt_answer(ans), p->qname, p->qtype, names, &nnames);
	if (!answer)
		goto oom;
	negative = rcode == LDNS_RCODE_NXDOMAIN;
	if (!negative) {
		negative = 1;
		for (i = 0; i < ldns_rr_list_rr_count(answer); i++)
			if (ldns_rr_get_type(ldns_rr_list_rr(answer, i)) == p->qtype)
				negative = 0;
	}
	auth = negative ? scrub_authority(ldns_pkt_authority(ans), names[nnames - 1])
			: ldns_rr_list_new();
	if (!auth)
		goto oom;
	if (rebinding(r, answer, names, nnames)) {
		event_name(r, "rebind", p->qname);
		pending_fail(r, p, GWDNS_C_SERVFAIL_REBIND);
		goto out;
	}
	p->rcode = rcode;
	p->answer = answer;
	p->auth = auth;
	answer = auth = NULL;
	if (p->io) {
		r->ops->upstream_cancel(r->io, p);
		p->io = NULL;
	}
	switch (hold_for_learn(r, p, names, nnames, now)) {
	case 0:
		release(r, p, now);
		break;
	case 1:
		count(r, GWDNS_C_HOLD);
		break; /* released by gwdns_resolver_learned, or failed by the tick */
	default:
		pending_fail(r, p, GWDNS_C_SERVFAIL_ENGINE);
		break;
	}
	goto out;

retry:
	if (pending_send(r, p, 0, now) < 0)
		pending_fail(r, p, GWDNS_C_SERVFAIL_UPSTREAM);
	goto out;
oom:
	pending_fail(r, p, GWDNS_C_SERVFAIL_OVERLOAD);
out:
	ldns_rr_list_deep_free(answer);
	ldns_rr_list_deep_free(auth);
	ldns_pkt_free(ans);
}

void gwdns_resolver_upstream_error(struct gwdns_resolver *r, struct gwdns_pending *p, int err,
				   uint64_t now)
{
	(void)err;
	count(r, GWDNS_C_UPSTREAM_ERROR);
	if (pending_send(r, p, 0, now) < 0)
		pending_fail(r, p, GWDNS_C_SERVFAIL_UPSTREAM);
}

void gwdns_resolver_tick(struct gwdns_resolver *r, uint64_t now)
{
	struct gwdns_pending *p = r->pending, *next;

	for (; p; p = next) {
		next = p->next;
		if (p->hold_id) {
			if (now >= p->hold_deadline_ms)
				pending_fail(r, p, GWDNS_C_SERVFAIL_HOLD);
			continue;
		}
		if (now < p->deadline_ms)
			continue;
		if (pending_send(r, p, 0, now) < 0)
			pending_fail(r, p, GWDNS_C_SERVFAIL_TIMEOUT);
	}
}

void gwdns_resolver_forget_conn(struct gwdns_resolver *r, uint64_t conn)
{
	struct gwdns_pending *p;
	size_t i;

	for (p = r->pending; p; p = p->next)
		for (i = 0; i < p->nwait; i++)
			if (p->wait[i].client.conn == conn)
				p->wait[i].client.conn = UINT64_MAX; /* the I/O layer knows no such connection */
}

/* ---------------------------------------------------------------- setup */

int gwdns_resolver_new(const struct gwdns_io_ops *ops, void *io, struct gwdns_resolver **ret)
{
	struct gwdns_resolver *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->ops = ops;
	r->io = io;
	r->nphash = PHASH;
	r->phash = calloc(PHASH, sizeof(*r->phash));
	r->rate = calloc(GWDNS_RATE_SLOTS, sizeof(*r->rate));
	r->fast = calloc(FAST_SLOTS, sizeof(*r->fast));
	if (!r->phash || !r->rate || !r->fast) {
		gwdns_resolver_free(r);
		return -ENOMEM;
	}
	random_bytes(r, &r->seed, sizeof(r->seed));
	*ret = r;
	return 0;
}

void gwdns_resolver_free(struct gwdns_resolver *r)
{
	if (!r)
		return;
	while (r->pending)
		pending_free(r, r->pending);
	gwdns_zone_free(r->zone);
	gwdns_cache_free(r->cache);
	gwdns_conf_clear(&r->conf);
	pol_ir_free(r->ir);
	free(r->clients);
	if (r->fast)
		for (size_t i = 0; i < FAST_SLOTS; i++)
			free(r->fast[i].wire);
	free(r->fast);
	free(r->recs);
	free(r->phash);
	free(r->rate);
	free(r);
}

static int same_upstreams(const struct gwdns_conf *a, const struct gwdns_conf *b)
{
	return a->n_upstreams == b->n_upstreams &&
	       memcmp(a->upstreams, b->upstreams, a->n_upstreams * sizeof(a->upstreams[0])) == 0;
}

/* What decides whether an upstream answer may be kept (the rebinding
 * check): the flag, the household's prefixes, the names allowed to point
 * inside.  When it changes, what the cache holds was judged by other
 * rules, so the cache goes. */
static int same_rebinding(const struct gwdns_conf *a, const struct gwdns_conf *b)
{
	return (a->flags & GWDNS_CONF_REBIND) == (b->flags & GWDNS_CONF_REBIND) &&
	       a->n_clients == b->n_clients &&
	       memcmp(a->clients, b->clients, a->n_clients * sizeof(a->clients[0])) == 0 &&
	       a->n_allow == b->n_allow &&
	       (!a->n_allow || memcmp(a->allow, b->allow, a->n_allow * sizeof(a->allow[0])) == 0);
}

int gwdns_resolver_configure(struct gwdns_resolver *r, struct gwdns_conf *c)
{
	struct gwdns_zone *z = NULL;
	struct gwdns_cache *cache = NULL;
	int rr;

	rr = gwdns_zone_new(c, r->recs, r->nrecs, r->serial + 1, &z);
	if (rr < 0)
		goto fail;
	if (!r->cache || !r->configured || !same_upstreams(&r->conf, c) ||
	    !same_rebinding(&r->conf, c) || r->conf.cache_bytes != c->cache_bytes) {
		uint32_t seed;

		random_bytes(r, &seed, sizeof(seed));
		rr = gwdns_cache_new(c->cache_bytes, seed, &cache);
		if (rr < 0)
			goto fail;
	}
	/* Pending queries belong to the old upstreams' answers: they fail now. */
	if (r->configured && !same_upstreams(&r->conf, c))
		while (r->pending)
			pending_fail(r, r->pending, GWDNS_C_SERVFAIL_UPSTREAM);
	if (cache) {
		gwdns_cache_free(r->cache);
		r->cache = cache;
	}
	gwdns_zone_free(r->zone);
	r->zone = z;
	r->serial++;
	gwdns_conf_clear(&r->conf);
	r->conf = *c;
	c->allow = NULL;
	c->n_allow = 0;
	r->configured = 1;
	r->fast_gen++;
	return 0;
fail:
	gwdns_zone_free(z);
	gwdns_conf_clear(c);
	return rr;
}

int gwdns_resolver_set_zone(struct gwdns_resolver *r, const struct gwdns_zrec *recs, size_t n)
{
	struct gwdns_zone *z;
	struct gwdns_zrec *copy = NULL;
	int rr;

	if (!r->configured)
		return -ENOENT;
	if (n > 0) {
		copy = malloc(n * sizeof(*copy));
		if (!copy)
			return -ENOMEM;
		memcpy(copy, recs, n * sizeof(*copy));
	}
	rr = gwdns_zone_new(&r->conf, copy, n, r->serial + 1, &z);
	if (rr < 0) {
		free(copy);
		return rr;
	}
	gwdns_zone_free(r->zone);
	r->zone = z;
	r->serial++;
	free(r->recs);
	r->recs = copy;
	r->nrecs = n;
	r->fast_gen++;
	return 0;
}

void gwdns_resolver_counters(const struct gwdns_resolver *r, uint64_t out[GWDNS_C_COUNT])
{
	struct gwdns_cache_stats st = { 0 };

	memcpy(out, r->ctr, sizeof(r->ctr));
	if (r->cache)
		gwdns_cache_stats(r->cache, &st);
	out[GWDNS_C_CACHE_INSERT] = st.inserts;
	out[GWDNS_C_CACHE_EVICT] = st.evictions;
	out[GWDNS_C_CACHE_BYTES] = st.bytes;
	out[GWDNS_C_CACHE_ENTRIES] = st.entries;
	out[GWDNS_C_PENDING] = r->npending;
}

void gwdns_resolver_count(struct gwdns_resolver *r, enum gwdns_counter_id id)
{
	if (id < GWDNS_C_COUNT)
		r->ctr[id]++;
}

const char *gwdns_resolver_zone(const struct gwdns_resolver *r)
{
	return r->configured ? r->conf.zone : NULL;
}

void gwdns_pending_set_io(struct gwdns_pending *p, void *io)
{
	p->io = io;
}

void *gwdns_pending_io(const struct gwdns_pending *p)
{
	return p->io;
}
